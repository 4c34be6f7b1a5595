"""Serve PainPath from several app processes behind nginx, sharing one store.

Usage (``make serve`` runs the first line)::

    python deploy/serve.py [--processes 2] [--port 8600] [--first-port 8601]
        [--address 127.0.0.1] [--run-dir .run/serve] [--secure-cookie]

Starts ``--processes`` ``streamlit run dashboard.py`` processes on 127.0.0.1, ports
``--first-port``, ``--first-port + 1``, …, all on the same store (``PAINPATH_DATA_DIR``,
see analytics/store.py "Several processes") and the same cookie secret (a random one for
this run, so that a browser moved to another process keeps a valid XSRF token), then
Debian's nginx (``PAINPATH_NGINX``, default /usr/sbin/nginx) on ``--address:--port`` with
the configuration rendered from deploy/nginx.conf.template into ``--run-dir``, where
nginx also keeps its pid, logs and temporary files.  Prints the address and waits;
Ctrl-C (or SIGTERM) stops nginx and the app processes.

nginx sends the browsers' first requests to the processes in turn (round robin) and pins
each browser to the process that answered with a cookie (``painpath_affinity``: the
process's number; see the template), websocket included.  The same functions start the
deployment for the load test (``benchmarks/load_test.py --proxy``) and the proxy tests
(``tests/e2e/test_proxy.py``).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics import settings  # noqa: E402

TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
DEFAULT_RUN_DIR = ROOT / ".run" / "serve"
START_TIMEOUT_S = 90.0


def render_config(*, listen: str, backend_ports: Sequence[int], run_dir: Path,
                  max_body_mb: int, secure_cookie: bool = False,
                  template: Path = TEMPLATE) -> str:
    """The nginx configuration: ``template`` with its ``@…@`` placeholders filled in
    (``listen``: ``address:port``; per app process a ``server 127.0.0.1:<port>;`` line of
    the pool and its number, from 1, for the affinity cookie; ``secure_cookie`` adds
    ``Secure`` to the cookie, for a front that speaks HTTPS)."""
    if not backend_ports:
        raise ValueError("at least one app process is needed")
    addresses = [f"127.0.0.1:{int(p)}" for p in backend_ports]
    backends = "\n".join(f"        server {a} max_fails=1 fail_timeout=10s;" for a in addresses)
    # process n (from 1) <-> its address: the affinity cookie holds n
    pinned = "\n".join(f'        "{n}" {a};' for n, a in enumerate(addresses, start=1))
    # $upstream_addr lists every process tried ("a : b" after a failover): the last answered
    served = "\n".join(f'        "~(^|[^0-9]){re.escape(a)}$" {n};'
                       for n, a in enumerate(addresses, start=1))
    text = template.read_text(encoding="utf-8")
    for key, value in {"@LISTEN@": listen, "@BACKENDS@": backends, "@PINNED@": pinned,
                       "@SERVED@": served, "@RUN_DIR@": str(run_dir),
                       "@MAX_BODY_MB@": str(int(max_body_mb)),
                       "@COOKIE_FLAGS@": "; Secure" if secure_cookie else ""}.items():
        text = text.replace(key, value)
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"placeholder(s) of the nginx template not filled in: {left}")
    return text


def healthy(url: str) -> bool:
    """True when ``url``'s Streamlit health endpoint answers ``ok``."""
    try:
        with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
            return response.read().decode().strip() == "ok"
    except OSError:
        return False


def port_free(address: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


@dataclass
class Deployment:
    """A running deployment: the front's URL, the app processes and nginx."""

    url: str
    backend_urls: list[str]
    run_dir: Path
    apps: list[subprocess.Popen] = field(default_factory=list)
    nginx: subprocess.Popen | None = None

    @property
    def access_log(self) -> Path:
        """nginx's access log: one line per request with the process that served it."""
        return self.run_dir / "access.log"

    def app_pids(self) -> list[int]:
        return [p.pid for p in self.apps]


def _stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until(check, what: str, processes: Sequence[subprocess.Popen],
                logs: Sequence[Path]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while not check():
        ended = [p for p in processes if p.poll() is not None]
        if ended or time.monotonic() > deadline:
            tails = "\n".join(f"--- {log}\n{log.read_text(errors='replace')[-2000:]}"
                              for log in logs if log.exists())
            raise RuntimeError(f"{what} did not start:\n{tails}")
        time.sleep(0.2)


@contextmanager
def deployment(processes: int = 2, *, port: int = 8600, first_port: int = 8601,
               address: str = "127.0.0.1", run_dir: Path = DEFAULT_RUN_DIR,
               data_dir: Path | None = None, secure_cookie: bool = False,
               backend_ports: Sequence[int] | None = None,
               env: dict[str, str] | None = None) -> Iterator[Deployment]:
    """Start ``processes`` app processes and nginx in front of them; stop them all when
    the block ends.  ``backend_ports`` overrides ``first_port`` (tests pick free ports);
    ``data_dir`` is the shared store (default: the setting); ``env`` is added to the app
    processes' environment."""
    nginx = settings.nginx_path()
    if not nginx.exists():
        raise RuntimeError(f"nginx not found at {nginx}: install Debian's nginx "
                           "(apt-get install nginx; `make serve` does it as root) or set "
                           "PAINPATH_NGINX")
    ports = list(backend_ports or range(first_port, first_port + processes))
    busy = [p for p in [*ports, port] if not port_free("127.0.0.1" if p in ports else address, p)]
    if busy:
        raise RuntimeError(f"port(s) {', '.join(map(str, busy))} already in use")
    run_dir = Path(run_dir).resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    store_dir = Path(data_dir) if data_dir is not None else settings.data_dir()
    app_env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMLIT_")}
    app_env.update(env or {})
    app_env[settings.DATA_DIR_ENV] = str(store_dir)
    # one cookie secret for every process: a browser moved to another process (its first
    # one stopped) keeps a valid XSRF token
    app_env["STREAMLIT_SERVER_COOKIE_SECRET"] = secrets.token_hex(32)
    max_body_mb = math.ceil(settings.max_upload_bytes() / 2**20) + 10  # + multipart framing
    conf = run_dir / "nginx.conf"
    conf.write_text(render_config(listen=f"{address}:{port}", backend_ports=ports,
                                  run_dir=run_dir, max_body_mb=max_body_mb,
                                  secure_cookie=secure_cookie), encoding="utf-8")
    front = f"http://{'127.0.0.1' if address in ('0.0.0.0', '') else address}:{port}"
    deployed = Deployment(front, [f"http://127.0.0.1:{p}" for p in ports], run_dir)
    with ExitStack() as stack:
        for number, app_port in enumerate(ports, start=1):
            log = run_dir / f"app-{number}.log"
            with open(log, "wb") as handle:
                process = subprocess.Popen(
                    [sys.executable, "-m", "streamlit", "run", "dashboard.py",
                     "--server.address", "127.0.0.1", "--server.port", str(app_port),
                     "--server.headless", "true", "--browser.gatherUsageStats", "false",
                     "--server.fileWatcherType", "none"],
                    cwd=ROOT, env=app_env, stdout=handle, stderr=subprocess.STDOUT)
            deployed.apps.append(process)
            stack.callback(_stop, process)
        command = [str(nginx), "-p", str(run_dir), "-e", str(run_dir / "error.log"),
                   "-c", str(conf)]
        checked = subprocess.run([*command, "-t", "-q"], capture_output=True, text=True)
        if checked.returncode != 0:
            raise RuntimeError(f"nginx refused {conf}: {checked.stderr.strip()}")
        deployed.nginx = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL)
        stack.callback(_stop, deployed.nginx, signal.SIGQUIT)  # graceful: finish requests
        logs = [run_dir / f"app-{n}.log" for n in range(1, len(ports) + 1)]
        logs.append(run_dir / "error.log")
        everything = [*deployed.apps, deployed.nginx]
        for url in deployed.backend_urls:
            _wait_until(lambda u=url: healthy(u), f"the app process at {url}", everything, logs)
        _wait_until(lambda: healthy(front), f"nginx at {front}", everything, logs)
        yield deployed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--processes", type=int, default=2,
                        help="app processes (default 2; about one per core)")
    parser.add_argument("--port", type=int, default=8600, help="nginx's port (default 8600)")
    parser.add_argument("--first-port", type=int, default=8601,
                        help="the first app process's port (default 8601)")
    parser.add_argument("--address", default="127.0.0.1",
                        help="nginx's address (default 127.0.0.1: this computer only)")
    parser.add_argument("--run-dir", type=Path, default=DEFAULT_RUN_DIR,
                        help="nginx's configuration, pid, logs and temporary files")
    parser.add_argument("--secure-cookie", action="store_true",
                        help="mark the affinity cookie Secure (a front that speaks HTTPS)")
    args = parser.parse_args(argv)
    if not 1 <= args.processes <= 32:
        parser.error("--processes: 1 to 32")
    stop = {"now": False}

    def ask_stop(signum, frame) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, ask_stop)
    signal.signal(signal.SIGINT, ask_stop)
    try:
        with deployment(args.processes, port=args.port, first_port=args.first_port,
                        address=args.address, run_dir=args.run_dir,
                        secure_cookie=args.secure_cookie) as deployed:
            print(f"PainPath: {deployed.url} -> {args.processes} app processes "
                  f"({', '.join(deployed.backend_urls)}), store {settings.data_dir()}; "
                  f"logs in {deployed.run_dir}.  Ctrl-C stops.", flush=True)
            while not stop["now"]:
                ended = [p for p in [*deployed.apps, deployed.nginx] if p.poll() is not None]
                if ended:
                    print(f"a process ended (exit {ended[0].returncode}); stopping; see "
                          f"{deployed.run_dir}", file=sys.stderr)
                    return 1
                time.sleep(0.5)
    except RuntimeError as exc:
        print(f"make serve: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Several PainPath processes on one store (analytics/store.py, "Several processes").

Each test runs long-lived child processes (tests/store_process.py), each holding its own
``Store`` opened before the others write, as several app processes behind nginx do:

- an upload saved through process A is visible in process B at once (its next call), and
  A sees B's; a write from a third process is seen by both;
- readers never fail and never see a half-written version while another process writes
  version after version (every load holds exactly the rows the catalog gave it);
- two processes adding overlapping uploads to one dataset at once end with the union,
  each row once (writers serialise across processes);
- two processes starting on an empty store create one sample dataset between them;
- a generation token left stale by a crash between commit and publish is repaired by the
  next open.

The same across real ``streamlit run`` processes behind nginx: tests/e2e/test_proxy.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from analytics.ingest import ingest
from analytics.store import GENERATION_FILENAME, Store
from sample_data.generate import generate_events, write_csv
from tests.store_process import fingerprint

ROOT = Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "store_process.py"
SAMPLE_CSV = ROOT / "sample_data" / "painpath_sample.csv"
TIMEOUT = 120

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock is POSIX")


class Process:
    """tests/store_process.py in a child process: one JSON command, one JSON answer."""

    def __init__(self, data_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(data_dir)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        assert self._line() == "READY", self.proc.stderr.read()

    def _line(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the process ended: {self.proc.stderr.read()}")
        return line.strip()

    def send(self, **command) -> None:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def receive(self):
        answer = json.loads(self._line())
        if isinstance(answer, dict) and "error" in answer:
            raise AssertionError(answer["error"])
        return answer

    def ask(self, **command):
        self.send(**command)
        return self.receive()

    def close(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=TIMEOUT)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.stdout.close()
            self.proc.stderr.close()


@pytest.fixture
def processes(tmp_path: Path):
    """A factory of child processes on ``tmp_path / "store"``, all closed at the end."""
    started: list[Process] = []

    def start() -> Process:
        started.append(Process(tmp_path / "store"))
        return started[-1]

    yield start
    for process in started:
        process.close()


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Canonical event files: a clinic, an upload of other patients, overlapping halves."""
    tmp = tmp_path_factory.mktemp("mp_uploads")
    clinic = ingest([write_csv(generate_events(patients=300, seed=5), tmp / "a.csv")]).events
    other = ingest([write_csv(generate_events(patients=600, seed=6), tmp / "b.csv")]).events
    other["patient_id"] = ("N" + other["patient_id"].astype("string")).astype(
        clinic["patient_id"].dtype)
    half = len(other) // 2
    files = {
        "clinic": clinic, "other": other,
        "first": pd.concat([other.iloc[: half + 500], clinic.iloc[:100]], ignore_index=True),
        "second": pd.concat([clinic.iloc[50:150], other.iloc[half - 500:]], ignore_index=True),
    }
    for i in range(6):  # small disjoint adds for the write loop
        files[f"part{i}"] = other.iloc[i * 200:(i + 1) * 200]
    out = {}
    for name, frame in files.items():
        out[name] = tmp / f"{name}.parquet"
        frame.to_parquet(out[name])
    return out


def test_an_upload_through_one_process_is_seen_by_the_others(processes, uploads) -> None:
    a, b = processes(), processes()  # both opened before anything was written
    assert a.ask(op="list") == [] and b.ask(op="list") == []
    clinic = pd.read_parquet(uploads["clinic"])
    did = a.ask(op="create", name="Clinic", parquet=str(uploads["clinic"]))
    # B, which had read the empty catalog, sees the new dataset on its next call
    assert b.ask(op="list") == [[did, "Clinic", 1, len(clinic)]]
    assert b.ask(op="load", id=did, version=1) == {"rows": len(clinic),
                                                   "fingerprint": fingerprint(clinic)}
    # and A sees what B adds
    added = b.ask(op="add", id=did, parquet=str(uploads["other"]))
    other = pd.read_parquet(uploads["other"])
    assert added == len(other)
    both = pd.concat([clinic, other], ignore_index=True)
    assert a.ask(op="list") == [[did, "Clinic", 2, len(both)]]
    assert a.ask(op="load", id=did, version=None) == {"rows": len(both),
                                                      "fingerprint": fingerprint(both)}
    # the superseded version stays readable for the readers that listed it
    assert a.ask(op="load", id=did, version=1)["rows"] == len(clinic)
    # a third process (this one) sees the same and its write reaches both
    with Store(b.proc.args[-1]) as here:
        assert here.dataset_version(did) == 2
        here.rename_dataset(did, "North clinic")
    assert a.ask(op="list")[0][1:3] == ["North clinic", 3]
    assert b.ask(op="list")[0][1:3] == ["North clinic", 3]


def test_readers_never_fail_while_another_process_writes(processes, uploads) -> None:
    writer, reader_1, reader_2 = processes(), processes(), processes()
    did = writer.ask(op="create", name="Clinic", parquet=str(uploads["clinic"]))
    for reader in (reader_1, reader_2):
        reader.send(op="read_until", id=did, seconds=12)
    written = [writer.ask(op="add", id=did, parquet=str(uploads[f"part{i}"]))
               for i in range(6)]
    assert written == [200] * 6
    for reader in (reader_1, reader_2):
        seen = reader.receive()
        assert seen["errors"] == []
        assert seen["inconsistent"] == []
        assert seen["reads"] > 20
        assert seen["versions"] == sorted(seen["versions"])  # never back in time
        assert len(seen["versions"]) >= 2  # it saw writes happen while it read
    final = reader_1.ask(op="list")[0]
    assert final[2:] == [7, len(pd.read_parquet(uploads["clinic"])) + 1200]


def test_two_processes_adding_to_one_dataset_at_once_end_with_the_union(
        processes, uploads) -> None:
    a, b = processes(), processes()
    did = a.ask(op="create", name="Clinic", parquet=str(uploads["clinic"]))
    a.send(op="add", id=did, parquet=str(uploads["first"]))
    b.send(op="add", id=did, parquet=str(uploads["second"]))
    added = [a.receive(), b.receive()]
    clinic, other = pd.read_parquet(uploads["clinic"]), pd.read_parquet(uploads["other"])
    n, half = len(other), len(other) // 2
    # whichever commits first adds all its new rows, the other only those not added yet
    # (the 1,000 rows both carry, and the clinic rows, count once)
    assert added in ([half + 500, n - half - 500], [half - 500, n - half + 500])
    union = pd.concat([clinic, other], ignore_index=True)
    assert a.ask(op="load", id=did, version=None) == {"rows": len(union),
                                                      "fingerprint": fingerprint(union)}
    assert b.ask(op="list")[0][2:] == [3, len(union)]


def test_two_processes_starting_on_an_empty_store_create_one_sample(processes) -> None:
    a, b = processes(), processes()
    a.send(op="sample", csv=str(SAMPLE_CSV))
    b.send(op="sample", csv=str(SAMPLE_CSV))
    assert a.receive() == b.receive()
    assert [row[1] for row in a.ask(op="list")] == ["Sample clinic"]


def test_a_stale_generation_token_is_repaired_by_the_next_open(tmp_path: Path,
                                                               uploads) -> None:
    """A crash after the catalog commit but before the token was published leaves the old
    token: readers keep their catalog until the next open (or write) publishes it."""
    with Store(tmp_path) as store:
        store.create_dataset("Clinic", pd.read_parquet(uploads["clinic"]), {}, [])
        token_file = tmp_path / GENERATION_FILENAME
        old = token_file.read_text()
        reader = Store(tmp_path)
        assert reader.list_datasets()["name"].tolist() == ["Clinic"]
        store.rename_dataset(1, "North")
        token_file.write_text(old)  # as if the writer died before publishing
        assert reader.list_datasets()["name"].tolist() == ["Clinic"]  # stale
        with Store(tmp_path):  # an open repairs the token
            assert token_file.read_text() != old
        assert reader.list_datasets()["name"].tolist() == ["North"]
        reader.close()


def test_threads_and_processes_at_once(processes, uploads, tmp_path: Path) -> None:
    """Reads from threads of this process while another process writes: no error."""
    writer = processes()
    did = writer.ask(op="create", name="Clinic", parquet=str(uploads["clinic"]))
    errors: list[BaseException] = []
    stop = threading.Event()
    with Store(tmp_path / "store") as store:
        def read() -> None:
            while not stop.is_set():
                try:
                    listed = store.list_datasets().set_index("dataset_id")
                    version = int(listed.loc[did, "version"])
                    rows = len(store.load_events(did, version))
                    assert rows == int(listed.loc[did, "events"])
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)
                    return

        threads = [threading.Thread(target=read) for _ in range(3)]
        for thread in threads:
            thread.start()
        try:
            for i in range(3):
                writer.ask(op="add", id=did, parquet=str(uploads[f"part{i}"]))
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=TIMEOUT)
        assert errors == []
        assert store.dataset_version(did) == 4

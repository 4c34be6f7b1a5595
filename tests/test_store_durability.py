"""Durability of the DuckDB store (analytics/store.py) and of the app's store path (ui/data.py).

- Kill test: a child process (tests/store_writer.py) writes a large upload (~290k canonical
  events, ingested from a generated export) into a store that already holds "Clinic A"; the
  test SIGKILLs it at seeded points of the write (inside the transaction, during COMMIT,
  during the checkpoint of the close) and then opens the store: it must open cleanly and hold
  exactly the previous state or exactly the complete new one.
- Concurrency: two threads adding overlapping uploads to one dataset (shared Store, two
  Stores on one file, and through ui.data.with_store) end with the union, each row once;
  a second process gets a one-line StoreInUseError.
- Damaged or missing file: StoreDamagedError naming the file (never a raw DuckDB error),
  move_aside keeps the file, a missing file gives a new empty store; in the app, the error
  is shown with a button that moves the file aside and starts a new store.
"""

from __future__ import annotations

import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import schema
from analytics.ingest import ingest
from analytics.store import (
    DB_FILENAME,
    SCHEMA_VERSION,
    Store,
    StoreDamagedError,
    StoreError,
    StoreInUseError,
    move_aside,
)
from sample_data.generate import generate_events, write_csv
from tests.store_writer import write_upload

ROOT = Path(__file__).resolve().parents[1]
WRITER = ROOT / "tests" / "store_writer.py"
CHILD_TIMEOUT = 60

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


# ---- fixtures: a baseline store and a large upload -------------------------------------
@dataclass(frozen=True)
class Uploads:
    base_dir: Path  # a closed store holding "Clinic A" (the baseline events)
    base: pd.DataFrame  # Clinic A's canonical events
    new: pd.DataFrame  # the large upload: events of other patients than Clinic A's
    overlap: int  # rows of Clinic A repeated at the head of the "add" upload
    folder: dict[str, Path]  # action -> the upload folder the writer reads


@pytest.fixture(scope="module")
def uploads(tmp_path_factory: pytest.TempPathFactory) -> Uploads:
    tmp = tmp_path_factory.mktemp("uploads")
    base_csv = write_csv(generate_events(patients=2_000, seed=11), tmp / "clinic_a.csv")
    new_csv = write_csv(generate_events(patients=20_000, seed=22), tmp / "upload.csv")
    clinic_a, upload = ingest([base_csv]), ingest([new_csv])
    base, new, new_diagnoses = clinic_a.events, upload.events, upload.diagnoses
    # other patients than Clinic A's: no row of the upload equals a row of the baseline
    for frame in (new, new_diagnoses):
        frame["patient_id"] = ("N" + frame["patient_id"].astype("string")).astype(
            base["patient_id"].dtype)
    assert len(new) > 250_000 and len(new_diagnoses) > 0
    assert not new.duplicated().any() and not base.duplicated().any()
    overlap = 5_000
    add = pd.concat([base.sample(overlap, random_state=3), new], ignore_index=True)
    add_diagnoses = pd.concat([clinic_a.diagnoses, new_diagnoses], ignore_index=True)
    source = upload.population_source
    new_folder = write_upload(tmp / "new", new, new_diagnoses, upload.extract_date, source)
    folder = {"create": new_folder, "replace": new_folder,
              "add": write_upload(tmp / "add", add, add_diagnoses, upload.extract_date,
                                  source)}
    base_dir = tmp / "base"
    with Store(base_dir) as store:
        store.create_dataset("Clinic A", base, {"rows_read": len(base)}, ["clinic_a.csv"],
                             diagnoses=clinic_a.diagnoses, extract_date=clinic_a.extract_date,
                             population_source=clinic_a.population_source)
    return Uploads(base_dir, base, new, overlap, folder)


def fingerprint(frame: pd.DataFrame) -> int:
    """Order-independent content hash of a canonical frame."""
    hashed = pd.util.hash_pandas_object(schema.conform(frame), index=False)
    return int(hashed.to_numpy(np.uint64).sum(dtype=np.uint64))


def snapshot(data_dir: Path) -> dict[str, tuple]:
    """Open the store and describe it: name -> (events, patients, version, uploads,
    source_files, content fingerprint, diagnoses, extract date, population source),
    checking that every dataset's recorded counts equal the rows actually stored."""
    with Store(data_dir) as store:
        listed = store.list_datasets()
        out = {}
        for row in listed.itertuples():
            events = store.load_events(row.dataset_id)
            assert len(events) == row.events, (row.name, row.events, len(events))
            assert events["patient_id"].nunique() == row.patients
            out[row.name] = (row.events, row.patients, row.version,
                             len(store.ingest_reports(row.dataset_id)), row.source_files,
                             fingerprint(events), len(store.load_diagnoses(row.dataset_id)),
                             str(row.extract_date), row.population_source)
    return out


# ---- the kill test ----------------------------------------------------------------------
class Writer:
    """tests/store_writer.py in a child process, its marker lines timestamped by a thread."""

    def __init__(self, data_dir: Path, action: str, upload: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(WRITER), str(data_dir), action, str(upload)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
        self.markers: queue.Queue[tuple[str, float]] = queue.Queue()
        self.seen: list[tuple[str, float]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.markers.put((line.split()[0], time.monotonic()))
        self.markers.put(("EOF", time.monotonic()))

    def wait_for(self, marker: str) -> float:
        """Block until the marker line arrives; its arrival time.  The markers before the
        write (READY) skip the BEGIN/COMMIT of opening the store."""
        ready = any(m == "READY" for m, _ in self.seen)
        while True:
            name, at = self.markers.get(timeout=CHILD_TIMEOUT)
            self.seen.append((name, at))
            if name == "EOF":
                raise AssertionError(f"writer ended before {marker}: {self.stderr()}")
            if name == "READY":
                ready = True
            if name == marker and (ready or marker == "READY"):
                return at

    def kill(self) -> int:
        self.proc.send_signal(signal.SIGKILL)
        return self.finish()

    def finish(self) -> int:
        code = self.proc.wait(timeout=CHILD_TIMEOUT)
        self._reader.join(timeout=CHILD_TIMEOUT)
        while not self.markers.empty():
            self.seen.append(self.markers.get())
        return code

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.poll() is not None else ""

    def phases(self) -> list[str]:
        names = [m for m, _ in self.seen]
        return names[names.index("READY"):] if "READY" in names else names


def calibrate(work: Path, action: str, upload: Path) -> tuple[dict[str, float], dict]:
    """An uninterrupted run: the durations of its phases and the resulting state."""
    writer = Writer(work, action, upload)
    times = {m: writer.wait_for(m) for m in ("READY", "BEGIN", "COMMIT", "DONE", "CLOSED")}
    assert writer.finish() == 0, writer.stderr()
    durations = {
        "transaction": times["COMMIT"] - times["BEGIN"],
        "commit": times["DONE"] - times["COMMIT"],
        "checkpoint": times["CLOSED"] - times["DONE"],
    }
    return durations, snapshot(work)


# phase the kill aims at -> the marker it waits for
AIM = {"transaction": "BEGIN", "commit": "COMMIT", "checkpoint": "DONE"}
KILLS = {
    "create": ["transaction", "transaction", "commit", "checkpoint"],
    "add": ["transaction", "commit", "checkpoint"],
    "replace": ["transaction", "checkpoint"],
}


@pytest.mark.parametrize("action", ["create", "add", "replace"])
def test_sigkill_during_a_large_write_leaves_the_old_or_the_whole_new_state(
        uploads: Uploads, action: str, tmp_path: Path) -> None:
    before = snapshot(uploads.base_dir)
    base_n = len(uploads.base)
    new_n = len(uploads.new)
    assert list(before) == ["Clinic A"]
    assert before["Clinic A"][:5] == (base_n, uploads.base["patient_id"].nunique(), 1, 1,
                                      "clinic_a.csv")

    calib_dir = tmp_path / "calibration"
    shutil.copytree(uploads.base_dir, calib_dir)
    durations, after = calibrate(calib_dir, action, uploads.folder[action])
    # the complete new state, written out
    if action == "create":
        assert list(after) == ["Clinic A", "Upload"]
        assert after["Clinic A"] == before["Clinic A"]
        assert after["Upload"][:5] == (new_n, uploads.new["patient_id"].nunique(), 1, 1,
                                       "upload.csv")
    elif action == "add":  # the 5,000 repeated Clinic A rows are not added again
        assert list(after) == ["Clinic A"]
        assert after["Clinic A"][:5] == (
            base_n + new_n,
            uploads.base["patient_id"].nunique() + uploads.new["patient_id"].nunique(),
            2, 2, "clinic_a.csv; upload.csv")
    else:
        assert list(after) == ["Clinic A"]
        assert after["Clinic A"][:5] == (new_n, uploads.new["patient_id"].nunique(), 2, 2,
                                         "upload.csv")

    rng = random.Random(f"painpath-kill-{action}")
    outcomes = []
    for i, aim in enumerate(KILLS[action]):
        work = tmp_path / f"kill{i}"
        shutil.copytree(uploads.base_dir, work)
        writer = Writer(work, action, uploads.folder[action])
        writer.wait_for("READY")
        writer.wait_for(AIM[aim])
        time.sleep(rng.uniform(0.0, 0.9) * durations[aim])
        code = writer.kill()
        phases = writer.phases()
        committed = "DONE" in phases
        assert code in (-signal.SIGKILL, 0), writer.stderr()

        state = snapshot(work)  # opens cleanly: DuckDB replays its WAL
        assert state in (before, after), f"kill {i} ({aim}, seen {phases}): partial state {state}"
        if committed:  # the write had returned: it must have survived the kill
            assert state == after, f"kill {i} ({aim}, seen {phases}) lost a committed write"
        stored = sum(v[0] for v in state.values())
        assert stored in ({base_n, base_n + new_n} if action != "replace" else {base_n, new_n})
        outcomes.append((aim, code == -signal.SIGKILL and "CLOSED" not in phases,
                         "new" if state == after else "old"))
    print(action, durations, outcomes)
    # the kills did interrupt the writer (else the test proves nothing)
    assert any(interrupted for _, interrupted, _ in outcomes), outcomes


# ---- concurrency -------------------------------------------------------------------------
def _two_uploads(uploads: Uploads) -> tuple[pd.DataFrame, pd.DataFrame, int]:
    """Two overlapping uploads of new rows (and some Clinic A rows); the size of their
    union of new rows."""
    new = uploads.new.iloc[:60_000]
    first = pd.concat([new.iloc[:40_000], uploads.base.iloc[:1_000]], ignore_index=True)
    second = pd.concat([uploads.base.iloc[500:1_500], new.iloc[20_000:60_000]],
                       ignore_index=True)
    return first, second, 60_000  # new rows 0..39,999 ∪ 20,000..59,999


def _race(*calls) -> list:
    """Run the calls in threads released together; re-raise the first error."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, call) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=CHILD_TIMEOUT)
    if errors:
        raise errors[0]
    return results


def _check_union(store: Store, dataset_id: int, base: pd.DataFrame, first: pd.DataFrame,
                 second: pd.DataFrame, new_rows: int, added: list[int]) -> None:
    stored = store.load_events(dataset_id)
    expected = pd.concat([base, first, second], ignore_index=True).drop_duplicates()
    assert len(expected) == len(base) + new_rows
    assert len(stored) == len(base) + new_rows
    assert not stored.duplicated().any()
    assert fingerprint(stored) == fingerprint(expected)
    # whichever add commits first inserts its 40,000 new rows, the other the 20,000 left
    assert sorted(added) == [20_000, 40_000]
    meta = store.get_dataset(dataset_id)
    assert meta["events"] == len(base) + new_rows
    assert meta["version"] == 3  # create, then two adds that each inserted rows
    assert [r["rows_added"] for r in store.ingest_reports(dataset_id)][0] == len(base)


@pytest.mark.parametrize("round_", range(3))
def test_two_threads_adding_to_one_dataset_on_a_shared_store(
        uploads: Uploads, tmp_path: Path, round_: int) -> None:
    first, second, new_rows = _two_uploads(uploads)
    with Store(tmp_path) as store:
        did = store.create_dataset("Clinic A", uploads.base, {}, ["clinic_a.csv"])
        calls = [lambda: store.add_to_dataset(did, first, {}, ["one.csv"]),
                 lambda: store.add_to_dataset(did, second, {}, ["two.csv"])]
        added = _race(*(calls if round_ % 2 else calls[::-1]))
        _check_union(store, did, uploads.base, first, second, new_rows, added)
        assert store.get_dataset(did)["source_files"] in (
            ["clinic_a.csv", "one.csv", "two.csv"], ["clinic_a.csv", "two.csv", "one.csv"])


def test_two_store_objects_on_one_file_in_one_process(uploads: Uploads, tmp_path: Path) -> None:
    """DuckDB: a second connect to the same path in the same process is a new connection to
    the same database instance (no lock error); both see each other's commits, and the
    Store write lock is per file, so their writes do not interleave either."""
    first, second, new_rows = _two_uploads(uploads)
    with Store(tmp_path) as one, Store(tmp_path) as two:
        did = one.create_dataset("Clinic A", uploads.base, {}, ["clinic_a.csv"])
        assert two.find_dataset("Clinic A") == did
        added = _race(lambda: one.add_to_dataset(did, first, {}, ["one.csv"]),
                      lambda: two.add_to_dataset(did, second, {}, ["two.csv"]))
        _check_union(one, did, uploads.base, first, second, new_rows, added)
        assert one.list_datasets().equals(two.list_datasets())


def test_two_threads_adding_through_the_app_lock(uploads: Uploads, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import streamlit as st

    from ui import data

    monkeypatch.setenv("PAINPATH_DATA_DIR", str(tmp_path))
    st.cache_resource.clear()
    try:
        first, second, new_rows = _two_uploads(uploads)
        sample = data.with_store(Store.find_dataset, "Sample clinic")
        base = data.with_store(Store.load_events, sample)
        added = _race(
            lambda: data.with_store(Store.add_to_dataset, sample, first, {}, ["one.csv"]),
            lambda: data.with_store(Store.add_to_dataset, sample, second, {}, ["two.csv"]))
        # first and second also carry Clinic A rows, which are new to the sample dataset
        expected = pd.concat([base, first, second], ignore_index=True).drop_duplicates()
        stored = data.with_store(Store.load_events, sample)
        assert len(stored) == len(expected)
        assert not stored.duplicated().any()
        assert fingerprint(stored) == fingerprint(expected)
        assert sum(added) == len(expected) - len(base) >= new_rows
    finally:
        _close_app_store(tmp_path)


def _close_app_store(data_dir: Path) -> None:
    import streamlit as st

    from ui import data

    opened = data._OPEN.pop(str(data_dir), None)
    if opened is not None:
        opened.close()
    st.cache_resource.clear()


def test_a_second_process_gets_a_clear_one_line_error(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from analytics.store import Store, StoreInUseError\n"
        "try:\n"
        f"    Store({str(tmp_path)!r})\n"
        "except StoreInUseError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    with Store(tmp_path) as store:
        store.create_dataset("Clinic A", schema.empty_events(), {}, [])
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=CHILD_TIMEOUT)
        assert store.list_datasets()["name"].tolist() == ["Clinic A"]  # the holder is fine
    assert issubclass(StoreInUseError, StoreError)
    assert done.returncode == 3, done.stderr
    assert done.stderr == ""
    message = done.stdout.strip()
    assert "\n" not in message
    assert message.startswith(f"The store {tmp_path / DB_FILENAME} is in use by another "
                              f"PainPath process (PID {os.getpid()})")
    assert "PAINPATH_DATA_DIR" in message


# ---- damaged or missing store file -------------------------------------------------------
def _damage(kind: str, good: bytes) -> bytes:
    rng = np.random.default_rng(7)
    if kind == "random bytes":
        return rng.integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    if kind == "empty file":
        return b""
    if kind == "text file":
        return b"patient_id,event_date\nP1,2024-01-01\n"
    if kind == "truncated to 100 bytes":
        return good[:100]
    if kind == "truncated to half":
        return good[: len(good) // 2]
    if kind == "damaged header block":
        data = bytearray(good)
        data[4096:8192] = rng.integers(0, 256, 4096, dtype=np.uint8).tobytes()
        return bytes(data)
    raise KeyError(kind)


DAMAGE = ["random bytes", "empty file", "text file", "truncated to 100 bytes",
          "truncated to half", "damaged header block"]


@pytest.mark.parametrize("kind", DAMAGE)
def test_a_damaged_store_file_raises_a_clear_store_error(uploads: Uploads, tmp_path: Path,
                                                         kind: str) -> None:
    path = tmp_path / DB_FILENAME
    path.write_bytes(_damage(kind, (uploads.base_dir / DB_FILENAME).read_bytes()))
    content = path.read_bytes()
    with pytest.raises(StoreDamagedError) as caught:
        Store(tmp_path)
    exc = caught.value
    assert isinstance(exc, StoreError) and isinstance(exc, RuntimeError)
    assert exc.path == path
    message = str(exc)
    assert "\n" not in message
    assert message.startswith(f"The PainPath store {path} cannot be read: it is damaged or "
                              "not a PainPath store (")
    assert "start a new, empty store" in message
    assert path.read_bytes() == content  # untouched

    # moving it aside keeps the bytes and lets a new, empty store open in its place
    moved = move_aside(path, when=pd.Timestamp("2025-03-04 05:06:07").to_pydatetime())
    assert moved == tmp_path / f"{DB_FILENAME}.broken-20250304T050607Z"
    assert moved.read_bytes() == content
    assert not path.exists()
    with Store(tmp_path) as store:
        assert store.list_datasets().empty
        assert store.schema_version() == SCHEMA_VERSION


def test_damaged_data_blocks_raise_a_store_error_when_read(uploads: Uploads,
                                                           tmp_path: Path) -> None:
    """Random bytes over the data blocks of a real store: DuckDB may open it (the catalog is
    intact) but reading the events fails its block checksum -> StoreDamagedError, on open
    or on read, never a raw duckdb error.  Several spans are damaged, so the test does not
    depend on which block one offset happens to fall in."""
    big = tmp_path / "big"
    with Store(big) as store:
        store.create_dataset("Upload", uploads.new, {}, ["upload.csv"])
    data = bytearray((big / DB_FILENAME).read_bytes())
    noise = np.random.default_rng(5).integers(0, 256, 200_000, dtype=np.uint8).tobytes()
    for share in (0.3, 0.4, 0.5, 0.6, 0.7):
        at = int(len(data) * share)
        data[at:at + len(noise)] = noise
    (big / DB_FILENAME).write_bytes(bytes(data))
    with pytest.raises(StoreDamagedError, match="cannot be read"), Store(big) as store:
        store.load_events(store.find_dataset("Upload"))


def test_move_aside_takes_the_wal_along_and_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / DB_FILENAME
    when = pd.Timestamp("2025-01-02 03:04:05").to_pydatetime()
    path.write_bytes(b"one")
    (tmp_path / f"{DB_FILENAME}.wal").write_bytes(b"wal")
    first = move_aside(path, when=when)
    path.write_bytes(b"two")
    second = move_aside(path, when=when)
    assert first.name == "painpath.duckdb.broken-20250102T030405Z"
    assert second.name == "painpath.duckdb.broken-20250102T030405Z-2"
    assert (tmp_path / "painpath.duckdb.wal.broken-20250102T030405Z").read_bytes() == b"wal"
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "painpath.duckdb.broken-20250102T030405Z", "painpath.duckdb.broken-20250102T030405Z-2",
        "painpath.duckdb.wal.broken-20250102T030405Z"]


def test_a_missing_store_file_gives_a_new_empty_store(tmp_path: Path) -> None:
    data_dir = tmp_path / "not" / "yet"
    with Store(data_dir) as store:
        assert store.list_datasets().empty
        assert store.schema_version() == SCHEMA_VERSION
    assert (data_dir / DB_FILENAME).is_file()


def test_a_store_of_another_schema_version_raises_a_store_error(tmp_path: Path) -> None:
    with Store(tmp_path) as store, store._transaction() as cur:
        cur.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    expected = rf"schema version 99; this PainPath expects {SCHEMA_VERSION}"
    with pytest.raises(StoreError, match=expected):
        Store(tmp_path)


# ---- the app path: a damaged store in the browser ----------------------------------------
def test_the_app_offers_a_new_store_for_a_damaged_file(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    damaged = tmp_path / DB_FILENAME
    damaged.write_bytes(b"\x00garbage, not a DuckDB file" * 1000)
    monkeypatch.setenv("PAINPATH_DATA_DIR", str(tmp_path))
    st.cache_resource.clear()
    try:
        at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60).run()
        assert not at.exception
        assert len(at.error) == 1
        assert at.error[0].value.startswith(f"The PainPath store {damaged} cannot be read")
        assert not at.metric  # the Overview did not render
        assert damaged.exists()  # nothing moved before the user asks

        at.button(key="store_new").click().run()
        assert not at.exception
        assert not at.error
        moved = list(tmp_path.glob(f"{DB_FILENAME}.broken-*"))
        assert len(moved) == 1
        assert moved[0].read_bytes() == b"\x00garbage, not a DuckDB file" * 1000
        assert [t.value for t in at.toast] == [
            f"The damaged store was kept as {moved[0].name}; a new, empty store was started."]
        assert at.title[0].value == "PainPath · Overview"
        assert at.metric  # the Overview's KPIs, of the new sample dataset
        with Store(tmp_path) as store:  # same process: shares the app's database instance
            assert store.list_datasets()["name"].tolist() == ["Sample clinic"]
    finally:
        _close_app_store(tmp_path)

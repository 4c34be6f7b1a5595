"""Child process of tests/test_multiprocess.py: one PainPath process using a shared store.

    python tests/store_process.py DATA_DIR

Opens ``Store(DATA_DIR)`` once, prints ``READY``, then answers one JSON command per stdin
line with one JSON line on stdout (``{"error": "<type>: <message>"}`` when it raised):

- ``{"op": "list"}`` -> ``[[dataset_id, name, version, events], ...]``;
- ``{"op": "load", "id": I, "version": V | null}`` -> ``{"rows": n, "fingerprint": f}``;
- ``{"op": "create", "name": N, "parquet": P}`` -> the new id;
- ``{"op": "add", "id": I, "parquet": P}`` -> rows added;
- ``{"op": "sample", "csv": C}`` -> the id ``ensure_sample_dataset`` returned;
- ``{"op": "read_until", "seconds": S, "id": I}`` -> reads in a loop for S seconds:
  ``{"reads": n, "errors": [...], "inconsistent": [...], "versions": [...]}``, where a
  read lists the datasets, then loads the version just listed; it is inconsistent when
  the rows loaded differ from the count the catalog gave for that version, and the
  versions seen must never go down.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics import schema  # noqa: E402
from analytics.ingest import ingest  # noqa: E402
from analytics.store import Store  # noqa: E402


def fingerprint(frame: pd.DataFrame) -> int:
    """Order-independent content hash of a canonical frame."""
    hashed = pd.util.hash_pandas_object(schema.conform(frame), index=False)
    return int(hashed.to_numpy(np.uint64).sum(dtype=np.uint64))


def read_until(store: Store, dataset_id: int, seconds: float) -> dict:
    out: dict = {"reads": 0, "errors": [], "inconsistent": [], "versions": []}
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        try:
            listed = store.list_datasets().set_index("dataset_id")
            version = int(listed.loc[dataset_id, "version"])
            count = int(listed.loc[dataset_id, "events"])
            rows = len(store.load_events(dataset_id, version))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            out["errors"].append(f"{type(exc).__name__}: {exc}")
            continue
        out["reads"] += 1
        if rows != count:
            out["inconsistent"].append([version, count, rows])
        if not out["versions"] or out["versions"][-1] != version:
            out["versions"].append(version)
    return out


def answer(store: Store, command: dict):
    op = command["op"]
    if op == "list":
        listed = store.list_datasets()
        return [[int(r.dataset_id), r.name, int(r.version), int(r.events)]
                for r in listed.itertuples()]
    if op == "load":
        events = store.load_events(command["id"], command.get("version"))
        return {"rows": len(events), "fingerprint": fingerprint(events)}
    if op == "create":
        return store.create_dataset(command["name"], pd.read_parquet(command["parquet"]), {},
                                    [Path(command["parquet"]).name])
    if op == "add":
        return store.add_to_dataset(command["id"], pd.read_parquet(command["parquet"]), {},
                                    [Path(command["parquet"]).name])
    if op == "sample":
        return store.ensure_sample_dataset(command["csv"], lambda path: ingest([path]))
    if op == "read_until":
        return read_until(store, command["id"], command["seconds"])
    raise ValueError(f"unknown op {op!r}")


def main(data_dir: str) -> int:
    store = Store(data_dir)
    print("READY", flush=True)
    for line in sys.stdin:
        try:
            result = answer(store, json.loads(line))
        except Exception as exc:  # noqa: BLE001 - reported to the test
            result = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(result), flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

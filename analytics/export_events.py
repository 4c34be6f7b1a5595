"""``python -m analytics export-events FILE… --out DIR``: what ingest accepted, as a Parquet
event folder (:mod:`analytics.event_files`) that ``summary`` and ``table`` read with either
engine (``--engine local|spark``).

The files are ingested one export at a time (:func:`analytics.ingest.ingest_exports`: a
Synthea or OMOP folder together, every other file alone), so a dataset split into files
(such as ``python -m sample_data.generate --format parquet``, one file per chunk of whole
patients) is written without holding it all in memory; ``--map`` and ``--map-values`` are
ingest's, as for ``summary`` and ``table``.  Prints one JSON object: the folder, its rows
and the upload report's totals.  Exit status 2 with a one-line message
when no file could be used or the output folder cannot be written.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from analytics.event_files import DEFAULT_BUCKETS, EventFolderWriter
from analytics.ingest import IngestError, ingest_exports, read_value_map


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``export-events``."""
    parser.add_argument("files", nargs="+", help="export files or folders")
    parser.add_argument("--out", required=True, help="the event folder to write (replaced "
                        "when it is an event folder already)")
    parser.add_argument("--buckets", type=_positive, default=DEFAULT_BUCKETS,
                        help="patient hash buckets (default %(default)s)")
    parser.add_argument("--map", action="append", metavar="FILE:canonical=source",
                        help="map a column by hand (repeatable), as for summary")
    parser.add_argument("--map-values", metavar="FILE.csv", default=None,
                        help="value map (kind, value, maps_to), as for summary")


def run(args: argparse.Namespace,
        mapping: dict[str, dict[str, str]] | None = None) -> int:
    """Ingest ``args.files`` export by export (with ``mapping``, the parsed ``--map``, and
    ``--map-values``) and write the folder ``args.out``."""
    try:
        value_map = read_value_map(args.map_values) if args.map_values else None
        writer = EventFolderWriter(args.out, args.buckets)
        for result in ingest_exports(args.files, mapping, value_map):
            writer.add(result)
        meta = writer.close()
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError, FileExistsError,
            NotADirectoryError) as exc:
        print(f"error: cannot write or read {exc.filename or args.out}: "
              f"{exc.strerror or exc}", file=sys.stderr)
        return 2
    out = {"out": str(args.out), **{k: v for k, v in asdict(meta).items() if k != "reports"}}
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0

"""Command line: ``python -m analytics summary FILE [FILE …]`` (DESIGN.md, "The summary CLI").

Ingests the files (a folder means every export file in it) as one dataset and
prints one JSON object.  Exit status 0 on success; 2 with a one-line message on
stderr when no file could be used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence

import pandas as pd

from analytics.ingest import IngestError, ingest
from analytics.injections import injection_summary
from analytics.intervals import extract_date as compute_extract_date
from analytics.narcotics import narcotic_summary
from analytics.pathways import pathway_counts, pathway_steps
from analytics.privacy import DEFAULT_MIN_CELL, merge_rare_pathways, suppress_count
from analytics.schema import TECHNIQUES


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def summarise(
    events: pd.DataFrame,
    *,
    era_gap_days: int = 30,
    course_gap_days: int = 30,
    extract: pd.Timestamp | None = None,
    min_cell: int = DEFAULT_MIN_CELL,
) -> dict:
    """The analysis part of the summary contract for canonical ``events``.

    Patient counts from 1 to ``min_cell - 1`` become ``"<min_cell>"``; pathways
    with fewer patients merge into one ``["other pathways"]`` entry.
    """
    extract = compute_extract_date(events, extract)

    def hide(n: int) -> int | str:
        return suppress_count(int(n), min_cell)

    techniques = {}
    by_technique = events.groupby("technique", observed=False)
    patients_per = by_technique["patient_id"].nunique()
    events_per = by_technique.size()
    for technique in TECHNIQUES:
        techniques[technique] = {
            "patients": hide(patients_per.get(technique, 0)),
            "events": int(events_per.get(technique, 0)),
        }

    steps = pathway_steps(events, mode="first", era_gap_days=era_gap_days, extract=extract)
    counts = pathway_counts(steps, pd.Index(events["patient_id"].unique()))
    counts = counts.loc[counts["n_steps"] > 0]
    counts = merge_rare_pathways(counts, min_cell)
    pathways = [
        {"steps": list(row.steps), "patients": hide(row.patients)}
        for row in counts.itertuples(index=False)
    ]

    injections = injection_summary(events, extract=extract)
    for key in ("patients", "patients_repeated", "patients_over_limit"):
        injections[key] = hide(injections[key])
    narcotics = narcotic_summary(events, course_gap_days=course_gap_days, extract=extract)
    narcotics["patients"] = hide(narcotics["patients"])

    return {
        "events": int(len(events)),
        "patients": hide(events["patient_id"].nunique()),
        "extract_date": extract.date().isoformat() if extract is not None else None,
        "techniques": techniques,
        "pathways": pathways,
        "injections": injections,
        "narcotics": narcotics,
    }


def run_summary(args: argparse.Namespace) -> int:
    try:
        result = ingest(args.files)
    except IngestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        print(f"error: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 2
    report = result.report
    extract = pd.Timestamp(args.extract_date) if args.extract_date else None
    out = {
        "files": [f.name for f in report.files],
        "rows_read": report.rows_read,
        "rejected_rows": report.rejected,
        "not_relevant_rows": report.not_relevant,
        "duplicate_rows": report.duplicates,
        "refused_columns": report.refused_columns,
        "min_cell": args.min_cell,
        "parameters": {
            "era_gap_days": args.era_gap_days,
            "course_gap_days": args.course_gap_days,
        },
    }
    out.update(
        summarise(
            result.events,
            era_gap_days=args.era_gap_days,
            course_gap_days=args.course_gap_days,
            extract=extract,
            min_cell=args.min_cell,
        )
    )
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics")
    sub = parser.add_subparsers(dest="command", required=True)
    summary = sub.add_parser("summary", help="ingest export files and print a JSON summary")
    summary.add_argument("files", nargs="+", help="export files or folders")
    summary.add_argument("--era-gap-days", type=_non_negative, default=30)
    summary.add_argument("--course-gap-days", type=_non_negative, default=30)
    summary.add_argument("--extract-date", type=_date, default=None)
    summary.add_argument("--min-cell", type=_non_negative, default=DEFAULT_MIN_CELL)
    args = parser.parse_args(argv)
    if args.command == "summary":
        return run_summary(args)
    return 2  # pragma: no cover - argparse rejects unknown commands

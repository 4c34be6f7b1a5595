"""Command line: ``python -m analytics summary FILE [FILE …]`` (the summary contract in
docs/definitions.md, section 15).

Ingests the files (a folder means every export file in it) as one dataset,
builds the summary result (:mod:`analytics.results.summary`: every count
protected once, there) and prints it as one JSON object.  Exit status 0 on
success; 2 with a one-line message on stderr when no file could be used.

Subcommands are registered in :data:`COMMANDS`; each adds its options to its
own parser and runs on the parsed arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Sequence

import pandas as pd

from analytics import export_events
from analytics.ingest import IngestError, ingest
from analytics.results.measures import CohortMeasures, Definitions
from analytics.results.privacy import DEFAULT_MIN_CELL
from analytics.results.summary import SummaryResult, build_summary
from analytics.results.table import Table


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


def _row(table: Table, columns: Sequence[str] | None = None) -> dict[str, object]:
    """The first row of a one-row table as ``{column: value or "<N" / "hidden"}``."""
    names = [c.name for c in table.columns if c.shown] if columns is None else columns
    return {name: table.cell(0, name) for name in names}


def render_summary(result: SummaryResult) -> dict[str, object]:
    """The summary result as the contract's JSON object (analysis keys)."""
    techniques = result.techniques
    pathways = result.pathways
    extract = result.extract_date
    return {
        **_row(result.totals, ["events", "patients"]),
        "extract_date": extract.date().isoformat() if extract is not None else None,
        "techniques": {
            str(techniques.cell(r, "technique")): {
                "patients": techniques.cell(r, "patients"),
                "events": techniques.cell(r, "events"),
            }
            for r in range(len(techniques))
        },
        "pathways": [
            {"steps": list(pathways.values["steps"].iloc[r]),
             "patients": pathways.cell(r, "patients")}
            for r in range(len(pathways))
        ],
        "injections": _row(result.injections),
        "narcotics": _row(result.narcotics),
    }


def summarise(events: pd.DataFrame, *, definitions: Definitions | None = None,
              extract: pd.Timestamp | None = None, min_cell: int = DEFAULT_MIN_CELL,
              pathway_mode: str = "first") -> dict[str, object]:
    """The analysis part of the summary contract for canonical ``events``: the summary
    result built with ``min_cell`` (:func:`analytics.results.summary.build_summary`),
    rendered."""
    measures = CohortMeasures(events, definitions or Definitions(), extract)
    return render_summary(build_summary(measures, pathway_mode, min_cell))


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
    definitions = Definitions(era_gap_days=args.era_gap_days,
                              course_gap_days=args.course_gap_days)
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
    extract = pd.Timestamp(args.extract_date) if args.extract_date else None
    out.update(summarise(result.events, definitions=definitions, extract=extract,
                         min_cell=args.min_cell))
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _summary_parser(summary: argparse.ArgumentParser) -> None:
    summary.add_argument("files", nargs="+", help="export files or folders")
    summary.add_argument("--era-gap-days", type=_non_negative, default=30)
    summary.add_argument("--course-gap-days", type=_non_negative, default=30)
    summary.add_argument("--extract-date", type=_date, default=None)
    summary.add_argument("--min-cell", type=_non_negative, default=DEFAULT_MIN_CELL,
                         help="counts from 1 to this − 1 print as \"<N\"; 0 turns it off")


COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "summary": ("ingest export files and print a JSON summary", _summary_parser, run_summary),
    "export-events": ("ingest export files and write the accepted events as a Parquet "
                      "event folder", export_events.add_arguments, export_events.run),
}
"""Subcommands: name -> (help, add its arguments, run it)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analytics")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (text, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=text))
    args = parser.parse_args(argv)
    return COMMANDS[args.command][2](args)

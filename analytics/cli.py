"""Command line: ``python -m analytics summary|table FILE [FILE …]`` (README "Command line";
every count protected as docs/definitions.md section 15 states).

Both commands ingest the files (a folder means every export file in it) as one dataset,
take its population (back-pain patients by default, :mod:`analytics.population`) and
compute the measures with the definitions given as options:

- ``summary`` builds the summary result (:mod:`analytics.results.summary`: every count
  protected once, there) and prints it as one JSON object;
- ``table`` prints one per-patient measure table (steps, eras, sessions, courses) as CSV
  with spreadsheet formulas neutralised: patient-level rows, so nothing is suppressed.

Exit status 0 on success; 2 with a one-line message on stderr when an option is wrong or
no file could be used.

Subcommands are registered in :data:`COMMANDS`; each adds its options to its own parser
and runs on the parsed arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pandas as pd

from analytics import export_events
from analytics.event_files import is_event_folder, read_event_folder
from analytics.exports import to_csv_bytes
from analytics.ingest import MAPPING_KEYS, IngestError, IngestResult, ingest
from analytics.pathways import MODES, PATHWAY_FILTERS
from analytics.population import DEFAULT_LOOKBACK_DAYS, POPULATIONS, Population, apply_population
from analytics.results.measures import PATIENT_TABLES, CohortMeasures, Definitions
from analytics.results.privacy import DEFAULT_MIN_CELL
from analytics.results.summary import SummaryResult, build_summary
from analytics.results.table import Table
from analytics.spark import cli as spark_cli

DEFAULTS = Definitions()


class UsageError(Exception):
    """A wrong option: exit status 2 with this one-line message."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line on stderr (exit status 2), like every
    other error of the command line."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _whole(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from exc
    if value < minimum:
        raise argparse.ArgumentTypeError(f"must be {minimum} or more, not {value}")
    return value


def _non_negative(text: str) -> int:
    return _whole(text, 0)


def _positive(text: str) -> int:
    return _whole(text, 1)


def parse_mappings(items: Sequence[str] | None) -> dict[str, dict[str, str]] | None:
    """``--map FILE:canonical=source`` options as ingest's explicit mapping
    ``{file name: {canonical: source column}}`` (FILE as given on the command line or its
    name without the folder; the mapping is keyed by the name).  Raises
    :class:`UsageError` for a malformed option or a canonical column no mapping may use
    (:data:`analytics.ingest.MAPPING_KEYS`)."""
    if not items:
        return None
    mapping: dict[str, dict[str, str]] = {}
    for item in items:
        head, equals, source = item.partition("=")
        file, colon, canonical = head.rpartition(":")
        if not (equals and colon and file and canonical.strip() and source.strip()):
            raise UsageError(f"--map {item!r}: write FILE:canonical=source, e.g. "
                             "--map epic.csv:patient_id=Pseudonym")
        canonical = canonical.strip()
        if canonical not in MAPPING_KEYS:
            raise UsageError(f"--map {item!r}: {canonical!r} is not a column a mapping may "
                             f"use; use one of {', '.join(MAPPING_KEYS)}")
        mapping.setdefault(Path(file).name, {})[canonical] = source.strip()
    return mapping


def definitions_of(args: argparse.Namespace) -> Definitions:
    """The definition parameters given as options."""
    return Definitions(
        era_gap_days=args.era_gap_days, course_gap_days=args.course_gap_days,
        combination_window_days=args.combination_window_days, max_steps=args.max_steps,
        min_era_days=args.min_era_days,
        min_post_combination_days=args.min_post_combination_days,
        pathway_filter=args.pathway_filter)


@dataclass(frozen=True)
class Analysis:
    """What both commands compute from the options: the ingest, the population and the
    population's measures (extract date: the option, else the one ingest fixed)."""

    ingested: IngestResult
    population: Population
    measures: CohortMeasures


def _ingested(args: argparse.Namespace) -> IngestResult:
    """What ingest accepted: an event folder (``export-events``) read back, else the
    files (``--omop DIR``: the folder) ingested with ``--map``."""
    files = list(args.files)
    if args.omop is not None:
        if files or not Path(args.omop).is_dir():
            raise UsageError("--omop with the local engine takes a folder of OMOP tables and "
                             "no other file (a Spark schema needs --engine spark)")
        files = [args.omop]
    if not files:
        raise UsageError("no export file, folder or --omop given")
    if len(files) == 1 and is_event_folder(files[0]):
        if args.map:
            raise UsageError("--map does not apply to an event folder (it was ingested)")
        return read_event_folder(files[0]).ingest_result()
    return ingest(files, mapping=parse_mappings(args.map))


def analyse(args: argparse.Namespace) -> Analysis:
    """Ingest ``args.files`` (with ``--map``) or read an event folder, apply the population
    and lookback, and set up the measures.  Raises :class:`UsageError` or
    :class:`IngestError`."""
    ingested = _ingested(args)
    extract = (pd.Timestamp(args.extract_date) if args.extract_date is not None
               else ingested.extract_date)
    population = apply_population(ingested.events, ingested.diagnoses,
                                  ingested.population_source, args.population,
                                  args.lookback_days)
    return Analysis(ingested, population,
                    CohortMeasures(population.events, definitions_of(args), extract))


def _row(table: Table, columns: Sequence[str] | None = None) -> dict[str, object]:
    """The first row of a one-row table as ``{column: value or "<N" / "hidden"}``."""
    names = [c.name for c in table.columns if c.shown] if columns is None else columns
    return {name: table.cell(0, name) for name in names}


def render_summary(result: SummaryResult) -> dict[str, object]:
    """The summary result as the contract's JSON object (analysis keys)."""
    techniques = result.techniques
    pathways = result.pathways
    extract = result.extract_date
    out: dict[str, object] = {}
    if result.population is not None:
        out["population"] = result.population.summary()
    out.update({
        **_row(result.totals, ["events", "patients"]),
        "extract_date": extract.date().isoformat() if extract is not None else None,
        "techniques": {
            str(techniques.cell(r, "technique")): {
                "patients": techniques.cell(r, "patients"),
                "events": techniques.cell(r, "events"),
            }
            for r in range(len(techniques))
        },
        "pathway_mode": result.pathway_mode,
        "pathways": [
            {"steps": list(pathways.values["steps"].iloc[r]),
             "patients": pathways.cell(r, "patients")}
            for r in range(len(pathways))
        ],
        "injections": _row(result.injections),
        "narcotics": _row(result.narcotics),
    })
    return out


def summarise(events: pd.DataFrame, *, definitions: Definitions | None = None,
              extract: pd.Timestamp | None = None, min_cell: int = DEFAULT_MIN_CELL,
              pathway_mode: str = "first",
              population: Population | None = None) -> dict[str, object]:
    """The analysis part of the summary contract for canonical ``events`` (the events of
    ``population`` when given): the summary result built with ``min_cell``
    (:func:`analytics.results.summary.build_summary`), rendered."""
    measures = CohortMeasures(events, definitions or Definitions(), extract)
    return render_summary(build_summary(measures, pathway_mode, min_cell, population))


def _parameters(args: argparse.Namespace) -> dict[str, object]:
    return {
        "population": args.population,
        "lookback_days": args.lookback_days,
        "pathway_mode": args.pathway_mode,
        "era_gap_days": args.era_gap_days,
        "course_gap_days": args.course_gap_days,
        "combination_window_days": args.combination_window_days,
        "min_era_days": args.min_era_days,
        "min_post_combination_days": args.min_post_combination_days,
        "pathway_filter": args.pathway_filter,
        "max_steps": args.max_steps,
    }


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _run(args: argparse.Namespace, then: Callable[[Analysis], int]) -> int:
    """Analyse, turning every expected failure into a one-line error and exit status 2."""
    try:
        analysis = analyse(args)
    except (UsageError, IngestError) as exc:
        return _fail(str(exc))
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        return _fail(f"cannot read {exc.filename}: {exc.strerror}")
    return then(analysis)


def _print_summary(args: argparse.Namespace, report: dict[str, object],
                   result: SummaryResult) -> int:
    out = {**report, "min_cell": args.min_cell, "parameters": _parameters(args)}
    out.update(render_summary(result))
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _print_csv(parts: Iterable[pd.DataFrame]) -> int:
    sys.stdout.flush()
    for i, part in enumerate(parts):
        sys.stdout.buffer.write(to_csv_bytes(part, bom=False, header=i == 0))
    sys.stdout.buffer.flush()
    return 0


def run_summary(args: argparse.Namespace) -> int:
    if args.engine == "spark":
        return spark_cli.run_summary(args, definitions_of(args), _print_summary, _fail)

    def emit(analysis: Analysis) -> int:
        report = analysis.ingested.report
        header = {
            "files": [f.name for f in report.files],
            "rows_read": report.rows_read,
            "rejected_rows": report.rejected,
            "not_relevant_rows": report.not_relevant,
            "duplicate_rows": report.duplicates,
            "refused_columns": report.refused_columns,
        }
        result = build_summary(analysis.measures, args.pathway_mode, args.min_cell,
                               analysis.population)
        return _print_summary(args, header, result)

    return _run(args, emit)


def run_table(args: argparse.Namespace) -> int:
    if args.engine == "spark":
        return spark_cli.run_table(args, definitions_of(args), _print_csv, _fail)

    def emit(analysis: Analysis) -> int:
        return _print_csv([analysis.measures.patient_table(args.table, args.pathway_mode)])

    return _run(args, emit)


def _analysis_options(parser: argparse.ArgumentParser) -> None:
    """The options both commands share: files, mapping, population and definitions."""
    parser.add_argument("files", nargs="*", help="export files or folders (a folder: every "
                        "export file in it, e.g. a whole Synthea or OMOP export), or one "
                        "event folder written by export-events")
    parser.add_argument("--map", action="append", metavar="FILE:canonical=source",
                        help="map a column by hand (repeatable): FILE is the file as given "
                        "(or its name), canonical one of " + ", ".join(MAPPING_KEYS))
    parser.add_argument("--population", choices=POPULATIONS, default="back_pain",
                        help="back_pain (default): patients with a back or neck pain "
                        "diagnosis; all: every patient")
    parser.add_argument("--lookback-days", type=_non_negative, default=DEFAULT_LOOKBACK_DAYS,
                        help="EHR-wide exports: events starting this many days before the "
                        "first back or neck pain diagnosis on count (default %(default)s)")
    parser.add_argument("--extract-date", type=_date, default=None,
                        help="the data's 'today' (default: the latest date of the export)")
    parser.add_argument("--era-gap-days", type=_non_negative, default=DEFAULTS.era_gap_days)
    parser.add_argument("--course-gap-days", type=_non_negative,
                        default=DEFAULTS.course_gap_days)
    parser.add_argument("--pathway-mode", choices=MODES, default="first",
                        help="first (default): techniques in order of first use; eras: "
                        "OHDSI TreatmentPatterns")
    parser.add_argument("--combination-window-days", type=_non_negative,
                        default=DEFAULTS.combination_window_days,
                        help="mode eras: overlap that makes a combination (default %(default)s)")
    parser.add_argument("--min-post-combination-days", type=_non_negative,
                        default=DEFAULTS.min_post_combination_days,
                        help="mode eras: pieces shorter than this after a combination pass "
                        "are dropped (default %(default)s; TreatmentPatterns' is 30)")
    parser.add_argument("--min-era-days", type=_non_negative, default=DEFAULTS.min_era_days,
                        help="mode eras: events shorter than this are dropped before eras "
                        "(default %(default)s)")
    parser.add_argument("--pathway-filter", choices=PATHWAY_FILTERS,
                        default=DEFAULTS.pathway_filter,
                        help="mode eras: all, first or changes (default %(default)s; "
                        "TreatmentPatterns' is first)")
    parser.add_argument("--max-steps", type=_positive, default=DEFAULTS.max_steps,
                        help="steps kept per pathway (default %(default)s)")
    spark_cli.add_engine_options(parser)


def _summary_parser(summary: argparse.ArgumentParser) -> None:
    _analysis_options(summary)
    summary.add_argument("--min-cell", type=_non_negative, default=DEFAULT_MIN_CELL,
                         help="counts from 1 to this − 1 print as \"<N\" and counts that "
                         "would reveal one as \"hidden\"; 0 turns it off")


def _table_parser(table: argparse.ArgumentParser) -> None:
    table.add_argument("table", choices=PATIENT_TABLES,
                       help="steps (pathway steps, --pathway-mode), eras (technique eras), "
                       "sessions (injection sessions), courses (narcotic courses with "
                       "avg_mme_per_day and mme_estimated)")
    _analysis_options(table)


COMMANDS: dict[str, tuple[str, str, Callable[[argparse.ArgumentParser], None],
                          Callable[[argparse.Namespace], int]]] = {
    "summary": ("ingest export files and print a JSON summary",
                "Counts under --min-cell are suppressed.", _summary_parser, run_summary),
    "table": ("print a per-patient measure table as CSV",
              "The rows are patient level (one per patient and step, era, session or "
              "course), so NO count is suppressed: for analysts with access to the "
              "patient-level data, never for publication.", _table_parser, run_table),
    "export-events": ("ingest export files and write the accepted events as a Parquet "
                      "event folder",
                      "The folder is what summary and table read with --engine spark "
                      "(or local).", export_events.add_arguments, export_events.run),
}
"""Subcommands: name -> (help, description, add its arguments, run it)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m analytics")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (text, description, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=text, description=f"{text}. {description}"))
    args = parser.parse_args(argv)
    return COMMANDS[args.command][3](args)

"""Command line: ``python -m analytics summary|table FILE [FILE …]`` (README "Command line";
every count protected as docs/definitions.md section 15 states).

Both commands ingest the files (a folder means every export file in it) as one dataset,
take its population (back-pain patients by default, :mod:`analytics.population`) and
compute the measures with the definitions given as options:

- ``summary`` builds the summary result (:mod:`analytics.results.summary`: every count
  protected once, there), the opioid-safety and outcome results
  (:mod:`analytics.results.safety`, :mod:`analytics.results.outcomes`) and, with
  ``--strata``, the pathways and outcomes by stratum (:mod:`analytics.results.strata`), and
  prints them as one JSON object;
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
from analytics.ingest import (
    MAPPING_KEYS,
    IngestError,
    IngestResult,
    ingest,
    read_value_map,
)
from analytics.pathways import MODES, PATHWAY_FILTERS
from analytics.population import DEFAULT_LOOKBACK_DAYS, POPULATIONS, Population, apply_population
from analytics.results.measures import (
    PATIENT_TABLES,
    CohortMeasures,
    Definitions,
    PopulationMeasures,
)
from analytics.results.outcomes import OutcomeResult, OutcomesResult, build_outcomes
from analytics.results.privacy import DEFAULT_MIN_CELL
from analytics.results.safety import SHORT_LABELS, UNITS, SafetyResult, build_safety
from analytics.results.strata import OUTCOME_GROUPING, STRATA, StrataResult, build_strata
from analytics.results.summary import SummaryResult, SummaryViews, build_summary
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
    files (``--omop DIR``: the folder) ingested with ``--map`` and ``--map-values``."""
    files = list(args.files)
    if args.omop is not None:
        if files or not Path(args.omop).is_dir():
            raise UsageError("--omop with the local engine takes a folder of OMOP tables and "
                             "no other file (a Spark schema needs --engine spark)")
        files = [args.omop]
    if not files:
        raise UsageError("no export file, folder or --omop given")
    if len(files) == 1 and is_event_folder(files[0]):
        if args.map or args.map_values:
            raise UsageError("--map and --map-values do not apply to an event folder (it was "
                             "ingested): give them to export-events")
        return read_event_folder(files[0]).ingest_result()
    value_map = read_value_map(args.map_values) if args.map_values else None
    return ingest(files, mapping=parse_mappings(args.map), value_map=value_map)


def analyse(args: argparse.Namespace) -> Analysis:
    """Ingest ``args.files`` (with ``--map`` and ``--map-values``) or read an event folder,
    apply the population and lookback, and set up the measures.  Raises
    :class:`UsageError` or :class:`IngestError`."""
    ingested = _ingested(args)
    extract = (pd.Timestamp(args.extract_date) if args.extract_date is not None
               else ingested.extract_date)
    population = apply_population(ingested.events, ingested.diagnoses,
                                  ingested.population_source, args.population,
                                  args.lookback_days)
    definitions = definitions_of(args)
    whole = PopulationMeasures(
        population.events, definitions, extract,
        history=population.full_history(ingested.events), accepted=ingested.events,
        diagnoses=ingested.diagnoses, index_dates=population.index_date)
    return Analysis(ingested, population, whole.select(None))


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


def render_safety(result: SafetyResult) -> dict[str, object]:
    """The ``safety`` object: per measure its label, what it counts and, per calendar year,
    ``partial``, ``denominator``, ``numerator`` and ``percent`` (``"<N"`` / ``"hidden"`` as
    protected; ``null`` when not defined or, for the pharmacy rates without pharmacy_id,
    not available: ``pharmacy_note`` says why)."""
    years = result.years
    measures: dict[str, object] = {}
    for key in SHORT_LABELS:
        rows = [r for r, k in enumerate(years.values["key"]) if k == key]
        measures[key] = {
            "label": SHORT_LABELS[key], "counts": UNITS[key],
            "years": [{"year": int(years.values["year"].iloc[r]),
                       "partial": years.values["coverage"].iloc[r] != "whole year",
                       "denominator": years.cell(r, "denominator"),
                       "numerator": years.cell(r, "numerator"),
                       "percent": years.cell(r, "share")} for r in rows],
        }
    return {"pharmacy_note": result.pharmacy_note, "measures": measures}


def _outcome_groups(outcome: OutcomeResult) -> list[dict[str, object]]:
    groups = outcome.groups
    return [{"group": groups.labels("group")[r], **{
        c: groups.cell(r, c) for c in ("patients", "events", "median_days", "median_lower",
                                       "median_upper")}} for r in range(len(groups))]


def render_outcomes(result: OutcomesResult) -> dict[str, object]:
    """The ``outcomes`` object: the patients analysed and left out, and per outcome the
    log-rank p-value over the groups shown and each group's patients, events and median
    days with its 95 % limits."""
    summary = result.summary
    out: dict[str, object] = {
        "by": result.by,
        **{c: summary.cell(0, c) for c in ("patients", "left_out_no_index",
                                           "left_out_surgery_first")},
        "observational": result.observational,
    }
    for outcome in result.outcomes():
        out[outcome.outcome] = {"logrank_p": outcome.test.cell(0, "p_value"),
                                "groups": _outcome_groups(outcome)}
    return out


def render_strata(result: StrataResult, outcomes: OutcomesResult) -> dict[str, object]:
    """One ``strata`` entry: patients per stratum, pathways per stratum, and the outcome
    groups of that stratum."""
    strata, paths = result.strata, result.pathways
    return {
        "strata": [{"stratum": strata.labels("stratum")[r],
                    "patients": strata.cell(r, "patients")} for r in range(len(strata))],
        "pathways": [{"stratum": paths.labels("stratum")[r],
                      "steps": list(paths.values["steps"].iloc[r]),
                      "patients": paths.cell(r, "patients")} for r in range(len(paths))],
        "outcomes": {o.outcome: _outcome_groups(o) for o in outcomes.outcomes()},
    }


def _strata(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(t.strip() for t in text.split(",") if t.strip()))
    unknown = [n for n in names if n not in STRATA]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"strata are a comma-separated list of {', '.join(STRATA)}, not {text!r}")
    return names


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


def summary_views(measures: CohortMeasures, population: Population | None, pathway_mode: str,
                  min_cell: int, strata: Sequence[str] = ()) -> SummaryViews:
    """What ``summary`` prints, computed here (the local engine): the summary, the safety
    and outcome results, and the strata named."""
    return SummaryViews(
        build_summary(measures, pathway_mode, min_cell, population),
        build_safety(measures, min_cell=min_cell),
        build_outcomes(measures, "stratum", min_cell),
        {name: (build_strata(measures, name, pathway_mode, None, min_cell),
                build_outcomes(measures, OUTCOME_GROUPING[name], min_cell))
         for name in strata})


def render_views(views: SummaryViews) -> dict[str, object]:
    """The analysis keys of the printed summary: :func:`render_summary`, then ``safety``,
    ``outcomes`` and ``strata`` (each only when computed)."""
    out = render_summary(views.summary)
    if views.safety is not None:
        out["safety"] = render_safety(views.safety)
    if views.outcomes is not None:
        out["outcomes"] = render_outcomes(views.outcomes)
    if views.strata:
        out["strata"] = {name: render_strata(by_stratum, outcomes)
                         for name, (by_stratum, outcomes) in views.strata.items()}
    return out


def _print_summary(args: argparse.Namespace, report: dict[str, object],
                   views: SummaryViews) -> int:
    out = {**report, "min_cell": args.min_cell, "parameters": _parameters(args)}
    out.update(render_views(views))
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
        return _print_summary(args, header, summary_views(
            analysis.measures, analysis.population, args.pathway_mode, args.min_cell,
            args.strata))

    return _run(args, emit)


def run_table(args: argparse.Namespace) -> int:
    if args.engine == "spark":
        return spark_cli.run_table(args, definitions_of(args), _print_csv, _fail)

    def emit(analysis: Analysis) -> int:
        return _print_csv([analysis.measures.patient_table(args.table, args.pathway_mode)])

    return _run(args, emit)


def _run_export(args: argparse.Namespace) -> int:
    """``export-events``, with ``--map`` parsed as for the other commands."""
    try:
        mapping = parse_mappings(args.map)
    except UsageError as exc:
        return _fail(str(exc))
    return export_events.run(args, mapping)


def _analysis_options(parser: argparse.ArgumentParser) -> None:
    """The options both commands share: files, mapping, population and definitions."""
    parser.add_argument("files", nargs="*", help="export files or folders (a folder: every "
                        "export file in it, e.g. a whole Synthea or OMOP export), or one "
                        "event folder written by export-events")
    parser.add_argument("--map", action="append", metavar="FILE:canonical=source",
                        help="map a column by hand (repeatable): FILE is the file as given "
                        "(or its name), canonical one of " + ", ".join(MAPPING_KEYS))
    parser.add_argument("--map-values", metavar="FILE.csv", default=None,
                        help="value map: a CSV with the columns kind (technique, "
                        "injection_type or description), value and maps_to, saying what the "
                        "export's own labels and drug names mean")
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
    summary.add_argument("--strata", type=_strata, default=(), metavar="age,sex,index_year",
                         help="add pathways and outcomes by stratum: age (band at the first "
                         "event), sex, index_year (year of the index date)")
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
                      "(or local).", export_events.add_arguments, _run_export),
}
"""Subcommands: name -> (help, description, add its arguments, run it)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(prog="python -m analytics")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (text, description, add_arguments, _) in COMMANDS.items():
        add_arguments(sub.add_parser(name, help=text, description=f"{text}. {description}"))
    args = parser.parse_args(argv)
    return COMMANDS[args.command][3](args)

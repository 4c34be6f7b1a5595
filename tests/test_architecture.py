"""The architecture of README "Architecture": imports run one way, with no circle.

Every module of ``analytics/``, ``ui/``, ``pages/`` and ``dashboard.py`` belongs to one step
of the flow; a module may import only from its own step or an earlier one, and the
imports between modules form no circle.  ``analytics/`` never imports Streamlit.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STEPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # intervals: the covered-days rule, which ingest's upload report counts by
    ("foundation", ("analytics.schema", "analytics.settings", "analytics.vocab",
                    "analytics.indications", "analytics.intervals")),
    ("ingest", ("analytics.readers", "analytics.phi", "analytics.ingest")),
    ("store", ("analytics.store", "analytics.event_files")),
    # the per-patient definitions: the measures' functions, also used by cohort criteria
    ("definitions", ("analytics.survival", "analytics.pathways",
                     "analytics.injections", "analytics.narcotics", "analytics.timeline",
                     "analytics.injection_response", "analytics.transitions",
                     "analytics.safety", "analytics.outcomes")),
    ("population + cohort", ("analytics.cohorts", "analytics.population",
                             "analytics.attrition")),
    ("measures + results", ("analytics.results",)),
    # the Spark engine: the measures step run on buckets of patients, into the same results
    ("engines", ("analytics.spark",)),
    ("pages / report / CLI", ("analytics.figures", "analytics.exports", "analytics.cli",
                              "analytics.export_events",
                              "analytics.__main__", "ui", "pages", "dashboard")),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def step_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(STEPS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is in no step of the architecture: add it to STEPS")


def modules() -> dict[str, Path]:
    files = [*ROOT.glob("analytics/**/*.py"), *ROOT.glob("ui/*.py"), *ROOT.glob("pages/*.py"),
             ROOT / "dashboard.py"]
    return {module_name(p): p for p in files if module_name(p) != "analytics"}


def imports(path: Path) -> set[str]:
    """Names of project modules imported by the file (``from analytics import x`` names
    ``analytics.x`` when that is a module)."""
    known = set(modules()) | {"analytics"}
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            submodules = {f"{node.module}.{alias.name}" for alias in node.names
                          if f"{node.module}.{alias.name}" in known}
            out.update(submodules)
            # ``from package import submodule`` depends on the submodule, not on the
            # package's ``__init__`` (which Python runs first whatever is imported)
            if len(submodules) < len(node.names):
                out.add(node.module)
    return {m for m in out if m in known and m != "analytics"}


def test_no_module_imports_from_a_later_step():
    wrong = []
    for name, path in modules().items():
        for imported in imports(path):
            if step_of(imported) > step_of(name):
                wrong.append(f"{name} ({STEPS[step_of(name)][0]}) imports {imported} "
                             f"({STEPS[step_of(imported)][0]})")
    assert wrong == []


def test_no_circle():
    graph = {name: imports(path) for name, path in modules().items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("circle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_analytics_never_imports_streamlit():
    for name, path in modules().items():
        if name.startswith("analytics"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                     for alias in node.names]
            names += [node.module or "" for node in ast.walk(tree)
                      if isinstance(node, ast.ImportFrom)]
            assert not any(n == "streamlit" or n.startswith("streamlit.") for n in names), name


def test_the_privacy_threshold_reaches_no_measure():
    """No module of the measure definitions or of the cohort step knows the threshold."""
    for name, path in modules().items():
        if step_of(name) < step_of("analytics.results"):
            assert "min_cell" not in path.read_text(encoding="utf-8"), name


def test_only_the_spark_engine_imports_pyspark():
    """The app needs no pyspark (requirements-spark.txt is optional): no module outside
    ``analytics.spark`` imports it, and the engine's modules import it inside functions
    only, so ``import analytics.spark`` works without it (its worker daemon excepted)."""
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        inside = name == "analytics.spark" or name.startswith("analytics.spark.")
        nodes = tree.body if inside else list(ast.walk(tree))
        found = [alias.name for node in nodes if isinstance(node, ast.Import)
                 for alias in node.names]
        found += [node.module or "" for node in nodes if isinstance(node, ast.ImportFrom)]
        pyspark = [n for n in found if n == "pyspark" or n.startswith("pyspark.")]
        assert not pyspark or name == "analytics.spark.daemon", (name, pyspark)


def test_the_app_runs_without_pyspark():
    """With pyspark unimportable, every module of ``analytics/`` and ``ui/`` imports (the
    Spark engine's worker daemon excepted: Spark alone starts it), and ``python -m
    analytics summary`` runs with the local engine."""
    names = sorted(n for n in modules() if n.startswith(("analytics", "ui"))
                   and n not in ("analytics.__main__", "analytics.spark.daemon"))
    code = (
        "import importlib, runpy, sys\n"
        "sys.modules['pyspark'] = None  # import pyspark raises ImportError\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        "sys.argv = ['analytics', 'summary', 'tests/fixtures/small_clinic.csv']\n"
        "runpy.run_module('analytics', run_name='__main__')\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert '"events":' in proc.stdout
    assert "analytics.spark.engine" in names and "ui.data" in names

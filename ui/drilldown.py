"""From a pathway to its patients, and from a patient to the timeline (physicians only).

The Pathways page passes what the user picked — a row of the pathway table, a segment of
the sunburst, or a link of the Sankey (Streamlit 1.67 does not report clicks on a Sankey
link, so the links are offered in a list under it) — and this module lists the patients
behind the most recent pick (:func:`analytics.results.drilldown.pathway_patients`).
Picking a patient in that list opens the Patient timeline page on that patient.

A pick counts when it changed since the previous run, so an old selection that Streamlit
keeps does not take over again, and leaving the page does not reopen the timeline.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import streamlit as st

from analytics import pathways
from analytics.results.drilldown import Selection
from analytics.results.pathways import PathwaysResult, step_label
from analytics.results.privacy import OTHER_PATHWAYS
from ui import render
from ui.data import View

TIMELINE_PAGE = "pages/5_Patient_timeline.py"
PATIENT_KEY = "patient"  # the Patient timeline's patient selectbox (and URL parameter)
_SEEN = "_painpath_drill_seen"
_ACTIVE = "_painpath_drill_active"


def _changed(source: str, value: object) -> bool:
    """Whether ``value`` of ``source`` differs from the one seen on the previous run."""
    seen = st.session_state.setdefault(_SEEN, {})
    text = json.dumps(value, sort_keys=True, default=str)
    changed = seen.get(source) != text
    seen[source] = text
    return changed


def table_selection(result: PathwaysResult, rows: Sequence[int]) -> Selection | None:
    """The pathway table's selected row as a :class:`Selection`."""
    if not rows:
        return None
    row = int(rows[0])
    steps = result.steps[row]
    listed = tuple(result.steps)
    if steps == (OTHER_PATHWAYS,):
        return Selection("other", listed=listed)
    if len(steps) == 0:
        return Selection("untreated", listed=listed)
    return Selection("pathway", tuple(steps), listed=listed)


def sunburst_selection(result: PathwaysResult, points: Sequence[Mapping]) -> Selection | None:
    """A clicked sunburst segment (its ``id``: the step labels joined by " > ")."""
    ids = [p.get("id") for p in points if p.get("id")]
    if not ids:
        return None
    steps = tuple(str(ids[0]).split(pathways.STEP_SEPARATOR))
    return Selection("prefix", steps, listed=tuple(result.steps))


def link_options(result: PathwaysResult) -> list[tuple[int, str, str]]:
    """The Sankey's links as (step, from, to), in the Sankey table's order."""
    values = result.sankey.values
    return [(int(s), str(a), str(b)) for s, a, b in zip(values["step"], values["source"],
                                                        values["target"], strict=True)]


def link_text(result: PathwaysResult, link: tuple[int, str, str] | None) -> str:
    if link is None:
        return "—"
    step, source, target = link
    texts = dict(zip(link_options(result), result.sankey.texts("patients"), strict=True))
    return (f"Step {step} → {step + 1}: {step_label(source)} → {step_label(target)} "
            f"({texts.get(link, '')} patients)")


def pick(result: PathwaysResult, *, rows: Sequence[int], points: Sequence[Mapping],
         link: tuple[int, str, str] | None) -> Selection | None:
    """The selection to list: the most recent of the table row, the sunburst segment and
    the Sankey link (kept across reruns; cleared when that pick is cleared)."""
    candidates = {
        "table": (list(rows), table_selection(result, rows)),
        "sunburst": ([p.get("id") for p in points], sunburst_selection(result, points)),
        "link": (link, Selection("link", (link[1], link[2]), link[0],
                                 listed=tuple(result.steps)) if link else None),
    }
    active = st.session_state.get(_ACTIVE)
    for source, (raw, selection) in candidates.items():
        if _changed(f"pick:{source}", raw):
            if selection is not None:
                active = (source, selection)
            elif active is not None and active[0] == source:
                active = None
    if active is not None and active[1].listed != tuple(result.steps):
        active = None  # another cohort, mode or threshold: the pick no longer applies
    st.session_state[_ACTIVE] = active
    return None if active is None else active[1]


def patient_list(view: View, mode: str, techniques: tuple[str, ...],
                 selection: Selection) -> None:
    """List the patients behind ``selection``; a picked patient opens the timeline."""
    result = view.pathway_patients(mode, techniques, selection)
    table = result.patients
    st.subheader(table.title)
    st.caption(f"{len(table):,} patients (pseudonymous ids). Pick one to open the Patient "
               "timeline.")
    shown = table.display()
    event = st.dataframe(render.for_screen(shown), hide_index=True, key="drill_patients",
                         on_select="rerun", selection_mode="single-row", placeholder="–")
    rows = list(event["selection"]["rows"])
    if _changed("patients", [selection.describe(), rows]) and rows:
        patient = str(table.values["patient_id"].iloc[int(rows[0])])
        open_timeline(patient)


def open_timeline(patient: str) -> None:
    """Switch to the Patient timeline page on ``patient`` (the cohort's URL kept)."""
    st.session_state[PATIENT_KEY] = patient
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    params[PATIENT_KEY] = [patient]
    st.switch_page(TIMELINE_PAGE, query_params=params)


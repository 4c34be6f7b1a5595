"""Data: upload exports, check the mapping, map the values PainPath does not know, read the
ingest report, manage datasets."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import streamlit as st

from analytics.exports import to_csv_bytes
from analytics.ingest import (
    AUXILIARY_COLUMNS,
    EVENT_ROLES,
    MAPPING_KEYS,
    IngestError,
    ValueMap,
    detect,
    ingest,
    missing_required,
    value_map_from_frame,
    value_map_targets,
)
from analytics.schema import (
    INJECTION_TYPE_LABELS,
    REQUIRED_COLUMNS,
    TECHNIQUE_LABELS,
)
from analytics.store import Store
from ui import data
from ui.sidebar import page_setup, patient_level_views_enabled

page_setup("Data")
st.title("Data")
st.caption("Upload one or several files: a clinic CSV (comma, semicolon or tab), an Excel "
           "workbook, Parquet, or a whole Synthea or OMOP CDM export (select all its files). "
           "Columns with direct identifiers (names, addresses, SSN, phone, …) are refused and "
           "never stored.")

# --- human labels ----------------------------------------------------------------------------

FORMAT_LABELS = {"generic": "Clinic file", "synthea": "Synthea", "omop": "OMOP CDM"}
ROLE_LABELS = {
    "events": "treatment events", "medications": "medications", "procedures": "procedures",
    "careplans": "care plans", "drug_exposure": "drug exposures",
    "procedure_occurrence": "procedures", "conditions": "conditions",
    "condition_occurrence": "conditions", "diagnoses": "diagnoses", "patients": "patients",
    "person": "patients", "death": "death dates", "concept": "concept vocabulary",
    "encounters": "encounters", "visit_occurrence": "visits", "not_used": "not used",
    "skipped": "skipped",
}
ROLE_USE = {
    "patients": "sex, birth year and death date of each patient",
    "person": "sex, birth year of each patient",
    "death": "death dates: orders end at death",
    "conditions": "back-pain and opioid-use-disorder diagnoses",
    "condition_occurrence": "back-pain and opioid-use-disorder diagnoses",
    "diagnoses": "back-pain and opioid-use-disorder diagnoses",
    "concept": "names and codes of OMOP concepts",
    "encounters": "the physician and site of each encounter",
    "visit_occurrence": "the physician and site of each visit",
}
"""What the accepted rows of a role that are not events are read for."""
COLUMN_LABELS = {
    "patient_id": "Patient (pseudonym)", "event_date": "Date of service, fill or start",
    "technique": "Technique / treatment type", "end_date": "End date",
    "days_supply": "Days supply", "detail": "Drug or procedure description",
    "code": "Code (CPT, HCPCS, RxNorm, NDC, SNOMED)", "quantity": "Quantity",
    "strength": "Strength per unit", "mme_per_day": "MME per day",
    "injection_type": "Injection type", "provider_id": "Physician (pseudonym)",
    "site": "Site / clinic", "sex": "Sex", "birth_year": "Birth year", "age": "Age",
    "diagnosis": "Diagnosis", "pain_score": "Pain score (0–10)",
    "reason": "Reason / indication", "region": "Spinal region or level",
    "pharmacy_id": "Pharmacy (pseudonym)", "dispenses": "Dispenses",
    "death_year": "Death year", "reason_code": "Reason code", "refills": "Refills",
    "death_date": "Death date (only its year is kept)", "encounter_id": "Encounter / visit",
}
DRUG_CLASS_LABELS = {
    "benzodiazepine": "Benzodiazepine (kept for the safety measures)",
    "gabapentinoid": "Gabapentinoid (kept for the safety measures)",
    "naloxone": "Naloxone (kept for the safety measures)",
    "oud_treatment": "Opioid use-disorder treatment (kept for the safety measures)",
}
KIND_LABELS = {"technique": "Technique labels", "injection_type": "Injection-type labels",
               "description": "Drug and treatment descriptions"}
POPULATION_SOURCE_LABELS = {"conditions": "Conditions table",
                            "diagnosis_column": "Diagnosis column", "none": "No diagnoses"}
LEAVE = "leave"
"""The choice of a value the user leaves to PainPath's outcome."""


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 row``, ``2 rows`` (``many``: an irregular plural)."""
    return f"{n:,} {word if n == 1 else (many or word + 's')}"


def target_label(target: str) -> str:
    """A value-map target in words."""
    if target == LEAVE:
        return "— leave as it is"
    if target == "not_relevant":
        return "Not relevant"
    if target in TECHNIQUE_LABELS:
        return TECHNIQUE_LABELS[target]
    if target in INJECTION_TYPE_LABELS:
        return f"Injection: {INJECTION_TYPE_LABELS[target].lower()}"
    return DRUG_CLASS_LABELS.get(target, target)


def file_title(plan) -> str:
    """``**name** · Synthea · medications``."""
    parts = [f"**{plan.name}**", FORMAT_LABELS.get(plan.format, plan.format),
             ROLE_LABELS.get(plan.role, plan.role)]
    return " · ".join(p for p in parts if p)


# --- step 1: what was recognised, the column mapping -----------------------------------------

uploads = st.file_uploader(
    "Export files", type=["csv", "txt", "tsv", "xlsx", "parquet"], accept_multiple_files=True,
    key="uploads", help="Files stay in memory until you save them into the local store.")
# One entry per file name: the same file dropped twice would otherwise give two plans with
# the same widget keys (StreamlitDuplicateElementKey) and be ingested twice.
sources = list({u.name: (u.name, u.getvalue()) for u in uploads or []}.values())
if uploads and len(sources) < len(uploads):
    st.warning("Some files were selected more than once; each is used once (the last copy).",
               icon="⚠️")

MAPPABLE = list(MAPPING_KEYS)
"""Every column an explicit mapping may use (ingest computes the others, such as the drug
class and the open-order flag)."""


def _mapping_editor(plan) -> dict[str, str]:
    """Editable canonical-column → file-column mapping of one file."""
    table = pd.DataFrame({
        "canonical column": MAPPABLE,
        "column": [COLUMN_LABELS.get(c, c.replace("_", " ").capitalize()) for c in MAPPABLE],
        "required": [c in REQUIRED_COLUMNS for c in MAPPABLE],
        "file column": [plan.mapping.get(c, "") for c in MAPPABLE],
        "note": [AUXILIARY_COLUMNS.get(c, "") for c in MAPPABLE],
    })
    options = ["", *[c for c in plan.columns if c not in plan.refused_columns]]
    edited = st.data_editor(
        table, hide_index=True, key=f"map_{plan.name}", placeholder="—",
        disabled=["canonical column", "column", "required", "note"],
        column_config={
            "canonical column": None,
            "column": st.column_config.TextColumn("PainPath column", width="medium"),
            "required": st.column_config.CheckboxColumn("Required", width="small"),
            "file column": st.column_config.SelectboxColumn(
                "File column", options=options, width="medium"),
            "note": st.column_config.TextColumn("Note", width="large"),
        },
    )
    return {row["canonical column"]: row["file column"]
            for _, row in edited.iterrows() if row["file column"]}


def _missing_text(plan, missing: list[str]) -> str:
    names = ", ".join(COLUMN_LABELS.get(m, m) for m in missing)
    if plan.format == "generic":
        return f"Required column(s) not found: {names}. Pick them below."
    return (f"Required column(s) not found: {names}. The file's columns are: "
            + ", ".join(plan.columns))


def _recognise(sources) -> tuple[dict[str, dict[str, str]], bool] | None:
    """Step 1: each file's format, refused columns, mapping and preview.

    Returns the (edited) mappings and whether every file has its required columns, or None
    when no file can be read."""
    try:
        plans = detect(sources)
    except IngestError as exc:
        st.error(str(exc))
        return None
    mapping: dict[str, dict[str, str]] = {}
    complete = True
    st.subheader("1 · Check what was recognised")
    for plan in plans:
        if plan.skipped:
            st.warning(f"Skipped: {plan.skipped}", icon="⏭️")
            continue
        if plan.refused_columns:  # outside the expander: always visible
            st.warning(f"**{plan.name}**: refused as identifiers, never stored: "
                       + ", ".join(plan.refused_columns), icon="🛡️")
        with st.expander(file_title(plan),
                         expanded=plan.role == "events" or bool(plan.missing_required)):
            problem = st.empty()
            own = plan.mapping
            if plan.format == "generic" and plan.role != "not_used":
                own = _mapping_editor(plan)
                mapping[plan.name] = own
            elif plan.mapping:
                st.caption("Mapping: " + ", ".join(
                    f"{COLUMN_LABELS.get(k, k)} ← {v}" for k, v in plan.mapping.items()))
            missing = missing_required(plan.role, own) if plan.role != "not_used" else []
            if missing:
                complete = False
                problem.error(_missing_text(plan, missing))
            if plan.dropped_columns:
                st.caption("Not read (no PainPath column): " + ", ".join(plan.dropped_columns))
            if plan.preview is not None and len(plan.preview) and patient_level_views_enabled():
                st.dataframe(plan.preview, hide_index=True, key=f"preview_{plan.name}")
    return mapping, complete


# --- step 2: where to save -------------------------------------------------------------------


def _target(sources) -> tuple[str, str | None, int | None, ValueMap]:
    """Step 2: (action, new name, dataset id, the dataset's saved value map)."""
    st.subheader("2 · Where to save")
    existing = data.datasets()
    choices = ["New dataset"]
    if not existing.empty:
        choices += ["Add to a dataset", "Replace a dataset"]
    action = st.radio("Save as", choices, horizontal=True, key="save_action")
    if action == "New dataset":
        default_name = sources[0][0].rsplit(".", 1)[0] if len(sources) == 1 else "Upload"
        name = st.text_input("Dataset name", value=default_name, key="new_name")
        return action, name, None, ValueMap()
    target = st.selectbox("Dataset", existing["name"].tolist(), key="target_dataset")
    dataset_id = int(existing.loc[existing["name"] == target, "dataset_id"].iloc[0])
    saved = value_map_from_frame(data.with_store(Store.load_value_map, dataset_id))
    if len(saved):
        st.caption(f"The value map saved with **{target}** "
                   f"({plural(len(saved), 'value')}) applies to these files.")
    return action, None, dataset_id, saved


# --- step 3: values PainPath does not know ---------------------------------------------------


def _preview(sources, mapping, value_map: ValueMap):
    """The ingest of the files with the mapping and value map (an IngestResult, or the
    IngestError's message), kept for the session while the files and maps stay the same."""
    key = (tuple((name, hashlib.blake2b(content, digest_size=16).hexdigest())
                 for name, content in sources),
           json.dumps(mapping, sort_keys=True), value_map.rows)
    kept = st.session_state.get("upload_preview")
    if kept is None or kept[0] != key:
        try:
            with st.spinner("Reading the files…"):
                found = ingest(sources, mapping=mapping or None, value_map=value_map)
        except IngestError as exc:
            found = str(exc)
        kept = (key, found)
        st.session_state["upload_preview"] = kept
    return kept[1]


def _now(row) -> str:
    parts = [(row["classified"], "classified by code or description"),
             (row["not_relevant"], "not relevant"), (row["unknown"], "rejected")]
    return "; ".join(f"{plural(int(n), 'row')} {what}" for n, what in parts if n)


def _value_editor(kind: str, found: pd.DataFrame) -> list[tuple[str, str, str]]:
    """One editor per kind of value: the value, its rows, what happens to them now, and what
    it maps to.  Returns the value-map rows chosen."""
    st.markdown(f"**{KIND_LABELS[kind]}**")
    table = pd.DataFrame({
        "value": found["value"].astype(str), "rows": found["rows"].astype(int),
        "now": [_now(r) for _, r in found.iterrows()], "maps to": LEAVE,
    })
    options = [LEAVE, *value_map_targets(kind)]
    edited = st.data_editor(
        table, hide_index=True, key=f"values_{kind}", disabled=["value", "rows", "now"],
        column_config={
            "value": st.column_config.TextColumn("Value in the file", width="medium"),
            "rows": st.column_config.NumberColumn("Rows", width="small"),
            "now": st.column_config.TextColumn("Now", width="medium"),
            "maps to": st.column_config.SelectboxColumn(
                "Means", options=options, format_func=target_label, width="medium"),
        },
    )
    return [(kind, row["value"], row["maps to"]) for _, row in edited.iterrows()
            if row["maps to"] not in (LEAVE, None)]


def _values(preview) -> ValueMap:
    """Step 3: the values the files hold that PainPath does not know; returns the map the
    user chose (empty when there is nothing to map)."""
    unknown = preview.report.unknown_values()
    if unknown.empty:
        return ValueMap()
    st.subheader("3 · Values PainPath does not know")
    st.caption("Say what each value means: a technique, an injection type, a drug class kept "
               "for the safety measures, or not relevant. The choices are saved with the "
               "dataset and applied again when you add to it or replace it. A value left as it "
               "is keeps the outcome shown.")
    rows: list[tuple[str, str, str]] = []
    for kind in ("technique", "injection_type", "description"):
        found = unknown[unknown["kind"] == kind]
        if len(found):
            rows += _value_editor(kind, found)
    return value_map_from_frame(pd.DataFrame(rows, columns=["kind", "value", "maps_to"]))


# --- step 4: save ----------------------------------------------------------------------------


def _write(action, name, dataset_id, target_name, result, value_map: ValueMap, names):
    """Write the result into the store; returns the success message."""
    report = result.report.to_dict()
    # what ingest fixed for the population: the diagnoses, the extract date, their source
    fixed = {"diagnoses": result.diagnoses, "extract_date": result.extract_date,
             "population_source": result.population_source,
             "value_map": value_map.to_frame()}
    if action == "New dataset":
        data.with_store(Store.create_dataset, name, result.events, report, names, **fixed)
        return f"Created dataset **{name}** with {plural(len(result.events), 'event')}."
    if action == "Add to a dataset":
        added = data.with_store(Store.add_to_dataset, dataset_id, result.events, report, names,
                                **fixed)
        return (f"Added {plural(added, 'new event')} to **{target_name}** "
                f"({len(result.events) - added:,} were already there).")
    data.with_store(Store.replace_dataset, dataset_id, result.events, report, names, **fixed)
    return f"Replaced **{target_name}** with {plural(len(result.events), 'event')}."


def _save(sources, mapping, complete: bool) -> None:
    """Steps 2 to 4: where to save, the values to map, and on click: ingest and write in one
    transaction."""
    action, name, dataset_id, saved = _target(sources)
    preview = _preview(sources, mapping, saved) if complete else None
    chosen = ValueMap()
    if isinstance(preview, str):
        st.error(preview)
    elif preview is not None:
        chosen = _values(preview)
    ready = complete and preview is not None and not isinstance(preview, str)
    if not complete:
        st.caption("Pick every required column above to save.")
    if not st.button("Ingest and save", type="primary", key="save", disabled=not ready):
        return
    value_map = saved.merged(chosen)
    progress = st.progress(0.0, text="Reading and classifying…")
    try:
        result = (preview if not len(chosen)
                  else ingest(sources, mapping=mapping or None, value_map=value_map))
    except IngestError as exc:
        progress.empty()
        st.error(str(exc))
        return
    progress.progress(0.6, text=f"Saving {plural(len(result.events), 'event')}…")
    target_name = None
    if dataset_id is not None:
        target_name = st.session_state.get("target_dataset")
    try:
        message = _write(action, name, dataset_id, target_name, result, value_map,
                         [s[0] for s in sources])
    except ValueError as exc:
        progress.empty()
        st.error(str(exc))
        return
    progress.progress(1.0, text="Done")
    st.session_state.pop("upload_preview", None)
    st.session_state["last_ingest"] = (message, result)


if sources:
    recognised = _recognise(sources)
    if recognised is not None:
        _save(sources, *recognised)

# --- the upload report -----------------------------------------------------------------------


def _download(label: str, frame: pd.DataFrame, file_name: str, key: str) -> None:
    st.download_button(label, lambda: to_csv_bytes(frame), file_name, "text/csv", key=key,
                       on_click="ignore")


def _report(message: str, result) -> None:
    rep = result.report
    st.success(message)
    for f in rep.files:
        if f.refused_columns:
            st.warning(f"**{f.name}**: refused as identifiers, never stored: "
                       + ", ".join(f.refused_columns), icon="🛡️")
        if f.skipped:
            st.warning(f"Skipped: {f.skipped}", icon="⏭️")
    st.subheader("Upload report")
    c = st.columns(5)
    c[0].metric("Rows read", f"{rep.rows_read:,}")
    c[1].metric("Accepted", f"{rep.accepted:,}")
    c[2].metric("Rejected", f"{rep.rejected:,}")
    c[3].metric("Not relevant", f"{rep.not_relevant:,}",
                help="Rows that are not pain management (e.g. vaccines, antibiotics).")
    c[4].metric("Duplicates", f"{rep.duplicates:,}",
                help="Rows identical in every column to an earlier row of the same file.")
    _accepted_by_role(rep)
    per_file = pd.DataFrame([{
        "file": f.name, "what": " · ".join(p for p in (
            FORMAT_LABELS.get(f.format, f.format), ROLE_LABELS.get(f.role, f.role)) if p),
        "rows read": f.rows_read, "accepted": f.accepted, "rejected": f.rejected,
        "not relevant": f.not_relevant, "duplicates": f.duplicates,
        "columns not kept": _not_kept(f),
    } for f in rep.files])
    count = st.column_config.NumberColumn(width="small", format="localized")
    st.dataframe(per_file, hide_index=True, key="report_files", column_config={
        "rows read": count, "accepted": count, "rejected": count, "not relevant": count,
        "duplicates": count, "columns not kept": st.column_config.TextColumn(width="large")})
    raw_rows = patient_level_views_enabled()  # raw rows: physicians only
    _by_reason("Rejected rows by reason", rep, "rejected_by_reason", "report_reasons")
    if raw_rows and len(result.rejected):
        _download("Download rejected rows (CSV)", result.rejected, "rejected_rows.csv",
                  "dl_rejected")
    _by_reason("Not-relevant rows by reason", rep, "not_relevant_by_reason",
               "report_not_relevant")
    if raw_rows and len(result.not_relevant):
        _download("Download not-relevant rows (CSV)", result.not_relevant,
                  "not_relevant_rows.csv", "dl_not_relevant")
    if len(result.rejected) or len(result.not_relevant):
        st.caption("Downloads hold the row number a spreadsheet shows (the header is row 1), "
                   "the reason and the mapped columns only.")
    unknown = rep.unknown_values()
    if len(unknown):
        st.markdown("**Values PainPath did not know** (map them and replace the dataset)")
        st.dataframe(pd.DataFrame({
            "what": unknown["kind"].map(KIND_LABELS), "value": unknown["value"],
            "rows": unknown["rows"], "now": [_now(r) for _, r in unknown.iterrows()]}),
            hide_index=True, key="report_unknown")
    notes = [f"{f.name}: {n}" for f in rep.files for n in f.notes]
    if notes:
        with st.expander("Notes"):
            st.markdown("\n".join(f"- {n}" for n in notes))


def _not_kept(f) -> str:
    """The columns of a file that were not kept: refused as identifiers, and not read
    because no PainPath column is mapped to them."""
    parts = []
    if f.refused_columns:
        parts.append("refused: " + ", ".join(f.refused_columns))
    if f.dropped_columns:
        parts.append("not read (not mapped): " + ", ".join(f.dropped_columns))
    return "; ".join(parts)


def _accepted_by_role(rep) -> None:
    """Accepted rows vs saved events, per role."""
    events = rep.event_rows
    others = {r: n for r, n in rep.accepted_by_role.items() if r not in EVENT_ROLES and n}
    if not others:
        return
    verb = "is a treatment event" if events == 1 else "are treatment events"
    st.markdown(f"Of the {plural(rep.accepted, 'accepted row')}, {events:,} {verb}, saved as "
                "events. The others are read to complete the events and are not events:")
    st.dataframe(pd.DataFrame({
        "rows": [ROLE_LABELS.get(r, r) for r in others], "accepted": list(others.values()),
        "read for": [ROLE_USE.get(r, "") for r in others]}),
        hide_index=True, key="report_roles")


def _by_reason(title: str, rep, attribute: str, key: str) -> None:
    rows = [(f.name, reason, n) for f in rep.files for reason, n in getattr(f, attribute).items()]
    if rows:
        st.markdown(f"**{title}**")
        st.dataframe(pd.DataFrame(rows, columns=["file", "reason", "rows"]), hide_index=True,
                     key=key)


if "last_ingest" in st.session_state:
    _report(*st.session_state["last_ingest"])

# --- datasets ----------------------------------------------------------------------------------

st.subheader("Datasets in the store")
table = data.datasets()
if table.empty:
    st.info("The store is empty.")
else:
    shown = table.assign(population_source=table["population_source"].map(
        POPULATION_SOURCE_LABELS).fillna(table["population_source"]))
    st.dataframe(
        shown, hide_index=True, key="datasets",
        column_order=["name", "events", "patients", "extract_date", "population_source",
                      "updated_at", "source_files"],
        column_config={
            "dataset_id": None, "created_at": None, "version": None,
            "name": st.column_config.TextColumn("Name"),
            "events": st.column_config.NumberColumn("Events", format="localized"),
            "patients": st.column_config.NumberColumn("Patients", format="localized"),
            "extract_date": st.column_config.DateColumn("Extract date"),
            "population_source": st.column_config.TextColumn("Diagnoses from"),
            "updated_at": st.column_config.DatetimeColumn("Updated (UTC)",
                                                          format="YYYY-MM-DD HH:mm"),
            "source_files": st.column_config.TextColumn("Source files", width="medium"),
        })
    c1, c2 = st.columns([2, 1])
    doomed = c1.selectbox("Delete a dataset", table["name"].tolist(), index=None,
                          key="delete_name", placeholder="Choose a dataset")
    confirm = c2.checkbox("Yes, delete it", key="delete_confirm", disabled=doomed is None)
    if st.button("Delete", disabled=not (doomed and confirm), key="delete"):
        dataset_id = int(table.loc[table["name"] == doomed, "dataset_id"].iloc[0])
        data.with_store(Store.delete_dataset, dataset_id)
        st.success(f"Deleted {doomed}.")
        st.rerun()

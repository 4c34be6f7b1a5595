"""Data: upload exports, check the mapping, read the ingest report, manage datasets."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from analytics.exports import to_csv_bytes
from analytics.ingest import AUXILIARY_COLUMNS, MAPPING_KEYS, IngestError, detect, ingest
from analytics.schema import REQUIRED_COLUMNS
from analytics.store import Store
from ui import data
from ui.sidebar import page_setup, patient_level_views_enabled

page_setup("Data")
st.title("Data")
st.caption("Upload one or several files: a clinic CSV (comma, semicolon or tab), an Excel "
           "workbook, Parquet, or a whole Synthea or OMOP CDM export (select all its files). "
           "Columns with direct identifiers (names, addresses, SSN, phone, …) are refused and "
           "never stored.")

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
        "required": [c in REQUIRED_COLUMNS for c in MAPPABLE],
        "file column": [plan.mapping.get(c, "") for c in MAPPABLE],
        "note": [AUXILIARY_COLUMNS.get(c, "") for c in MAPPABLE],
    })
    options = ["", *[c for c in plan.columns if c not in plan.refused_columns]]
    edited = st.data_editor(
        table, hide_index=True, key=f"map_{plan.name}",
        disabled=["canonical column", "required", "note"],
        column_config={"file column": st.column_config.SelectboxColumn(options=options)},
    )
    return {row["canonical column"]: row["file column"]
            for _, row in edited.iterrows() if row["file column"]}


def _recognise(sources) -> dict[str, dict[str, str]] | None:
    """Step 1: show each file's format, refused columns, mapping and preview.

    Returns the (edited) mappings, or None when the files cannot be used.
    """
    try:
        plans = detect(sources)
    except IngestError as exc:
        st.error(str(exc))
        return None
    mapping: dict[str, dict[str, str]] = {}
    st.subheader("1 · Check what was recognised")
    for plan in plans:
        with st.expander(f"**{plan.name}** · {plan.format} · {plan.role}",
                         expanded=plan.role in ("events",) or bool(plan.missing_required)):
            if plan.refused_columns:
                st.warning("Refused (identifiers, never stored): "
                           + ", ".join(plan.refused_columns), icon="🛡️")
            if plan.missing_required:
                st.error("Required column(s) not found: " + ", ".join(plan.missing_required)
                         + ". Pick them below. File columns: " + ", ".join(plan.columns))
            if plan.format == "generic" and plan.role != "not_used":
                mapping[plan.name] = _mapping_editor(plan)
            elif plan.mapping:
                st.caption("Mapping: " + ", ".join(f"{k} ← {v}" for k, v in plan.mapping.items()))
            if plan.preview is not None and len(plan.preview) and patient_level_views_enabled():
                st.dataframe(plan.preview, hide_index=True, key=f"preview_{plan.name}")
    return mapping


def _save(sources, mapping: dict[str, dict[str, str]]) -> None:
    """Step 2: choose where to save; on click, ingest and write in one transaction."""
    st.subheader("2 · Save into the store")
    existing = data.datasets()
    choices = ["New dataset"]
    if not existing.empty:
        choices += ["Add to a dataset", "Replace a dataset"]
    action = st.radio("Save as", choices, horizontal=True, key="save_action")
    if action == "New dataset":
        default_name = sources[0][0].rsplit(".", 1)[0] if len(sources) == 1 else "Upload"
        name = st.text_input("Dataset name", value=default_name, key="new_name")
        target = None
    else:
        name = None
        target = st.selectbox("Dataset", existing["name"].tolist(), key="target_dataset")
    if not st.button("Ingest and save", type="primary", key="save"):
        return
    progress = st.progress(0.0, text="Reading and classifying…")
    try:
        result = ingest(sources, mapping=mapping or None)
    except IngestError as exc:
        progress.empty()
        st.error(str(exc))
        return
    progress.progress(0.6, text=f"Saving {len(result.events):,} events…")
    report = result.report.to_dict()
    names = [s[0] for s in sources]
    # what ingest fixed for the population: the diagnoses, the extract date, their source
    fixed = {"diagnoses": result.diagnoses, "extract_date": result.extract_date,
             "population_source": result.population_source}
    try:
        if action == "New dataset":
            data.with_store(Store.create_dataset, name, result.events, report, names, **fixed)
            message = f"Created dataset **{name}** with {len(result.events):,} events."
        else:
            dataset_id = int(existing.loc[existing["name"] == target, "dataset_id"].iloc[0])
            if action == "Add to a dataset":
                added = data.with_store(Store.add_to_dataset, dataset_id, result.events,
                                        report, names, **fixed)
                message = (f"Added {added:,} new events to **{target}** "
                           f"({len(result.events) - added:,} were already there).")
            else:
                data.with_store(Store.replace_dataset, dataset_id, result.events, report, names,
                                **fixed)
                message = f"Replaced **{target}** with {len(result.events):,} events."
    except ValueError as exc:
        progress.empty()
        st.error(str(exc))
        return
    progress.progress(1.0, text="Done")
    st.session_state["last_ingest"] = (message, result)


if sources:
    mapping = _recognise(sources)
    if mapping is not None:
        _save(sources, mapping)

if "last_ingest" in st.session_state:
    message, result = st.session_state["last_ingest"]
    st.success(message)
    rep = result.report
    st.subheader("Upload report")
    c = st.columns(5)
    c[0].metric("Rows read", f"{rep.rows_read:,}")
    c[1].metric("Accepted", f"{rep.accepted:,}")
    c[2].metric("Rejected", f"{rep.rejected:,}")
    c[3].metric("Not relevant", f"{rep.not_relevant:,}",
                help="Rows that are not pain management (e.g. vaccines, antibiotics).")
    c[4].metric("Duplicates", f"{rep.duplicates:,}",
                help="Rows identical in every column to an earlier row of the same file.")
    per_file = pd.DataFrame([{
        "file": f.name, "format": f.format, "role": f.role, "rows read": f.rows_read,
        "accepted": f.accepted, "rejected": f.rejected, "not relevant": f.not_relevant,
        "duplicates": f.duplicates, "refused columns": ", ".join(f.refused_columns),
    } for f in rep.files])
    st.dataframe(per_file, hide_index=True, key="report_files")
    reasons = pd.DataFrame(
        [(f.name, reason, n) for f in rep.files for reason, n in f.rejected_by_reason.items()],
        columns=["file", "reason", "rows"])
    if len(reasons):
        st.markdown("**Rejected rows by reason**")
        st.dataframe(reasons, hide_index=True, key="report_reasons")
        if patient_level_views_enabled():  # raw rows: physicians only
            st.download_button("Download rejected rows (CSV)", to_csv_bytes(result.rejected),
                               "rejected_rows.csv", "text/csv", key="dl_rejected",
                               on_click="ignore")
    notes = [f"{f.name}: {n}" for f in rep.files for n in f.notes]
    if notes:
        with st.expander("Notes"):
            st.markdown("\n".join(f"- {n}" for n in notes))

st.subheader("Datasets in the store")
table = data.datasets()
if table.empty:
    st.info("The store is empty.")
else:
    st.dataframe(
        table, hide_index=True, key="datasets",
        column_config={
            "dataset_id": st.column_config.NumberColumn("Id", width="small"),
            "name": "Name", "created_at": st.column_config.DatetimeColumn("Created"),
            "updated_at": st.column_config.DatetimeColumn("Updated"),
            "source_files": "Source files", "events": st.column_config.NumberColumn("Events"),
            "patients": st.column_config.NumberColumn("Patients"),
            "version": st.column_config.NumberColumn("Version", width="small"),
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

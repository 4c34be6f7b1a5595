"""Encounters and visits (issue 10, item 4): the provider and site of each treatment row
from Synthea ``encounters.csv`` (by ``ENCOUNTER``) and OMOP ``visit_occurrence`` (by
``visit_occurrence_id``); the row's own provider wins."""

from __future__ import annotations

import pandas as pd

from analytics.ingest import ingest

ENCOUNTERS = """Id,START,STOP,PATIENT,ORGANIZATION,PROVIDER,PAYER,ENCOUNTERCLASS,CODE,DESCRIPTION
e1,2020-01-02T10:00:00Z,2020-01-02T11:00:00Z,p1,org-A,prov-1,pay,ambulatory,1,Visit
e2,2020-02-02T10:00:00Z,2020-02-02T11:00:00Z,p1,org-B,prov-2,pay,ambulatory,1,Visit
,2020-03-02T10:00:00Z,2020-03-02T11:00:00Z,p1,org-B,prov-2,pay,ambulatory,1,Visit
"""
MEDICATIONS = """START,STOP,PATIENT,PAYER,ENCOUNTER,CODE,DESCRIPTION,DISPENSES
2020-01-02T10:00:00Z,2020-01-20T10:00:00Z,p1,pay,e1,1049621,Oxycodone 5 MG Oral Tablet,1
2020-02-02T10:00:00Z,2020-02-20T10:00:00Z,p1,pay,e2,1049621,Oxycodone 5 MG Oral Tablet,1
2020-03-02T10:00:00Z,2020-03-20T10:00:00Z,p1,pay,e9,1049621,Oxycodone 5 MG Oral Tablet,1
"""


def _files(**texts: str) -> list[tuple[str, bytes]]:
    return [(f"{name}.csv", text.encode()) for name, text in texts.items()]


def test_synthea_medications_take_provider_and_site_from_their_encounter():
    result = ingest(_files(encounters=ENCOUNTERS, medications=MEDICATIONS))
    events = result.events.sort_values("event_date")
    assert events["provider_id"].fillna("-").tolist() == ["prov-1", "prov-2", "-"]
    assert events["site"].fillna("-").tolist() == ["org-A", "org-B", "-"]
    meds = next(f for f in result.report.files if f.name == "medications.csv")
    assert meds.mapping["encounter_id"] == "ENCOUNTER"
    assert "provider of 2 and site of 2 row(s) taken from their encounter" in meds.notes
    assert "1 row(s) name an encounter the encounters table does not hold" in meds.notes
    enc = next(f for f in result.report.files if f.name == "encounters.csv")
    assert (enc.role, enc.accepted, enc.rejected) == ("encounters", 2, 1)
    assert enc.rejected_by_reason == {"missing encounter id": 1}
    assert enc.mapping == {"encounter_id": "Id", "patient_id": "PATIENT",
                           "provider_id": "PROVIDER", "site": "ORGANIZATION"}
    assert result.report.event_rows == 3 and result.report.accepted == 5


def test_without_encounters_synthea_rows_have_no_provider():
    events = ingest(_files(medications=MEDICATIONS)).events
    assert events["provider_id"].isna().all()


VISITS = """visit_occurrence_id,person_id,visit_concept_id,visit_start_date,provider_id,care_site_id
11,1,9202,2020-01-02,501,7001
12,1,9202,2020-02-02,502,7002
"""
DRUGS = ("drug_exposure_id,person_id,drug_concept_id,drug_exposure_start_date,"
         "drug_exposure_end_date,drug_type_concept_id,provider_id,visit_occurrence_id,"
         "drug_source_value\n") + """\
1,1,1124957,2020-01-02,2020-01-20,38000177,,11,Oxycodone 5 MG Oral Tablet
2,1,1124957,2020-02-02,2020-02-20,38000177,900,12,Oxycodone 5 MG Oral Tablet
"""
CONCEPT = ("concept_id,concept_name,domain_id,vocabulary_id,concept_class_id,"
           "standard_concept,concept_code\n") + """\
1124957,Oxycodone 5 MG Oral Tablet,Drug,RxNorm,Clinical Drug,S,1049621
"""


def test_omop_visits_give_care_site_and_a_missing_provider():
    result = ingest(_files(VISIT_OCCURRENCE=VISITS, DRUG_EXPOSURE=DRUGS, CONCEPT=CONCEPT))
    events = result.events.sort_values("event_date")
    assert events["provider_id"].tolist() == ["501", "900"]  # the row's own 900 wins
    assert events["site"].tolist() == ["7001", "7002"]
    visits = next(f for f in result.report.files if f.name == "VISIT_OCCURRENCE.csv")
    assert (visits.format, visits.role, visits.accepted) == ("omop", "visit_occurrence", 2)
    assert isinstance(events["site"].dtype, pd.StringDtype)

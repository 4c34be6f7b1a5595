"""Values PainPath does not know, and the value map (issue 10, item 3): the starter table
of German, French and Spanish names, the unknown values an ingest lists, and the map that
says what a clinic's own labels and drug names mean."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics.ingest import (
    IngestError,
    ValueMap,
    classify,
    english_drug_names,
    ingest,
    read_value_map,
    value_map_from_frame,
    value_map_targets,
)
from analytics.ingest.value_map import Target, from_rows, parse_target

GERMAN = """Patienten-ID;Datum;Behandlung;Medikament;Tage
P1;05.01.2023;Physiotherapie;;
P1;06.01.2023;Rückenschule;;
P1;07.01.2023;Rückenschule;;
P2;08.01.2023;Medikament;Oxycodon 5 mg Tablette;30
P2;09.01.2023;Medikament;Hydrocodon/Paracetamol 10/325 mg;14
P2;10.01.2023;Medikament;Novaminsulfon 500 mg;10
P3;11.01.2023;PRT;;
P3;12.01.2023;Injektion;;
P3;13.01.2023;Operation;;
P3;14.01.2023;Medikament;Cyclobenzaprin 10 mg;10
P3;15.01.2023;Medikament;Morphin 10 mg Retardtabletten;30
"""
# Rows 2, 5, 6, 9, 10, 11, 12 classify through the starter table (Physiotherapie,
# Oxycodon, Hydrocodon/Paracetamol, Injektion, Operation, Cyclobenzaprin, Morphin);
# "Rückenschule" (rows 3-4) and "PRT" (row 8) are labels PainPath does not know (rejected
# as unknown technique); Novaminsulfon (metamizole, row 7) is a drug it does not know
# (not relevant: not pain management).


def _german(value_map=None):
    return ingest([("praxis.csv", GERMAN.encode("cp1252"))], value_map=value_map)


@pytest.mark.parametrize(
    ("label", "detail", "technique", "drug_class"),
    [
        ("Physiotherapie", None, "physical_therapy", ""),
        ("Krankengymnastik", None, "physical_therapy", ""),
        ("Kinésithérapie", None, "physical_therapy", ""),
        ("Fisioterapia", None, "physical_therapy", ""),
        ("Injektion", None, "injection", ""),
        ("Infiltración epidural", None, "injection", ""),
        ("Operation", None, "surgery", ""),
        ("Cirugía", None, "surgery", ""),
        ("Muskelrelaxans", None, "muscle_relaxant", "muscle_relaxant"),
        ("Medikament", "Oxycodon 5 mg", "narcotic", "opioid"),
        (None, "Oxycodon", "narcotic", "opioid"),
        (None, "Morphin", "narcotic", "opioid"),
        (None, "Morfina 10 mg comprimidos", "narcotic", "opioid"),
        (None, "Hydrocodon/Paracetamol", "narcotic", "opioid"),
        (None, "Codéine", "narcotic", "opioid"),
        (None, "Fentanilo parche transdérmico 25 mcg/h", "narcotic", "opioid"),
        (None, "Oxycodon/Naloxon 10 mg/5 mg", "narcotic", "opioid"),
        (None, "Tilidin/Naloxon", "narcotic", "opioid"),
        (None, "Palexia retard 50 mg", "narcotic", "opioid"),
        (None, "Cyclobenzaprin", "muscle_relaxant", "muscle_relaxant"),
        (None, "Ciclobenzaprina 10 mg", "muscle_relaxant", "muscle_relaxant"),
        (None, "Tizanidin 4 mg", "muscle_relaxant", "muscle_relaxant"),
        (None, "Thiocolchicoside 4 mg gélule", "muscle_relaxant", "muscle_relaxant"),
        (None, "Tolperison 50 mg", "muscle_relaxant", "muscle_relaxant"),
        (None, "Bromazepam 6 mg", "other", "benzodiazepine"),
        (None, "Prégabaline 75 mg", "other", "gabapentinoid"),
        (None, "Buprénorphine/naloxone", "other", "oud_treatment"),
        (None, "Naloxona", "other", "naloxone"),
    ],
)
def test_starter_table_classifies_german_french_spanish_names(label, detail, technique,
                                                             drug_class):
    got = classify(label=label, detail=detail)
    assert (got.technique, got.drug_class) == (technique, drug_class)


@pytest.mark.parametrize(
    "detail",
    ["Morphin Injektionslösung 10 mg/ml", "Morfina solución inyectable", "Fentanyl ampoule"],
)
def test_translated_injections_are_anaesthesia_opioids(detail):
    got = classify(detail=detail)
    assert got.technique == "not_relevant"
    assert got.reason == "anaesthesia / procedural opioid injection"


def test_english_names():
    assert english_drug_names("Oxycodonhydrochlorid 10 mg Retardtabletten") == (
        "oxycodonehydrochlorid 10 mg extended release tablet")
    assert english_drug_names("Hydrocodon/Paracetamol") == "hydrocodone/acetaminophen"
    assert english_drug_names("Morphine sulfate") == "morphine sulfate"  # English unchanged


def test_a_medication_label_leaves_the_row_to_its_drug_name():
    assert classify(label="Medikament", detail="Novaminsulfon").technique == "not_relevant"
    assert classify(label="Medication").technique == "not_relevant"
    assert classify(label="Rückenschule").technique == "unknown"


def test_ingest_lists_the_values_it_does_not_know():
    result = _german()
    report = result.report
    (f,) = report.files
    assert (f.accepted, f.rejected, f.not_relevant) == (7, 3, 1)
    unknown = report.unknown_values()
    assert unknown.values.tolist() == [
        ["technique", "Rückenschule", 2, 0, 0, 2],
        ["description", "Novaminsulfon 500 mg", 1, 0, 1, 0],
        ["technique", "PRT", 1, 0, 0, 1],
    ]
    assert f.unknown_values[0]["column"] == "Behandlung"
    assert any(n.startswith("2 technique label(s) PainPath does not know, on 3 row(s) "
                            "('Rückenschule', 'PRT')") for n in f.notes)
    events = result.events.sort_values("event_date")
    assert events["technique"].tolist() == [
        "physical_therapy", "narcotic", "narcotic", "injection", "surgery", "muscle_relaxant",
        "narcotic"]


def test_the_value_map_decides_the_values():
    value_map = from_rows([
        ("technique", "Rückenschule", "physical_therapy"),
        ("technique", "prt", "epidural_steroid"),  # case and accents do not matter
        ("drug", "Novaminsulfon 500 mg", "Not relevant"),
    ])
    result = _german(value_map)
    (f,) = result.report.files
    assert (f.accepted, f.rejected, f.not_relevant) == (10, 0, 1)
    assert result.report.unknown_values().empty
    events = result.events.sort_values("event_date")
    assert events["technique"].tolist()[:3] == ["physical_therapy"] * 3
    prt = events[events["event_date"] == pd.Timestamp("2023-01-11")]
    assert prt[["technique", "injection_type"]].values.tolist() == [
        ["injection", "epidural_steroid"]]
    assert result.not_relevant[["row", "reason"]].values.tolist() == [
        [7, "mapped as not relevant: 'Novaminsulfon 500 mg'"]]


def test_a_mapped_label_wins_over_the_tables_and_a_mapped_drug_gets_its_class():
    value_map = from_rows([("technique", "Physiotherapie", "not_relevant"),
                           ("description", "Novaminsulfon 500 mg", "gabapentinoid")])
    events = _german(value_map).events
    assert "physical_therapy" not in set(events["technique"])
    novaminsulfon = events[events["detail"] == "Novaminsulfon 500 mg"]
    assert novaminsulfon[["technique", "drug_class"]].values.tolist() == [
        ["other", "gabapentinoid"]]


def test_injection_type_values():
    text = "Patient,Date,Technique,Injection Type\nP1,2024-01-05,Injection,Facettenblock\n"
    result = ingest([("a.csv", text.encode())])
    assert result.events["injection_type"].tolist() == ["other"]
    assert result.report.unknown_values()[["kind", "value", "rows"]].values.tolist() == [
        ["injection_type", "Facettenblock", 1]]
    value_map = from_rows([("injection_type", "Facettenblock", "facet")])
    events = ingest([("a.csv", text.encode())], value_map=value_map).events
    assert events["injection_type"].tolist() == ["facet"]


def test_parse_target():
    assert parse_target("technique", "Physical therapy") == Target("physical_therapy")
    assert parse_target("technique", "facet") == Target("injection", "facet")
    assert parse_target("description", "benzodiazepine") == Target("other", "", "benzodiazepine")
    assert parse_target("injection_type", "other") == Target("injection", "other")
    with pytest.raises(ValueError, match="not something a injection-type value can map to"):
        parse_target("injection_type", "narcotic")
    assert value_map_targets("injection_type")[0] == "epidural_steroid"
    assert value_map_targets("technique")[-1] == "not_relevant"


def test_value_map_rows_are_checked_and_later_rows_win():
    vm = from_rows([("technique", "A", "narcotic"), ("Technique", "a ", "surgery"),
                    ("technique", "B", ""), ("drug", "", "narcotic")])
    assert vm.rows == (("technique", "a", "surgery"),)  # values as given, trimmed
    assert vm.lookup("technique", "A") == Target("surgery")
    with pytest.raises(ValueError, match="value map row 1: 'colour' is not a kind of value"):
        from_rows([("colour", "A", "narcotic")])
    merged = vm.merged(from_rows([("technique", "A", "narcotic")]))
    assert merged.lookup("technique", "a") == Target("narcotic")
    assert len(ValueMap().merged(None)) == 0


def test_value_map_frame_round_trip():
    vm = from_rows([("technique", "Rückenschule", "physical therapy"),
                    ("description", "Novaminsulfon", "not relevant")])
    frame = vm.to_frame()
    assert frame.values.tolist() == [["technique", "Rückenschule", "physical_therapy"],
                                     ["description", "Novaminsulfon", "not_relevant"]]
    assert value_map_from_frame(frame) == vm
    renamed = frame.rename(columns={"kind": "Column", "maps_to": "Maps to"})
    assert value_map_from_frame(renamed) == vm
    with pytest.raises(ValueError, match="needs the columns kind"):
        value_map_from_frame(frame.drop(columns="maps_to"))


def test_read_value_map(tmp_path):
    path = tmp_path / "map.csv"
    path.write_text("\ufeffcolumn,value,maps_to\ntechnique,Rückenschule,physical_therapy\n\n"
                    "drug,Novaminsulfon 500 mg,not_relevant\n", encoding="utf-8")
    vm = read_value_map(path)
    assert vm.lookup("description", "novaminsulfon 500 MG") == Target("not_relevant")
    path.write_text("kind,value,maps_to\ntechnique,Yoga,meditation\n")
    with pytest.raises(IngestError, match="map.csv: value map row 1: 'meditation' is not"):
        read_value_map(path)
    with pytest.raises(IngestError, match="cannot read the value map"):
        read_value_map(tmp_path / "absent.csv")

"""Tests of analytics.indications: condition kinds from codes and descriptions."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analytics import indications, vocab
from analytics.indications import condition_kind

EXPORTS = Path(__file__).resolve().parents[1].parent / "shared" / "exports"


def kinds(pairs):
    codes = [c for c, _ in pairs]
    descriptions = [d for _, d in pairs]
    return list(condition_kind(codes, descriptions))


@pytest.mark.parametrize(
    "code, expected",
    [
        # ICD-10-CM, dotted and undotted, billable and parent codes
        ("M54.5", "spinal_pain"),
        ("M545", "spinal_pain"),
        ("M54.50", "spinal_pain"),
        ("m54.59", "spinal_pain"),
        ("M54.2", "spinal_pain"),  # cervicalgia
        ("M54.6", "spinal_pain"),  # pain in thoracic spine
        ("M51.16", "spinal_pain"),
        ("M51.362", "spinal_pain"),  # FY2025 six-character disc degeneration code
        ("M50.20", "spinal_pain"),
        ("M47.816", "spinal_pain"),
        ("M48.062", "spinal_pain"),
        ("M48.50XA", "other"),  # collapsed vertebra: M48.0 only is stenosis
        ("M43.16", "spinal_pain"),  # spondylolisthesis
        ("M46.1", "spinal_pain"),  # sacroiliitis
        ("M46.20", "other"),  # vertebral osteomyelitis
        ("M53.3", "spinal_pain"),  # coccydynia
        ("M62.830", "spinal_pain"),  # muscle spasm of back
        ("M62.831", "other"),  # muscle spasm of calf
        ("M96.1", "spinal_pain"),
        ("M41.26", "other"),  # scoliosis
        ("S33.5XXA", "other"),  # lumbar sprain: an acute injury
        ("S13.4XXA", "other"),  # whiplash
        ("G89.0", "general_pain"),
        ("G89.11", "general_pain"),
        ("G89.29", "general_pain"),
        ("G8929", "general_pain"),
        ("G89.4", "general_pain"),
        ("R52", "general_pain"),
        ("G89.3", "other"),  # neoplasm related pain
        ("G893", "other"),
        ("M79.7", "other"),  # fibromyalgia
        ("G43.909", "other"),  # migraine
        ("M17.11", "other"),  # primary osteoarthritis, right knee
        ("S93.401A", "other"),  # ankle sprain
        ("F43.10", "other"),  # PTSD
        ("F11.20", "opioid_use_disorder"),
        ("F1110", "opioid_use_disorder"),
        ("T40.1X1A", "opioid_use_disorder"),  # heroin poisoning, accidental
        ("T40.2X4D", "opioid_use_disorder"),
        ("T40.4X1A", "opioid_use_disorder"),  # before FY2023
        ("T40.411A", "opioid_use_disorder"),  # fentanyl poisoning
        ("T40.494A", "opioid_use_disorder"),
        ("T40.601A", "opioid_use_disorder"),
        ("T40.2X5A", "other"),  # adverse effect of opioids, not an overdose
        ("T40.2X6A", "other"),  # underdosing
        ("T40.5X1A", "other"),  # cocaine
        # SNOMED CT ids
        ("161891005", "spinal_pain"),
        ("279039007", "spinal_pain"),
        ("278860009", "spinal_pain"),
        ("278860009.0", "spinal_pain"),  # read as a float somewhere
        ("81680005", "spinal_pain"),
        ("1121000119107", "spinal_pain"),
        ("23056005", "spinal_pain"),
        ("22253000", "general_pain"),
        ("82423001", "general_pain"),
        ("274663001", "general_pain"),
        ("5602001", "opioid_use_disorder"),
        ("55680006", "opioid_use_disorder"),
        ("1149222004", "opioid_use_disorder"),
        ("44465007", "other"),  # sprain of ankle
        ("203082005", "other"),  # fibromyalgia
        ("239873007", "other"),  # osteoarthritis of knee
    ],
)
def test_codes(code, expected):
    assert kinds([(code, None)]) == [expected]


@pytest.mark.parametrize(
    "description, expected",
    [
        ("Chronic low back pain (finding)", "spinal_pain"),
        ("Chronic low back pain", "spinal_pain"),  # OMOP concept_name
        ("Low back pain", "spinal_pain"),
        ("Backache (finding)", "spinal_pain"),
        ("Chronic neck pain (finding)", "spinal_pain"),
        ("Cervicalgia", "spinal_pain"),
        ("Pain in thoracic spine", "spinal_pain"),
        ("Thoracic back pain", "spinal_pain"),
        ("Sciatica (disorder)", "spinal_pain"),
        ("Lumbago with sciatica, left side", "spinal_pain"),
        ("Radiculopathy, lumbar region", "spinal_pain"),
        ("Spinal stenosis, lumbar region with neurogenic claudication", "spinal_pain"),
        ("Other intervertebral disc degeneration, lumbar region", "spinal_pain"),
        ("Herniated disc", "spinal_pain"),
        ("Spondylosis without myelopathy or radiculopathy, lumbar region", "spinal_pain"),
        ("Failed back surgery syndrome", "spinal_pain"),
        ("Postlaminectomy syndrome, not elsewhere classified", "spinal_pain"),
        ("Sacroiliitis, not elsewhere classified", "spinal_pain"),
        ("Pain in lower back", "spinal_pain"),
        ("Chronic pain of knee", "other"),
        ("Chronic pain (finding)", "general_pain"),
        ("Chronic pain", "general_pain"),
        ("Pain (finding)", "general_pain"),
        ("Acute pain", "general_pain"),
        ("Pain, unspecified", "general_pain"),
        ("Other chronic pain", "general_pain"),
        ("Chronic pain syndrome", "general_pain"),
        ("Central pain syndrome", "general_pain"),
        ("Acute post-thoracotomy pain", "general_pain"),
        ("Other chronic postprocedural pain", "general_pain"),
        ("Neoplasm related pain (acute) (chronic)", "other"),
        ("Chronic pain due to malignancy", "other"),
        ("Joint pain (finding)", "other"),
        ("Chest pain", "other"),
        ("Fibromyalgia (disorder)", "other"),
        ("Chronic intractable migraine without aura", "other"),
        ("Osteoarthritis of knee (disorder)", "other"),
        ("Sprain of ankle (disorder)", "other"),
        ("Whiplash injury to neck (disorder)", "other"),
        ("Post-traumatic stress disorder", "other"),
        ("Disc displacement of temporomandibular joint", "other"),
        ("Opioid abuse (disorder)", "opioid_use_disorder"),
        ("Opioid dependence, uncomplicated", "opioid_use_disorder"),
        ("Opioid use disorder, severe", "opioid_use_disorder"),
        ("Drug overdose", "opioid_use_disorder"),
        ("Overdose (disorder)", "opioid_use_disorder"),
        ("Dependent drug abuse (disorder)", "opioid_use_disorder"),
        ("Poisoning by heroin, accidental (unintentional), initial encounter",
         "opioid_use_disorder"),
        ("Misuses drugs (finding)", "other"),
    ],
)
def test_descriptions(description, expected):
    assert kinds([(None, description)]) == [expected]


def test_chronic_pain_alone_is_general_not_spinal():
    assert kinds([("82423001", "Chronic pain (finding)")]) == ["general_pain"]


def test_code_decides_when_known_else_description():
    assert kinds(
        [
            ("M54.5", "Sprain of ankle"),  # known code wins over the description
            ("12345678", "Chronic low back pain (finding)"),  # unknown code: description
            ("12345678", "Fractured dental filling (finding)"),
            ("12345678", None),  # a code nobody knows: another condition
            ("ZZZ", ""),
        ]
    ) == ["spinal_pain", "spinal_pain", "other", "other", "other"]


def test_blank_is_empty_string():
    assert kinds([(None, None), ("", ""), ("  ", " "), (np.nan, pd.NA)]) == ["", "", "", ""]


def test_accepts_series_with_any_index_and_returns_object_array():
    codes = pd.Series(["M54.2", None, "R52"], index=[10, 20, 30], dtype="string")
    descs = pd.Series([None, "Chronic pain", None], index=[5, 6, 7], dtype="object")
    out = condition_kind(codes, descs)
    assert out.dtype == object
    assert list(out) == ["spinal_pain", "general_pain", "general_pain"]


def test_either_side_may_be_none_and_empty_input():
    assert list(condition_kind(["M54.5", None], None)) == ["spinal_pain", ""]
    assert list(condition_kind(None, ["Backache", "Fibromyalgia"])) == ["spinal_pain", "other"]
    assert len(condition_kind([], [])) == 0


def test_length_mismatch_is_an_error():
    with pytest.raises(ValueError, match="same length"):
        condition_kind(["M54.5"], ["a", "b"])


def test_counts_as_indication():
    out = indications.counts_as_indication(
        np.array(["", "spinal_pain", "general_pain", "other", "opioid_use_disorder"], dtype=object)
    )
    assert list(out) == [True, True, True, False, False]


def test_tables_are_versioned_cite_the_code_systems_and_do_not_overlap():
    seen: dict[str, str] = {}
    for kind, name in indications.KIND_TABLES.items():
        assert vocab.table_version(name) != "unversioned"
        head = (vocab.DATA_DIR / name).read_text(encoding="utf-8").split("\n")[:3]
        source = next(line for line in head if line.startswith("# source:"))
        assert "ICD-10-CM" in source and "SNOMED CT" in source
        assert "shared" not in source and "DOMAIN_NOTES" not in source
        table = vocab.load_table(name)
        for system, value in zip(table["system"], table["value"], strict=True):
            if system == "SNOMEDCT":
                assert value not in seen, f"{value} in {seen.get(value)} and {kind}"
                seen[value] = kind
                # each concept id is classified as its own table's kind
                assert kinds([(value, None)]) == [kind]
            if system == "TEXT":
                continue
        # every listed term (the code system's own title) reads as its kind
        for term, system in zip(table["term"], table["system"], strict=True):
            if system == "SNOMEDCT":
                assert kinds([(None, term)]) == [kind], term


def test_ten_thousand_distinct_pairs_over_a_million_rows_is_fast():
    rng = np.random.default_rng(7)
    pool_codes = np.array(["M54.5", "R52", "G89.3", "278860009", "", "F11.20"] +
                          [f"Z{i:05d}" for i in range(5000)], dtype=object)
    pool_desc = np.array(["Chronic pain", "", "Sprain of ankle"] +
                         [f"Condition number {i}" for i in range(5000)], dtype=object)
    codes = pool_codes[rng.integers(0, len(pool_codes), 1_000_000)]
    descs = pool_desc[rng.integers(0, len(pool_desc), 1_000_000)]
    start = time.perf_counter()
    out = condition_kind(codes, descs)
    elapsed = time.perf_counter() - start
    assert len(out) == 1_000_000
    assert elapsed < 3.0, elapsed


@pytest.mark.parametrize("folder", ["synthea-105", "synthea-27"])
def test_synthea_conditions(folder):
    path = EXPORTS / folder / "conditions.csv"
    if not EXPORTS.exists():
        pytest.skip("../shared/exports is not present")
    cond = pd.read_csv(path, dtype=str)
    cond["kind"] = condition_kind(cond["CODE"], cond["DESCRIPTION"])
    by_code = dict(zip(cond["CODE"], cond["kind"], strict=True))
    assert by_code["278860009"] == "spinal_pain"  # Chronic low back pain (finding)
    assert by_code["1121000119107"] == "spinal_pain"  # Chronic neck pain (finding)
    assert by_code["82423001"] == "general_pain"  # Chronic pain
    assert by_code["44465007"] == "other"  # Sprain of ankle
    assert by_code["239872002"] == "other"  # Osteoarthritis of hip
    assert set(cond["kind"]) <= {"spinal_pain", "general_pain", "opioid_use_disorder", "other"}


def test_omop_concept_names():
    path = EXPORTS / "omop-synthea27nj" / "CONCEPT.csv"
    if not path.exists():
        pytest.skip("../shared/exports is not present")
    concept = pd.read_csv(path, dtype=str, keep_default_na=False)
    cond = concept[concept["domain_id"] == "Condition"]
    out = dict(zip(cond["concept_name"],
                   condition_kind(cond["concept_code"], cond["concept_name"]), strict=False))
    assert out["Chronic low back pain"] == "spinal_pain"
    assert out["Chronic neck pain"] == "spinal_pain"
    assert out["Chronic pain"] == "general_pain"
    assert out["Pain"] == "general_pain"
    assert out["Opioid abuse"] == "opioid_use_disorder"
    assert out["Drug overdose"] == "opioid_use_disorder"
    assert out["Joint pain"] == "other"
    assert out["Whiplash injury to neck"] == "other"

"""Deterministic generator of a realistic synthetic pain-clinic export.

Writes a *generic clinic CSV* — the shape of a real EHR / pharmacy export, not the
canonical table — so that the app's sample dataset goes through the same ingest as
an upload.  Columns, in this order (:data:`COLUMNS`)::

    patient_id,event_date,technique,end_date,days_supply,detail,code,quantity,strength,
    injection_type,provider_id,site,sex,birth_year,age,diagnosis,pain_score,
    reason,region,pharmacy_id,dispenses,death_date

- ``technique`` is the clinic's treatment-type label: ``physical_therapy``,
  ``muscle_relaxant``, ``narcotic``, ``injection``, ``surgery`` or ``other`` (office visits,
  benzodiazepines, gabapentinoids, naloxone, buprenorphine-naloxone; their drug class is
  left to ingest, which classifies the RxNorm-style ``detail``), ``unknown`` on bad rows.
- ``diagnosis``: the ICD-10-CM code of the encounter (the patient's spinal-pain code;
  ``F11.20`` on medication rows after an opioid-use-disorder diagnosis; a non-spinal code
  on every row of the ~2 % of patients who have no spinal-pain diagnosis).
- ``reason``: the indication recorded on the row, mostly empty; a spinal-pain code or
  text ("Chronic low back pain"), a general-pain text ("Chronic pain") or another
  indication (a knee sprain treated with PT, a wrist fracture treated with an opioid).
- ``region``: canonical spinal region of an injection (``cervical_thoracic`` or
  ``lumbar_sacral``), written on every injection whose CPT code does not name a region
  (sacroiliac, trigger point) when it is known, and on half of the others; the CPT codes
  themselves name the region (62321/64479/64490/64633 cervical/thoracic,
  62323/64483/64493/64635 lumbar/sacral).
- ``pharmacy_id`` on every medication row; ``dispenses`` on orders written with refills
  (never on Schedule II opioids, 21 CFR 1306.12); ``death_date`` (ISO) on every row of a
  patient who died.

Every clinical rate is a constant in the "Rates" section below, next to its source.
Content, per 2,400 patients from 2022-01-01 over 3.5 years (the defaults):

- first steps, PT episodes, relaxant fills, episodic narcotic courses, injection series,
  multi-level sessions, short intervals, payer-limit overruns as before; now also cervical
  injections and patients injected in both regions;
- long-term opioid therapy (LTOT) with dose bands, monthly fills, tapers (Agnoli's
  definition) and rapid tapers, abrupt and tapered discontinuations, cross-covering
  prescribers and pharmacy changes (a few patients with >= 4 of each);
- benzodiazepines (chronic and intermittent), gabapentinoids, naloxone co-dispensed
  with high-risk fills, opioid-use disorder with a few buprenorphine-naloxone switches;
- pain scores around injection sessions (baseline, follow-up office visits 1-42 days
  after, sustained >= 50 % relief for some, transient or none for others);
- spine surgery after failed conservative care (more often after injections without
  relief), deaths at US age-specific rates;
- ~0.3 % deliberately bad rows and ~0.1 % exact duplicates, as before.

Deterministic and streaming: patients are generated in blocks of
:data:`BLOCK_PATIENTS`, each from its own random stream ``(seed, block)``, so the output
for a seed does not depend on how it is chunked; a chunk is whole blocks (no patient is
ever split) and only one chunk is in memory at a time.  Vectorised within a block (no
per-patient Python loop).

Usage::

    python -m sample_data.generate [--patients 2400 | --events N] [--seed 20240101]
        [--format csv|parquet] [--out PATH] [--chunk-rows 1000000]
        [--start 2022-01-01] [--years 3.5]

CSV goes to one file; Parquet to a folder of ``part-00000.parquet`` … files, one per
chunk, each holding whole patients.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20240101
DEFAULT_PATIENTS = 2400
DEFAULT_START = "2022-01-01"
DEFAULT_YEARS = 3.5
DEFAULT_OUT = Path(__file__).with_name("painpath_sample.csv")
DEFAULT_CHUNK_ROWS = 1_000_000

BLOCK_PATIENTS = 1200
"""Patients per random stream.  Part of the recipe: changing it changes the output."""

COLUMNS: tuple[str, ...] = (
    "patient_id",
    "event_date",
    "technique",
    "end_date",
    "days_supply",
    "detail",
    "code",
    "quantity",
    "strength",
    "injection_type",
    "provider_id",
    "site",
    "sex",
    "birth_year",
    "age",
    "diagnosis",
    "pain_score",
    "reason",
    "region",
    "pharmacy_id",
    "dispenses",
    "death_date",
)

TECHNIQUE_LABELS: tuple[str, ...] = (
    "physical_therapy",
    "muscle_relaxant",
    "narcotic",
    "injection",
    "surgery",
    "other",
    "unknown",  # only on deliberately bad rows
)
PT, MR, NARC, INJ, SURG, OTHER, UNKNOWN = range(7)

INJECTION_TYPES: tuple[str, ...] = (
    "epidural_steroid",
    "facet",
    "radiofrequency_ablation",
    "sacroiliac",
    "trigger_point",
    "nerve_block",
)

REGIONS: tuple[str, ...] = ("cervical_thoracic", "lumbar_sacral")
CERVICAL, LUMBAR = 0, 1

PROVIDERS: tuple[str, ...] = tuple(f"DR{i:02d}" for i in range(1, 9))
PROVIDER_WEIGHTS = np.array([0.20, 0.18, 0.16, 0.14, 0.12, 0.11, 0.09])  # DR01..DR07
SITES: tuple[str, ...] = ("North Clinic", "South Clinic")
SEXES: tuple[str, ...] = ("F", "M")
PHARMACIES: tuple[str, ...] = tuple(f"PH{i:03d}" for i in range(1, 31))

# ---- Rates ------------------------------------------------------------------------------
# Every clinical rate used below, with its source.  "PainPath assumption" marks a figure
# for which no published rate was found; it is chosen to be plausible and says so.

# First technique: PT 74.5 %, narcotic 17 %, relaxant 8 %, injection 0.5 %; then each other
# technique with the shares in the code (PainPath assumption: a pain clinic that follows
# the non-pharmacological-first guideline most of the time, CDC 2022 Recommendation 2).
FIRST_STEP_P = np.array([0.745, 0.17, 0.08, 0.005])  # PT, NARC, MR, INJ
LATER_PT, LATER_MR, LATER_MR_NARC_FIRST, LATER_NARC = 0.45, 0.30, 0.35, 0.42
LATER_INJ, LATER_INJ_FBSS = 0.38, 0.85
NARC_SHARE = FIRST_STEP_P[1] + (1 - FIRST_STEP_P[1]) * LATER_NARC  # patients ever on opioids

# Long-term opioid therapy: 18.8 % of US adults with chronic low back pain use prescription
# opioids, 76.9 % of them long term (Shmagel A et al., J Pain 2018;19(10):1104-12,
# NHANES 2009-10) -> 14.5 % of patients; LTOT patients are drawn among opioid users.
LTOT_SHARE = 0.188 * 0.769
# Three in four LTOT patients are established on it when the export begins (their first
# fill in the first month): PainPath assumption from the long durations of LTOT (median
# 2 years on therapy, Shmagel 2018; 8.5 % stop a year, Neprash 2021, so that the patients
# already on LTOT outnumber those starting it during a 3.5-year export).
LTOT_ESTABLISHED_SHARE = 0.75
# LTOT daily dose bands < 50 / 50-89 / >= 90 MME: 61.6 / 15.7 / 22.7 % of 2,738 LTOT
# patients ("Opioid dose risk, clinician and patient characteristics, and adherence to
# guidelines for long-term opioid therapy", J Opioid Manag, pp. 413-22; Penn State Health).
LTOT_BAND_P = np.array([0.616, 0.157, 0.227])
# LTOT discontinuation: 8.5 % of LTOT users a year (2017), 81.2 % of discontinuations
# abrupt (Neprash HT, Gaye M, Barnett ML, J Gen Intern Med 2021;36:1576-83).
LTOT_STOP_PER_YEAR = 0.085
LTOT_ABRUPT_SHARE = 0.812
# Tapering (Agnoli A et al., JAMA 2021;326(5):411-19): after a 12-month stable baseline
# >= 50 MME/day, 18.2 % of baseline periods are followed by a taper within the 7-month
# follow-up; 20.5 % of tapered periods end in discontinuation.  Maximum monthly dose
# reduction velocity: median 22.7 % (IQR 15-41.3 %, Agnoli); 18.8 % of tapers faster than
# 40 % a month (Fenton JJ et al., JAMA Netw Open 2019;2(11):e1916271).  Velocities are
# drawn as: rapid (18.8 %) uniform 45-80 %, else log-normal through Agnoli's median and
# lower quartile, within 10-40 %.
TAPER_BASELINE_DAYS = 365
TAPER_PER_FOLLOW_UP = 0.182
TAPER_FOLLOW_UP_DAYS = 213
TAPER_TO_STOP_SHARE = 0.205
TAPER_RAPID_SHARE = 0.188
TAPER_VELOCITY_MEDIAN = 0.227
TAPER_VELOCITY_Q1 = 0.15
# Episodic (non-LTOT) courses: short 76 % / medium 24 % (PainPath assumption; most initial
# courses short, CDC 2022 Recommendation 6: <= 7 days for acute pain); 18 % a second course.
EPISODIC_SHORT_SHARE = 0.76
SECOND_COURSE_SHARE = 0.18
# Benzodiazepine with an opioid: 17 % of opioid users (2013) had >= 1 day of concurrent
# benzodiazepine use (Sun EC et al., BMJ 2017;356:j760).  Without an opioid: 5.6 % of US
# adults filled a benzodiazepine in 2013 (Bachhuber MA et al., Am J Public Health
# 2016;106:686-8).  Chronic (monthly) benzodiazepine use among LTOT benzo users: 60 %
# (PainPath assumption; Sun: the rise was driven by intermittent opioid users).
BENZO_WITH_OPIOID = 0.17
BENZO_WITHOUT_OPIOID = 0.056
BENZO_CHRONIC_IN_LTOT = 0.60
# Gabapentinoids: 14.2 % of 1,158,875 patients with isolated low back pain within a year
# of diagnosis (PearlDiver M91Ortho 2019, Yale School of Medicine study); 6.9 % current
# use among US adults with chronic low back pain (Shmagel 2018).  Pregabalin share of
# gabapentinoid visits 53.7 M / 262.6 M = 20.4 % (NAMCS 2003-16, J Clin Med 2020;9:83).
GABAPENTINOID_SHARE = 0.142
PREGABALIN_SHARE = 53.7 / (208.9 + 53.7)
# Naloxone: 1.5 naloxone prescriptions dispensed per 100 high-dose (>= 50 MME/day) opioid
# prescriptions in 2018 (Guy GP Jr et al., MMWR 2019;68(31):679-86); applied to every
# high-risk fill (>= 50 MME/day, during benzodiazepine use, after an OUD diagnosis).
NALOXONE_PER_RISK_FILL = 0.015
# Opioid use disorder among LTOT patients: addiction 8-12 % (Vowles KE et al., Pain
# 2015;156:569-76) -> 10 %; 12.5 % of patients with OUD receive medication for OUD
# (Wakeman SE et al., JAMA Netw Open 2020;3(2):e1920622).
OUD_IN_LTOT = 0.10
MOUD_SHARE = 0.125
# Prescribers and pharmacies: 76.9 % of patients used one prescriber and one pharmacy for
# Schedule II opioids, < 0.5 % >= 5 pharmacies (Katz N et al., Pharmacoepidemiol Drug Saf
# 2010;19:115-23); 0.7 % of opioid purchasers are outliers using ~10 prescribers (McDonald
# DC, Carlson KE, PLoS One 2013;8:e69241).  Per fill: another clinic physician 15 % (cross
# cover), another pharmacy 5 %, "hoppers" 2 % of opioid users (PainPath assumption, chosen
# so that >= 4 prescribers in a year comes near the HEDIS UOP national averages, 13.5-19.3 %
# of members in 2022, NCQA State of Health Care Quality).
CROSS_COVER_PER_FILL = 0.20
OTHER_PHARMACY_PER_FILL = 0.05
HOPPER_SHARE = 0.02
# Sustained >= 50 % relief of injections: transforaminal ESI 54 % at 1 month (Ghahreman A
# et al., Pain Med 2010;11:1149-68); facet steroid injection 42 % (Carette S et al., N Engl
# J Med 1991;325:1002-7); lumbar medial-branch RFA 60 % (Dreyfuss P et al., Spine
# 2000;25:1270-7); sacroiliac, trigger point, nerve block: the facet figure (PainPath
# assumption).  A responder responds to 85 % of sessions, a non-responder to 10 %
# (PainPath assumption); 30 % of the sessions without sustained relief bring transient
# relief (PainPath assumption).
RESPONSE_BY_TYPE = {
    "epidural_steroid": 0.54,
    "facet": 0.42,
    "radiofrequency_ablation": 0.60,
    "sacroiliac": 0.42,
    "trigger_point": 0.42,
    "nerve_block": 0.42,
}
RESPONDER_SESSION, NON_RESPONDER_SESSION, TRANSIENT_SHARE = 0.85, 0.10, 0.30
# Spine surgery after failed conservative care: 12.5 % of lumbar-ESI patients within
# 6 months, 16.9 % within a year ("Lumbar epidural steroid injections for herniation and
# stenosis: incidence and risk factors of subsequent surgery", Spine J 2019;19:199-205);
# cervical ESI 14.5 % within a year (Spine J 2019, "Cervical epidural steroid injections:
# incidence and determinants of subsequent surgery").  Without an ESI: 1.2 % of newly
# diagnosed low back pain within a year (Kim LH et al., JAMA Netw Open 2019;2:e193676).
# Surgery three times as likely after a series without relief (PainPath assumption).
SURGERY_AFTER_ESI = {LUMBAR: 0.169, CERVICAL: 0.145}
SURGERY_AFTER_ESI_WITHIN_6M = 0.125 / 0.169
SURGERY_NO_RELIEF_FACTOR = 3.0
SURGERY_WITHOUT_ESI_PER_YEAR = 0.012
# Deaths: US death rates per 100,000 by age, 2019 (Xu JQ et al., Deaths: final data for
# 2019, Natl Vital Stat Rep 2021;70(8)): 25-34 128.8, 35-44 199.2, 45-54 392.4,
# 55-64 883.3, 65-74 1764.6, 75-84 4308.3, 85+ 13228.6; long-acting opioid therapy
# HR 1.64 for all-cause death (Ray WA et al., JAMA 2016;315:2415-23).
DEATH_AGE_BANDS = np.array([0, 35, 45, 55, 65, 75, 85])
DEATH_RATE_PER_100K = np.array([128.8, 199.2, 392.4, 883.3, 1764.6, 4308.3, 13228.6])
LTOT_DEATH_HR = 1.64
# Muscle relaxants: initiators among LTOT patients, cyclobenzaprine 552,649, tizanidine
# 214,838, baclofen 136,650, methocarbamol 124,662, carisoprodol 117,633, metaxalone 67,435
# (Khan NF et al., Neurology 2022; PMID 35835561).
MR_INITIATORS = np.array([552649, 214838, 136650, 124662, 117633, 67435], dtype=float)
# Carisoprodol, taken regularly, for 35 % of the relaxant users on long-term opioids and a
# benzodiazepine (PainPath assumption: the "holy trinity" pattern, Horsfall JT, Sprague JE,
# Basic Clin Pharmacol Toxicol 2017;120:115-9).
CARISOPRODOL_IN_TRINITY = 0.35
# Spinal region of a patient: lumbar 80 %, cervical 15 %, both 5 % (PainPath assumption;
# lumbar/sacral epidurals dominate Medicare use, Manchikanti L et al., BMJ Open
# 2016;6:e013042).
REGION_KIND_P = np.array([0.80, 0.15, 0.05])  # lumbar, cervical, both
# Patients without a spinal-pain diagnosis (knee, general chronic pain): 2 %; PT for a knee
# sprain 1.5 %, an opioid fill for a wrist fracture 1 % (PainPath assumptions).
NON_SPINAL_SHARE = 0.02
KNEE_PT_SHARE = 0.015
FRACTURE_OPIOID_SHARE = 0.01
# Refills: orders of non-Schedule-II drugs carry refills (21 CFR 1306.22: up to 5 within
# 6 months); share of orders written with refills (PainPath assumption).
REFILL_ORDER_SHARE = {"muscle_relaxant": 0.20, "benzodiazepine": 0.40, "gabapentinoid": 0.50,
                      "opioid": 0.10}

LUMBAR_DIAGNOSES: tuple[tuple[str, float], ...] = (
    ("M54.50", 0.22),
    ("M54.51", 0.04),
    ("M54.59", 0.08),
    ("M54.16", 0.11),
    ("M54.17", 0.05),
    ("M51.16", 0.10),
    ("M51.26", 0.06),
    ("M51.360", 0.03),
    ("M51.362", 0.03),
    ("M51.369", 0.02),
    ("M47.816", 0.08),
    ("M48.061", 0.05),
    ("M48.062", 0.07),
    ("M96.1", 0.06),
)
CERVICAL_DIAGNOSES: tuple[tuple[str, float], ...] = (
    ("M54.2", 0.45),
    ("M54.12", 0.30),
    ("M47.812", 0.25),
)
NON_SPINAL_DIAGNOSES: tuple[tuple[str, float], ...] = (
    ("G89.29", 0.40),
    ("M17.11", 0.35),
    ("M25.561", 0.25),
)
OUD_DIAGNOSIS = "F11.20"
FBSS = "M96.1"
DIAGNOSES: tuple[str, ...] = (
    *(d for d, _ in LUMBAR_DIAGNOSES),
    *(d for d, _ in CERVICAL_DIAGNOSES),
    *(d for d, _ in NON_SPINAL_DIAGNOSES),
    OUD_DIAGNOSIS,
)
_DX = {d: i for i, d in enumerate(DIAGNOSES)}

REASON_TEXTS: tuple[str, ...] = (
    "Chronic low back pain",
    "Neck pain",
    "Chronic pain",  # general pain: the row still counts
    "S83.511A",
    "Sprain of anterior cruciate ligament of right knee",
    "S52.501A",
    "Fracture of lower end of right radius",
)
REASONS: tuple[str, ...] = (*DIAGNOSES, *REASON_TEXTS)
_REASON = {r: i for i, r in enumerate(REASONS)}


@dataclass(frozen=True)
class Item:
    """One orderable / billable item: a row's technique, detail, code and strength."""

    technique: int
    detail: str
    code: str = ""
    strength: float = float("nan")
    injection_type: str = ""
    per_day: float = float("nan")  # units per day for medications
    mme_unit: float = 0.0  # MME per unit taken per day (strength x CDC 2022 factor)
    patch_mme: float = 0.0  # MME/day of a transdermal patch (mcg/hr x 2.4)
    region: int = -1  # spinal region named by the CPT code
    group: str = ""  # drug group for refills and risk (opioid, benzodiazepine, ...)
    refills: bool = False  # may be written with refills (not Schedule II)


# Physical therapy (CPT descriptors abbreviated as a billing system prints them).
PT_EVAL = (
    Item(PT, "Physical therapy evaluation, low complexity", "97161"),
    Item(PT, "Physical therapy evaluation, moderate complexity", "97162"),
    Item(PT, "Physical therapy evaluation, high complexity", "97163"),
)
PT_REEVAL = Item(PT, "Physical therapy re-evaluation", "97164")
PT_VISIT = (
    Item(PT, "Therapeutic exercise, each 15 min", "97110"),
    Item(PT, "Manual therapy techniques, each 15 min", "97140"),
    Item(PT, "Neuromuscular re-education, each 15 min", "97112"),
    Item(PT, "Therapeutic activities, each 15 min", "97530"),
)
PT_VISIT_P = np.array([0.45, 0.25, 0.12, 0.18])

# Muscle relaxants: RxNorm-style description, strength in mg, units per day.
MUSCLE_RELAXANTS = (
    Item(MR, "Cyclobenzaprine Hydrochloride 10 MG Oral Tablet", "", 10, per_day=3,
         group="muscle_relaxant", refills=True),
    Item(MR, "Tizanidine 4 MG Oral Tablet", "", 4, per_day=3, group="muscle_relaxant",
         refills=True),
    Item(MR, "Baclofen 10 MG Oral Tablet", "", 10, per_day=3, group="muscle_relaxant",
         refills=True),
    Item(MR, "Methocarbamol 750 MG Oral Tablet", "", 750, per_day=4, group="muscle_relaxant",
         refills=True),
    Item(MR, "carisoprodol 350 MG Oral Tablet", "", 350, per_day=3, group="muscle_relaxant",
         refills=True),
    Item(MR, "Metaxalone 800 MG Oral Tablet", "", 800, per_day=3, group="muscle_relaxant",
         refills=True),
)
MR_P = MR_INITIATORS / MR_INITIATORS.sum()
CARISOPRODOL = MUSCLE_RELAXANTS[4]


def _opioid(detail: str, code: str, strength: float, per_day: float, factor: float,
            *, patch: bool = False, refills: bool = False) -> Item:
    """A narcotic item; MME from the CDC 2022 conversion factor of its opioid ingredient."""
    return Item(NARC, detail, code, strength, per_day=per_day,
                mme_unit=0.0 if patch else strength * factor,
                patch_mme=strength * factor if patch else 0.0, group="opioid",
                refills=refills)


# Narcotics: strength is the opioid ingredient's mg (mcg/hr for patches); CDC 2022 factors
# oxycodone 1.5, hydrocodone 1, tramadol 0.2, codeine 0.15, tapentadol 0.4, morphine 1,
# hydromorphone 5, fentanyl patch 2.4 per mcg/hr.  RxNorm codes only where verified
# against the Synthea exports; the rest carry no code (common in exports keyed on NDC).
N_OXY5 = _opioid("Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet", "1049221",
                 5, 4, 1.5)
N_HYD5 = _opioid("Hydrocodone Bitartrate 5 MG / Acetaminophen 325 MG Oral Tablet", "", 5, 5, 1)
N_TRAM = _opioid("Tramadol Hydrochloride 50 MG Oral Tablet", "835603", 50, 4, 0.2, refills=True)
N_COD = _opioid("Codeine Phosphate 30 MG / Acetaminophen 300 MG Oral Tablet", "", 30, 4, 0.15,
                refills=True)
N_TAP = _opioid("Tapentadol 50 MG Oral Tablet", "", 50, 4, 0.4)
N_MOR15 = _opioid("Morphine Sulfate 15 MG Extended Release Oral Tablet", "", 15, 2, 1)
N_FEN25 = _opioid("72 HR Fentanyl 0.025 MG/HR Transdermal System", "245134", 25, 1 / 3, 2.4,
                  patch=True)
N_OXY10 = _opioid("Acetaminophen 325 MG / Oxycodone Hydrochloride 10 MG Oral Tablet", "", 10, 6,
                  1.5)
N_MOR30 = _opioid("Morphine Sulfate 30 MG Extended Release Oral Tablet", "", 30, 3, 1)
N_FEN50 = _opioid("72 HR Fentanyl 0.05 MG/HR Transdermal System", "", 50, 1 / 3, 2.4, patch=True)
N_HYD10 = _opioid("Hydrocodone Bitartrate 10 MG / Acetaminophen 325 MG Oral Tablet", "", 10, 6, 1)
N_HM4 = _opioid("Hydromorphone Hydrochloride 4 MG Oral Tablet", "", 4, 5, 5)
N_OXYER20 = _opioid("12 HR Oxycodone Hydrochloride 20 MG Extended Release Oral Tablet", "", 20,
                    2, 1.5)
NARCOTICS = (N_OXY5, N_HYD5, N_TRAM, N_COD, N_TAP, N_MOR15, N_FEN25, N_OXY10, N_MOR30, N_FEN50,
             N_HYD10, N_HM4, N_OXYER20)
SHORT_COURSE_DRUGS = (N_OXY5, N_HYD5, N_TRAM, N_COD, N_TAP)
SHORT_COURSE_P = np.array([0.27, 0.33, 0.26, 0.08, 0.06])
# LTOT products by dose band: (item, units/day low, high, weight).  Weights are a PainPath
# assumption (hydrocodone and oxycodone the most dispensed, a minority long-acting).
LTOT_PRODUCTS: tuple[tuple[tuple[Item, int, int, float], ...], ...] = (
    ((N_OXY5, 3, 5, 0.30), (N_HYD5, 4, 8, 0.35), (N_TRAM, 3, 4, 0.20), (N_MOR15, 2, 3, 0.10),
     (N_TAP, 2, 2, 0.05)),  # < 50 MME/day
    ((N_OXY10, 4, 5, 0.30), (N_HYD10, 6, 8, 0.25), (N_MOR30, 2, 2, 0.15), (N_FEN25, 1, 1, 0.10),
     (N_TAP, 3, 4, 0.10), (N_OXYER20, 2, 2, 0.10)),  # 50-89
    ((N_OXY10, 6, 8, 0.30), (N_MOR30, 3, 4, 0.20), (N_FEN50, 1, 1, 0.15), (N_HM4, 5, 6, 0.15),
     (N_OXYER20, 3, 4, 0.20)),  # >= 90
)

# Drugs kept for the safety measures (technique "other"; ingest names their class).
BENZODIAZEPINES = (
    Item(OTHER, "alprazolam 0.5 MG Oral Tablet", "", 0.5, per_day=3, group="benzodiazepine",
         refills=True),
    Item(OTHER, "clonazepam 0.5 MG Oral Tablet", "", 0.5, per_day=2, group="benzodiazepine",
         refills=True),
    Item(OTHER, "lorazepam 1 MG Oral Tablet", "", 1, per_day=2, group="benzodiazepine",
         refills=True),
    Item(OTHER, "diazepam 5 MG Oral Tablet", "", 5, per_day=3, group="benzodiazepine",
         refills=True),
)
BENZO_P = np.array([0.35, 0.30, 0.20, 0.15])  # PainPath assumption (alprazolam most dispensed)
GABAPENTIN = Item(OTHER, "gabapentin 300 MG Oral Capsule", "", 300, per_day=3,
                  group="gabapentinoid", refills=True)
PREGABALIN = Item(OTHER, "pregabalin 75 MG Oral Capsule", "", 75, per_day=2,
                  group="gabapentinoid", refills=True)
NALOXONE = Item(OTHER, "naloxone 4 MG/ACTUAT Nasal Spray", "", 4, per_day=2, group="naloxone")
BUP_NALOXONE = Item(OTHER, "buprenorphine 8 MG / naloxone 2 MG Sublingual Film", "", 8,
                    per_day=2, group="oud_treatment")
OFFICE_VISITS = (
    Item(OTHER, "Office or other outpatient visit, established patient, 20 minutes", "99213"),
    Item(OTHER, "Office or other outpatient visit, established patient, 30 minutes", "99214"),
)


def _inj(detail: str, code: str, kind: str, region: int = -1) -> Item:
    return Item(INJ, detail, code, injection_type=kind, region=region)


# Injections (CPT).  Add-on codes are the extra levels of a multi-level session.
INJ_L = {
    "esi_il": _inj("Injection, interlaminar epidural, lumbar or sacral, with imaging guidance",
                   "62323", "epidural_steroid", LUMBAR),
    "esi_tf": _inj("Injection, transforaminal epidural, with imaging guidance, lumbar or sacral, "
                   "single level", "64483", "epidural_steroid", LUMBAR),
    "esi_tf+": _inj("Injection, transforaminal epidural, with imaging guidance, lumbar or "
                    "sacral, each additional level", "64484", "epidural_steroid", LUMBAR),
    "facet": _inj("Injection, paravertebral facet joint, lumbar or sacral, with imaging "
                  "guidance, single level", "64493", "facet", LUMBAR),
    "facet+": _inj("Injection, paravertebral facet joint, lumbar or sacral, with imaging "
                   "guidance, second level", "64494", "facet", LUMBAR),
    "rfa": _inj("Destruction by neurolytic agent, paravertebral facet joint nerve, lumbar or "
                "sacral, single facet joint", "64635", "radiofrequency_ablation", LUMBAR),
    "rfa+": _inj("Destruction by neurolytic agent, paravertebral facet joint nerve, lumbar or "
                 "sacral, each additional facet joint", "64636", "radiofrequency_ablation",
                 LUMBAR),
    "si": _inj("Injection, sacroiliac joint, anesthetic/steroid, with image guidance", "27096",
               "sacroiliac"),
    "tpi": _inj("Injection, single or multiple trigger point(s), 1 or 2 muscle(s)", "20552",
                "trigger_point"),
    "nb": _inj("Injection, anesthetic agent, other peripheral nerve or branch", "64450",
               "nerve_block"),
}
INJ_C = {
    "esi_il": _inj("Injection, interlaminar epidural, cervical or thoracic, with imaging "
                   "guidance", "62321", "epidural_steroid", CERVICAL),
    "esi_tf": _inj("Injection, transforaminal epidural, with imaging guidance, cervical or "
                   "thoracic, single level", "64479", "epidural_steroid", CERVICAL),
    "esi_tf+": _inj("Injection, transforaminal epidural, with imaging guidance, cervical or "
                    "thoracic, each additional level", "64480", "epidural_steroid", CERVICAL),
    "facet": _inj("Injection, paravertebral facet joint, cervical or thoracic, with imaging "
                  "guidance, single level", "64490", "facet", CERVICAL),
    "facet+": _inj("Injection, paravertebral facet joint, cervical or thoracic, with imaging "
                   "guidance, second level", "64491", "facet", CERVICAL),
    "rfa": _inj("Destruction by neurolytic agent, paravertebral facet joint nerve, cervical or "
                "thoracic, single facet joint", "64633", "radiofrequency_ablation", CERVICAL),
    "rfa+": _inj("Destruction by neurolytic agent, paravertebral facet joint nerve, cervical or "
                 "thoracic, each additional facet joint", "64634", "radiofrequency_ablation",
                 CERVICAL),
    "tpi": INJ_L["tpi"],
    "nb": _inj("Injection, anesthetic agent, greater occipital nerve", "64405", "nerve_block"),
}
INJ_C["si"] = INJ_C["facet"]  # no cervical sacroiliac joint (such series become facet series)
INJ_KINDS = ("esi_il", "esi_tf", "facet", "si", "tpi", "nb")
INJ_KIND_P = np.array([0.20, 0.30, 0.20, 0.10, 0.12, 0.08])

SURGERIES_L = (Item(SURG, "Lumbar laminectomy", "63030"),
               Item(SURG, "Lumbar spinal fusion", "22612"))
SURGERIES_C = (Item(SURG, "Anterior cervical discectomy, single interspace", "63075"),
               Item(SURG, "Cervical laminectomy, single segment", "63045"))
BAD_ITEM = Item(UNKNOWN, "Unspecified treatment", "")


def _unique_items() -> tuple[Item, ...]:
    seen: dict[Item, None] = {}
    for it in (*PT_EVAL, PT_REEVAL, *PT_VISIT, *MUSCLE_RELAXANTS, *NARCOTICS, *BENZODIAZEPINES,
               GABAPENTIN, PREGABALIN, NALOXONE, BUP_NALOXONE, *OFFICE_VISITS,
               *INJ_L.values(), *INJ_C.values(), *SURGERIES_L, *SURGERIES_C, BAD_ITEM):
        seen.setdefault(it, None)
    return tuple(seen)


ITEMS: tuple[Item, ...] = _unique_items()
_IDX = {it: i for i, it in enumerate(ITEMS)}
_TECH = np.array([it.technique for it in ITEMS], np.int64)
_PER_DAY = np.array([it.per_day for it in ITEMS])
_MME_UNIT = np.array([it.mme_unit for it in ITEMS])
_PATCH_MME = np.array([it.patch_mme for it in ITEMS])
_ITEM_REGION = np.array([it.region for it in ITEMS], np.int64)
_IS_PATCH = _PATCH_MME > 0
_REFILLS = np.array([it.refills for it in ITEMS])
_IS_NERVE_BLOCK = np.array([it.injection_type == "nerve_block" for it in ITEMS])
_ADD_ON = np.full(len(ITEMS), -1, np.int64)
for _table in (INJ_L, INJ_C):
    for _base in ("esi_tf", "facet", "rfa"):
        _ADD_ON[_IDX[_table[_base]]] = _IDX[_table[_base + "+"]]

BAD_DATE = "2023-02-30"
_NONE = -1
_FAR = 10**9  # a day offset beyond any span ("never")


def _ids(items) -> np.ndarray:
    return np.array([_IDX[it] for it in items], dtype=np.int64)


def _p(weights) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    return w / w.sum()


# ---- block generation ---------------------------------------------------------------------

_ROW_FIELDS = ("pat", "day", "item", "ds", "qty", "pain", "disp", "prov", "pharm", "region",
               "reason", "dx")


class _Events:
    """Accumulates event blocks (parallel numpy arrays) of one block of patients."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, np.ndarray]] = []

    def add(self, pat, day, item, **fields) -> None:
        n = len(pat)
        if n == 0:
            return
        block = {
            "pat": np.asarray(pat, dtype=np.int64),
            "day": np.asarray(day, dtype=np.int64),
            "item": np.broadcast_to(np.asarray(item, dtype=np.int64), (n,)).copy(),
        }
        for name in _ROW_FIELDS[3:]:
            value = fields.pop(name, None)
            block[name] = (np.full(n, _NONE, np.int64) if value is None
                           else np.broadcast_to(np.asarray(value, np.int64), (n,)).copy())
        if fields:
            raise TypeError(f"unknown fields {sorted(fields)}")
        self.blocks.append(block)

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([b[k] for b in self.blocks]) for k in _ROW_FIELDS}


def _expand(pat: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat each patient ``counts`` times; return (patient per row, 0-based number)."""
    counts = np.asarray(counts, dtype=np.int64)
    rep = np.repeat(pat, counts)
    starts = np.cumsum(counts) - counts
    k = np.arange(len(rep), dtype=np.int64) - np.repeat(starts, counts)
    return rep, k


def _group_cumsum(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting where ``k == 0`` (rows grouped, in order)."""
    if len(values) == 0:
        return values.copy()
    c = np.cumsum(values)
    start = np.maximum.accumulate(np.where(k == 0, np.arange(len(k)), 0))
    return c - (c - values)[start]


def _group_cummax(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running maximum of ``values`` within consecutive runs of equal ``group``."""
    if len(values) == 0:
        return values.copy()
    offset = np.cumsum(np.r_[0, group[1:] != group[:-1]]) * (np.abs(values).max() * 2 + 2)
    return np.maximum.accumulate(values + offset) - offset


def _month_day(dates: np.ndarray) -> np.ndarray:
    month = dates.astype("datetime64[M]")
    day = (dates - month.astype("datetime64[D]")).astype(np.int64)
    return (month.astype(np.int64) % 12) * 100 + day


def _calendar_age(birth: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Completed years between ``birth`` and ``on`` (datetime64[D] arrays)."""
    years = on.astype("datetime64[Y]").astype(np.int64) - birth.astype("datetime64[Y]").astype(
        np.int64
    )
    return years - (_month_day(on) < _month_day(birth)).astype(np.int64)


def _pick(rng: np.random.Generator, ids: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    return ids[rng.choice(len(ids), size=n, p=_p(p))]


def _daily_hazard(per_period: np.ndarray | float, days: float) -> np.ndarray:
    """Daily hazard of an event that happens to ``per_period`` of people within ``days``."""
    return -np.log1p(-np.asarray(per_period, dtype=float)) / days


def _time_to(rng: np.random.Generator, hazard: np.ndarray) -> np.ndarray:
    """Whole days to an exponential event with the given daily hazard (0 -> never)."""
    hazard = np.asarray(hazard, dtype=float)
    out = np.full(hazard.shape, _FAR, np.int64)
    pos = hazard > 0
    out[pos] = np.ceil(rng.exponential(1.0 / hazard[pos])).astype(np.int64)
    return np.minimum(out, _FAR)


@dataclass
class _Block:
    """Numeric arrays of one generated block: rows (sorted) and per-patient values."""

    rows: dict[str, np.ndarray]  # _ROW_FIELDS plus "end", "bad_date", "no_id"; "pat" local
    first: int  # global index of the block's first patient
    sex: np.ndarray
    provider: np.ndarray
    site: np.ndarray
    birth_offset: np.ndarray  # day offset of the birth date
    index_day: np.ndarray
    death_day: np.ndarray  # _FAR when alive at the end
    dx: np.ndarray


class _Generator:
    """Builds one block of patients; every draw comes from the block's own stream."""

    def __init__(self, rng: np.random.Generator, n: int, span: int) -> None:
        self.rng = rng
        self.n = n
        self.span = span
        self.ev = _Events()

    # -- patients ------------------------------------------------------------------------
    def patients(self) -> None:
        rng, n, span = self.rng, self.n, self.span
        self.pats = np.arange(n, dtype=np.int64)
        self.sex = (rng.random(n) >= 0.56).astype(np.int64)  # 0 F, 1 M
        self.age0 = np.clip(np.rint(rng.normal(57, 15, n)), 18, 95).astype(np.int64)
        self.index_day = rng.integers(0, span - 90, n)
        self.region_kind = rng.choice(3, size=n, p=REGION_KIND_P)  # 0 lumbar, 1 cervical, 2 both
        lumbar_dx = _ids_dx(LUMBAR_DIAGNOSES)[rng.choice(len(LUMBAR_DIAGNOSES), size=n,
                                                         p=_p([w for _, w in LUMBAR_DIAGNOSES]))]
        cervical_dx = _ids_dx(CERVICAL_DIAGNOSES)[rng.choice(
            len(CERVICAL_DIAGNOSES), size=n, p=_p([w for _, w in CERVICAL_DIAGNOSES]))]
        other_dx = _ids_dx(NON_SPINAL_DIAGNOSES)[rng.choice(
            len(NON_SPINAL_DIAGNOSES), size=n, p=_p([w for _, w in NON_SPINAL_DIAGNOSES]))]
        self.dx = np.where(self.region_kind == 1, cervical_dx, lumbar_dx)
        self.non_spinal = rng.random(n) < NON_SPINAL_SHARE  # knee or general pain only
        self.dx = np.where(self.non_spinal, other_dx, self.dx)
        self.fbss = self.dx == _DX[FBSS]
        self.provider = rng.choice(7, size=n, p=_p(PROVIDER_WEIGHTS))
        n_rare = max(1, int(round(n * 5 / 2400)))
        self.provider[rng.choice(n, size=min(n_rare, n), replace=False)] = 7  # DR08: small cell
        site = np.where(self.provider < 4, 0, 1)
        self.site = np.where(rng.random(n) < 0.06, 1 - site, site)
        self.home_pharmacy = rng.integers(0, len(PHARMACIES), n)
        self.pain_base = rng.integers(4, 10, n)

        first = rng.choice(4, size=n, p=FIRST_STEP_P)  # PT, NARC, MR, INJ
        first = np.where(self.non_spinal & (first == 3), 0, first)  # no spinal injections
        u = rng.random((5, n))
        self.uses_pt = (first == 0) | (u[0] < LATER_PT)
        self.uses_mr = (first == 2) | (u[1] < np.where(first == 1, LATER_MR_NARC_FIRST, LATER_MR))
        self.uses_narc = (first == 1) | (u[2] < LATER_NARC)
        self.uses_inj = ((first == 3) | (u[3] < np.where(self.fbss, LATER_INJ_FBSS, LATER_INJ))
                         ) & ~self.non_spinal
        self.ltot = self.uses_narc & (rng.random(n) < LTOT_SHARE / NARC_SHARE)
        established = self.ltot & (rng.random(n) < LTOT_ESTABLISHED_SHARE)
        self.index_day = np.where(established, rng.integers(0, 31, n), self.index_day)
        first = np.where(established, 1, first)
        self.first = first
        self.hopper = self.uses_narc & (rng.random(n) < HOPPER_SHARE)
        self.benzo_user = np.where(self.uses_narc, rng.random(n) < BENZO_WITH_OPIOID,
                                   rng.random(n) < BENZO_WITHOUT_OPIOID)
        self.benzo_chronic = (self.benzo_user & self.ltot
                              & (rng.random(n) < BENZO_CHRONIC_IN_LTOT))
        # FBSS patients: the (failed) surgery comes first, everything else 45-180 days later
        shift = np.where(self.fbss, rng.integers(45, 181, n), 0)
        base = self.index_day + shift
        self.base = base

        def later(lo: int, hi: int) -> np.ndarray:
            return base + rng.integers(lo, hi + 1, n)

        self.start_pt = np.where(first == 0, base, later(5, 60))
        start_mr = np.where(first == 2, base, later(1, 90))
        self.start_narc = np.where(first == 1, base, later(10, 150))
        self.start_inj = np.where(first == 3, base, later(45, 330))
        # narcotic-first patients often get a muscle relaxant the same day (a combined step)
        same_day = (first == 1) & (rng.random(n) < 0.25)
        start_mr = np.where(same_day, self.start_narc, start_mr)
        # a share of patients on both: relaxant started with the opioid course -> overlap
        self.overlap = (self.uses_mr & self.uses_narc & (first != 2)
                        & (rng.random(n) < 0.45))
        start_mr = np.where(self.overlap & ~same_day, self.start_narc + rng.integers(0, 6, n),
                            start_mr)
        self.start_mr = start_mr
        # non-PT-first PT users must not start PT before their first technique's date
        self.start_pt = np.where(first != 0, np.maximum(self.start_pt, base + 1), self.start_pt)

        # deaths at US age-specific rates (x HR for long-term opioid therapy), after index
        band = np.searchsorted(DEATH_AGE_BANDS, self.age0, side="right") - 1
        annual = DEATH_RATE_PER_100K[band] / 1e5 * np.where(self.ltot, LTOT_DEATH_HR, 1.0)
        self.death_day = self.index_day + _time_to(rng, _daily_hazard(annual, 365.25))
        self.death_day = np.where(self.death_day < span, self.death_day, _FAR)

    # -- helpers ---------------------------------------------------------------------------
    def prescribers(self, pat: np.ndarray) -> np.ndarray:
        """Prescriber of each fill: the patient's physician, else a covering colleague."""
        rng = self.rng
        other = rng.integers(0, 7, len(pat))
        cover = (rng.random(len(pat)) < CROSS_COVER_PER_FILL) | self.hopper[pat]
        return np.where(cover, other, self.provider[pat])

    def pharmacies(self, pat: np.ndarray) -> np.ndarray:
        """Dispensing pharmacy: the home pharmacy, sometimes another (always for hoppers)."""
        rng = self.rng
        other = rng.integers(0, len(PHARMACIES), len(pat))
        away = (rng.random(len(pat)) < OTHER_PHARMACY_PER_FILL) | self.hopper[pat]
        return np.where(away, other, self.home_pharmacy[pat])

    def refills(self, n_rows: int, group: str) -> np.ndarray:
        """Dispenses of each order: 1, or 2-4 when written with refills (else missing)."""
        rng = self.rng
        with_refills = rng.random(n_rows) < REFILL_ORDER_SHARE[group]
        return np.where(with_refills, rng.integers(2, 5, n_rows), _NONE)

    def add_fills(self, pat, day, item, ds, qty, disp=None, reason=None) -> None:
        self.ev.add(pat, day, item, ds=ds, qty=qty, disp=disp, reason=reason,
                    prov=self.prescribers(pat), pharm=self.pharmacies(pat))

    # -- physical therapy ----------------------------------------------------------------
    def physical_therapy(self) -> None:
        rng = self.rng

        def episode(who: np.ndarray, starts: np.ndarray, lo: int, hi: int, reeval: bool,
                    reason: np.ndarray | None = None) -> None:
            counts = rng.integers(lo, hi + 1, len(who))
            p, k = _expand(who, counts)
            gaps = rng.choice(np.array([2, 3, 4, 7]), size=len(p), p=[0.3, 0.35, 0.2, 0.15])
            gaps[k == 0] = 0
            day = np.repeat(starts, counts) + _group_cumsum(gaps, k)
            if reeval:
                first_item = np.full(len(p), _IDX[PT_REEVAL], np.int64)
            else:
                first_item = _ids(PT_EVAL)[rng.choice(3, size=len(p), p=[0.3, 0.5, 0.2])]
            visit_item = _pick(rng, _ids(PT_VISIT), PT_VISIT_P, len(p))
            item = np.where(k == 0, first_item, visit_item)
            pain = np.rint(self.pain_base[p] - 0.12 * k + rng.normal(0, 0.8, len(p)))
            pain = np.clip(pain, 0, 10).astype(np.int64)
            pain[rng.random(len(p)) < 0.15] = _NONE
            if reason is None:  # the evaluation often names the spinal diagnosis
                why = np.where((k == 0) & (rng.random(len(p)) < 0.3), self.dx[p], _NONE)
            else:
                why = np.repeat(reason, counts)
            self.ev.add(p, day, item, pain=pain, reason=why)

        who = self.pats[self.uses_pt]
        episode(who, self.start_pt[who], 5, 14, reeval=False)
        again = who[rng.random(len(who)) < 0.2]
        episode(again, self.start_pt[again] + rng.integers(150, 401, len(again)), 4, 10,
                reeval=True)
        # another indication: PT for a knee sprain (not back pain care)
        knee = self.pats[rng.random(self.n) < KNEE_PT_SHARE]
        why = np.where(rng.random(len(knee)) < 0.6, _REASON["S83.511A"],
                       _REASON["Sprain of anterior cruciate ligament of right knee"])
        episode(knee, self.index_day[knee] + rng.integers(0, 400, len(knee)), 4, 10,
                reeval=False, reason=why)

    # -- muscle relaxants ------------------------------------------------------------------
    def muscle_relaxants(self) -> None:
        rng = self.rng
        who = self.pats[self.uses_mr]
        m = len(who)
        trinity = self.benzo_chronic[who] & (rng.random(m) < CARISOPRODOL_IN_TRINITY)
        chronic = trinity | (rng.random(m) < np.where(self.overlap[who], 0.4, 0.12))
        counts = np.where(chronic, rng.integers(3, 7, m),
                          rng.choice([1, 2], size=m, p=[0.75, 0.25]))
        p, k = _expand(who, counts)
        ds = rng.choice(np.array([7, 10, 14, 15, 21]), size=len(p), p=[0.2, 0.25, 0.25, 0.1, 0.2])
        disp = np.where(np.repeat(chronic, counts), _NONE, self.refills(len(p), "muscle_relaxant"))
        covered = ds * np.maximum(disp, 1)
        gap = np.where(np.repeat(chronic, counts), rng.integers(0, 4, len(p)),
                       rng.integers(3, 40, len(p)))
        step = np.roll(covered, 1) + gap
        step[k == 0] = 0
        day = self.start_mr[p] + _group_cumsum(step, k)
        drug = _ids(MUSCLE_RELAXANTS)[rng.choice(len(MUSCLE_RELAXANTS), size=m, p=MR_P)]
        drug = np.where(trinity, _IDX[CARISOPRODOL], drug)
        item = np.repeat(drug, counts)
        qty = np.rint(ds * _PER_DAY[item]).astype(np.int64)
        self.add_fills(p, day, item, ds, qty, disp=disp)

    # -- narcotics ---------------------------------------------------------------------------
    def episodic_courses(self, who: np.ndarray, starts: np.ndarray) -> None:
        rng = self.rng
        m = len(who)
        short = rng.random(m) < EPISODIC_SHORT_SHARE
        counts = np.where(short, rng.choice([1, 2], size=m, p=[0.7, 0.3]), rng.integers(2, 4, m))
        p, k = _expand(who, counts)
        ss = np.repeat(short, counts)
        ds = np.where(ss, rng.choice(np.array([3, 5, 7, 10, 14]), size=len(p)),
                      rng.choice(np.array([7, 10, 14, 15, 20, 30]), size=len(p)))
        # start of fill k = start of fill k-1 + its supply + delta; the medium courses carry
        # the gap edge cases of exactly 30 and 31 uncovered days
        r = rng.random(len(p))
        delta = np.where(ss, rng.integers(0, 12, len(p)),
                         np.select([r < 0.05, r < 0.10], [30, 31], rng.integers(-2, 15, len(p))))
        step = np.roll(ds, 1) + delta
        step[k == 0] = 0
        day = np.repeat(starts, counts) + _group_cumsum(step, k)
        drug = _ids(SHORT_COURSE_DRUGS)[rng.choice(len(SHORT_COURSE_DRUGS), size=m,
                                                   p=SHORT_COURSE_P)]
        item = np.repeat(drug, counts)
        qty = np.maximum(1, np.rint(ds * _PER_DAY[item])).astype(np.int64)
        # tramadol / codeine (Schedule IV / III) orders may carry refills: the last order
        disp = np.where(_REFILLS[item] & (k == np.repeat(counts, counts) - 1),
                        self.refills(len(p), "opioid"), _NONE)
        self.add_fills(p, day, item, ds, qty, disp=disp)
        self._record_narcotics(p, day, ds * np.maximum(disp, 1), item,
                               _MME_UNIT[item] * _PER_DAY[item] + _PATCH_MME[item])

    def long_term(self) -> None:
        """LTOT: monthly fills at a stable dose until a taper, a stop, death or the end."""
        rng, span = self.rng, self.span
        who = self.pats[self.ltot]
        m = len(who)
        start = self.start_narc[who]
        band = rng.choice(3, size=m, p=LTOT_BAND_P)
        item0 = np.zeros(m, np.int64)
        units0 = np.ones(m, np.int64)
        for b, products in enumerate(LTOT_PRODUCTS):
            sel = np.flatnonzero(band == b)
            pick = rng.choice(len(products), size=len(sel), p=_p([w for *_, w in products]))
            lo = np.array([lo for _, lo, _, _ in products])[pick]
            hi = np.array([hi for _, _, hi, _ in products])[pick]
            item0[sel] = _ids([it for it, *_ in products])[pick]
            units0[sel] = rng.integers(lo, hi + 1)
        patch = _IS_PATCH[item0]
        ds_pat = np.where(rng.random(m) < 0.35, 28, 30)

        # opioid use disorder; a few switch to buprenorphine-naloxone (end of the LTOT course)
        oud = rng.random(m) < OUD_IN_LTOT
        self.oud_day[who[oud]] = (start + rng.integers(180, 901, m))[oud]
        moud = oud & (rng.random(m) < MOUD_SHARE)
        bup_start = np.where(moud, self.oud_day[who] + rng.integers(0, 31, m), _FAR)

        # stop (without taper), taper start, taper speed and floor
        stop_at = start + _time_to(rng, np.full(m, _daily_hazard(LTOT_STOP_PER_YEAR, 365.25)))
        eligible = (band >= 1) & ~patch
        taper_at = np.where(
            eligible,
            start + TAPER_BASELINE_DAYS
            + _time_to(rng, np.full(m, _daily_hazard(TAPER_PER_FOLLOW_UP, TAPER_FOLLOW_UP_DAYS))),
            _FAR)
        taper_first = taper_at < stop_at
        abrupt = ~taper_first & ((rng.random(m) < LTOT_ABRUPT_SHARE) | patch)
        sigma = (np.log(TAPER_VELOCITY_MEDIAN) - np.log(TAPER_VELOCITY_Q1)) / 0.6745
        velocity = np.where(
            rng.random(m) < TAPER_RAPID_SHARE, rng.uniform(0.45, 0.80, m),
            np.clip(np.exp(rng.normal(np.log(TAPER_VELOCITY_MEDIAN), sigma, m)), 0.10, 0.40))
        # the dose tapers to 30-80 % of baseline (or to zero), never above the first step, so
        # that the taper's maximal monthly velocity is the one drawn (PainPath assumption)
        floor = np.where(taper_first & (rng.random(m) >= TAPER_TO_STOP_SHARE),
                         np.minimum(rng.uniform(0.30, 0.80, m), 1.0 - velocity), 0.0)
        taper_start = np.where(taper_first, taper_at, np.where(abrupt, _FAR, stop_at))
        hard_stop = np.minimum.reduce([np.where(taper_first, stop_at, _FAR),
                                       np.where(abrupt, stop_at, _FAR), bup_start,
                                       self.death_day[who], np.full(m, span)])
        horizon = np.minimum(hard_stop, span)
        counts = np.maximum(1, (horizon - start) // 25 + 2)
        p_local, k = _expand(np.arange(m), counts)
        p = who[p_local]
        ds = ds_pat[p_local]
        r = rng.random(len(p))
        edge = band[p_local] == 0  # low-dose courses carry the 30/31-day gap edge cases
        delta = np.select([edge & (r < 0.004), edge & (r < 0.008)], [30, 31],
                          rng.integers(-3, 4, len(p)))
        step = ds + delta
        step = np.roll(step, 1)
        step[k == 0] = 0
        day = start[p_local] + _group_cumsum(step, k)
        months = np.where(day >= taper_start[p_local],
                          (day - taper_start[p_local]) // 30 + 1, 0)
        factor = np.power(1.0 - velocity[p_local], months)
        factor = np.maximum(factor, floor[p_local])
        # a tapered dose is dispensed as the nearest whole number of units for the fill
        # (e.g. 75 tablets for 30 days), so the dose follows the taper's velocity
        qty = np.where(patch[p_local], np.rint(ds / 3), np.rint(units0[p_local] * factor * ds))
        qty = qty.astype(np.int64)
        on_dose = qty * 2 >= ds  # below half a unit a day the taper has ended
        keep = (day < hard_stop[p_local]) & on_dose & (day < span)
        # once the dose reached zero the course is over
        keep &= _group_cummax((~on_dose).astype(np.int64), p_local) == 0
        p, p_local, day, ds, qty = p[keep], p_local[keep], day[keep], ds[keep], qty[keep]
        item = item0[p_local]
        self.add_fills(p, day, item, ds, qty)
        mme = np.where(patch[p_local], _PATCH_MME[item], qty / ds * _MME_UNIT[item])
        self._record_narcotics(p, day, ds, item, mme)

        # buprenorphine-naloxone for the patients treated for OUD
        treated = who[moud & (bup_start < self.death_day[who]) & (bup_start < span)]
        months_on = rng.integers(3, 19, len(treated))
        bp, bk = _expand(treated, months_on)
        bday = bup_start[np.searchsorted(who, bp)] + bk * 30 + rng.integers(-2, 3, len(bp))
        self.add_fills(bp, bday, _IDX[BUP_NALOXONE], np.full(len(bp), 30),
                       np.full(len(bp), 60))

    def _record_narcotics(self, pat, day, covered, item, mme) -> None:
        self.narc_fills.append((pat, day, covered, item, mme))

    def narcotics(self) -> None:
        rng = self.rng
        self.narc_fills: list[tuple[np.ndarray, ...]] = []
        self.oud_day = np.full(self.n, _FAR, np.int64)
        episodic = self.pats[self.uses_narc & ~self.ltot]
        self.episodic_courses(episodic, self.start_narc[episodic])
        again = episodic[rng.random(len(episodic)) < SECOND_COURSE_SHARE]
        self.episodic_courses(again, self.start_narc[again] + rng.integers(150, 451, len(again)))
        self.long_term()
        # another indication: an opioid fill after a wrist fracture
        fracture = self.pats[rng.random(self.n) < FRACTURE_OPIOID_SHARE]
        ds = rng.choice(np.array([3, 5]), size=len(fracture))
        why = np.where(rng.random(len(fracture)) < 0.5, _REASON["S52.501A"],
                       _REASON["Fracture of lower end of right radius"])
        day = self.index_day[fracture] + rng.integers(0, 600, len(fracture))
        self.add_fills(fracture, day, _IDX[N_OXY5], ds, ds * 4, reason=why)

    # -- benzodiazepines, gabapentinoids, naloxone -------------------------------------------
    def benzodiazepines(self) -> None:
        rng, n = self.rng, self.n
        user, chronic = self.benzo_user, self.benzo_chronic
        drug = _ids(BENZODIAZEPINES)[rng.choice(len(BENZODIAZEPINES), size=n, p=_p(BENZO_P))]
        self.benzo_from = np.full(n, _FAR, np.int64)
        self.benzo_to = np.full(n, -_FAR, np.int64)

        # chronic: monthly (or 90-day, with refills) orders for 6-30 months
        who = self.pats[chronic]
        b0 = self.start_narc[who] + rng.integers(-60, 121, len(who))
        length = rng.integers(180, 901, len(who))
        with_refills = rng.random(len(who)) < REFILL_ORDER_SHARE["benzodiazepine"]
        per_order = np.where(with_refills, 3, 1)
        counts = np.maximum(1, length // (30 * per_order))
        p, k = _expand(who, counts)
        disp = np.repeat(np.where(with_refills, 3, _NONE), counts)
        step = np.where(k == 0, 0, 30 * np.repeat(per_order, counts) + rng.integers(-2, 5, len(p)))
        day = np.repeat(b0, counts) + _group_cumsum(step, k)
        item = drug[p]
        ds = np.full(len(p), 30)
        self.add_fills(p, day, item, ds, np.rint(ds * _PER_DAY[item]).astype(np.int64), disp=disp)
        self.benzo_from[who] = b0
        self.benzo_to[who] = b0 + length

        # intermittent: 1-3 short fills, with the opioid course for opioid users
        who = self.pats[user & ~chronic]
        at = np.where(self.ltot[who], self.start_narc[who] + rng.integers(0, 400, len(who)),
                      np.where(self.uses_narc[who], self.start_narc[who] + rng.integers(0, 21,
                                                                                      len(who)),
                               self.base[who] + rng.integers(0, 500, len(who))))
        counts = rng.integers(1, 4, len(who))
        p, k = _expand(who, counts)
        ds = rng.choice(np.array([10, 14, 30]), size=len(p), p=[0.4, 0.3, 0.3])
        step = np.roll(ds, 1) + rng.integers(0, 21, len(p))
        step[k == 0] = 0
        day = np.repeat(at, counts) + _group_cumsum(step, k)
        item = drug[p]
        self.add_fills(p, day, item, ds, np.rint(ds * _PER_DAY[item]).astype(np.int64))
        self.benzo_from[who] = at
        self.benzo_to[who] = at + 90

    def gabapentinoids(self) -> None:
        rng = self.rng
        who = self.pats[rng.random(self.n) < GABAPENTINOID_SHARE]
        drug = np.where(rng.random(len(who)) < PREGABALIN_SHARE, _IDX[PREGABALIN],
                        _IDX[GABAPENTIN])
        counts = np.minimum(rng.geometric(0.35, len(who)), 10)
        p, k = _expand(who, counts)
        ds = np.full(len(p), 30)
        disp = self.refills(len(p), "gabapentinoid")
        step = np.roll(ds * np.maximum(disp, 1), 1) + rng.integers(0, 11, len(p))
        step[k == 0] = 0
        day = self.base[p] + np.repeat(rng.integers(0, 201, len(who)), counts) + _group_cumsum(
            step, k)
        item = np.repeat(drug, counts)
        self.add_fills(p, day, item, ds, np.rint(ds * _PER_DAY[item]).astype(np.int64), disp=disp)

    def naloxone(self) -> None:
        """Naloxone co-dispensed with high-risk opioid fills (>= 50 MME/day, benzodiazepine
        use, opioid-use disorder) at the CDC-observed rate."""
        rng = self.rng
        pat, day, _covered, _item, mme = (np.concatenate(a) for a in zip(*self.narc_fills,
                                                                          strict=True))
        risky = ((mme >= 50) | ((day >= self.benzo_from[pat]) & (day <= self.benzo_to[pat]))
                 | (day >= self.oud_day[pat]))
        hit = risky & (rng.random(len(pat)) < NALOXONE_PER_RISK_FILL)
        self.add_fills(pat[hit], day[hit], _IDX[NALOXONE], np.ones(hit.sum(), np.int64),
                       np.full(hit.sum(), 2))

    # -- injections, pain scores, surgery ----------------------------------------------------
    def injections(self) -> None:
        rng, n = self.rng, self.n
        users = self.uses_inj
        lumbar = self.pats[users & (self.region_kind != 1)]
        cervical = self.pats[users & (self.region_kind != 0)]
        s_pat = np.concatenate([lumbar, cervical])
        s_reg = np.r_[np.full(len(lumbar), LUMBAR), np.full(len(cervical), CERVICAL)]
        both = self.region_kind[s_pat] == 2
        s_start = self.start_inj[s_pat] + np.where(both & (s_reg == CERVICAL),
                                                   rng.integers(0, 121, len(s_pat)), 0)
        kind = rng.choice(len(INJ_KINDS), size=len(s_pat), p=INJ_KIND_P)
        # no cervical sacroiliac joint: those series are facet series
        kind = np.where((s_reg == CERVICAL) & (kind == INJ_KINDS.index("si")),
                        INJ_KINDS.index("facet"), kind)
        # a patient injected in both regions gets the same kind of injection in each
        kind_of = np.full(n, -1, np.int64)
        kind_of[s_pat[s_reg == LUMBAR]] = kind[s_reg == LUMBAR]
        kind = np.where(both & (s_reg == CERVICAL) & (kind_of[s_pat] >= 0), kind_of[s_pat], kind)
        m = len(s_pat)
        type_name = np.array([INJ_L[k].injection_type for k in INJ_KINDS])[kind]
        rate = np.array([RESPONSE_BY_TYPE[t] for t in type_name])
        responder = rng.random(m) < (rate - NON_RESPONDER_SESSION) / (
            RESPONDER_SESSION - NON_RESPONDER_SESSION)
        counts = rng.choice(np.arange(1, 8), size=m,
                            p=[0.36, 0.24, 0.16, 0.09, 0.08, 0.045, 0.025])
        counts = np.where(kind == INJ_KINDS.index("tpi"), counts + rng.integers(0, 2, m), counts)
        # neck and back both treated: a series of at least three sessions in each region
        counts = np.where(both, np.maximum(counts, 3), counts)
        s, k = _expand(np.arange(m), counts)
        # facet responders go on to radiofrequency ablation for their last session(s)
        last = counts[s] - 1
        rfa = ((kind[s] == INJ_KINDS.index("facet")) & responder[s] & (rng.random(m) < 0.7)[s]
               & (k >= 1) & (k >= last - 1))
        sustained = rng.random(len(s)) < np.where(responder[s], RESPONDER_SESSION,
                                                  NON_RESPONDER_SESSION)
        sustained = np.where(rfa, rng.random(len(s)) < RESPONSE_BY_TYPE["radiofrequency_ablation"],
                             sustained)
        r = rng.random(len(s))
        interval = np.select([r < 0.05, r < 0.35],
                             [rng.integers(7, 14, len(s)), rng.integers(21, 46, len(s))],
                             rng.integers(46, 121, len(s)))
        # after sustained relief a repeat waits until the pain returns (>= 60 days)
        relieved_before = np.roll(sustained, 1)
        interval = np.where(relieved_before, np.maximum(interval, rng.integers(60, 151, len(s))),
                            interval)
        interval[k == 0] = 0
        day = s_start[s] + _group_cumsum(interval, k)
        items_l = _ids([INJ_L[k_] for k_ in INJ_KINDS])
        items_c = _ids([INJ_C[k_] for k_ in INJ_KINDS])
        item = np.where(s_reg[s] == LUMBAR, items_l[kind[s]], items_c[kind[s]])
        item = np.where(rfa & (s_reg[s] == LUMBAR), _IDX[INJ_L["rfa"]], item)
        item = np.where(rfa & (s_reg[s] == CERVICAL), _IDX[INJ_C["rfa"]], item)

        # spine surgery after failed conservative care (ESI series), else a small base rate
        is_esi = type_name == "epidural_steroid"
        p_year = np.where(s_reg == LUMBAR, SURGERY_AFTER_ESI[LUMBAR], SURGERY_AFTER_ESI[CERVICAL])
        resp_share = (rate - NON_RESPONDER_SESSION) / (RESPONDER_SESSION - NON_RESPONDER_SESSION)
        p_resp = p_year / (resp_share + SURGERY_NO_RELIEF_FACTOR * (1 - resp_share))
        p_surg = np.where(responder, p_resp, p_resp * SURGERY_NO_RELIEF_FACTOR)
        operated = is_esi & ~self.fbss[s_pat] & (rng.random(m) < p_surg)
        within_6m = rng.random(m) < SURGERY_AFTER_ESI_WITHIN_6M
        after = np.where(within_6m, rng.integers(30, 183, m), rng.integers(183, 366, m))
        surgery_day = np.where(operated, s_start + after, _FAR)
        keep = day < surgery_day[s]
        s, k, day, item, sustained = s[keep], k[keep], day[keep], item[keep], sustained[keep]
        pat = s_pat[s]

        # pain scores: baseline at the session, a consult before, follow-ups after
        b = np.clip(np.rint(self.pain_base[pat] + 1 + rng.normal(0, 0.7, len(s))), 3, 10)
        b = b.astype(np.int64)
        session_pain = np.where(rng.random(len(s)) < 0.1, _NONE, b)
        why = np.select([rng.random(len(s)) < 0.4, rng.random(len(s)) < 0.1],
                        [self.dx[pat], np.where(s_reg[s] == LUMBAR,
                                                _REASON["Chronic low back pain"],
                                                _REASON["Neck pain"])], _NONE)
        region = np.where((_ITEM_REGION[item] < 0) | (rng.random(len(s)) < 0.5), s_reg[s], _NONE)
        region = np.where(_IS_NERVE_BLOCK[item], _NONE, region)
        self.ev.add(pat, day, item, pain=session_pain, reason=why, region=region)
        # multi-level sessions: an add-on line on the same date
        multi = (_ADD_ON[item] >= 0) & (rng.random(len(s)) < 0.12)
        self.ev.add(pat[multi], day[multi], _ADD_ON[item[multi]], region=region[multi])

        transient = ~sustained & (rng.random(len(s)) < TRANSIENT_SHARE)
        low = np.rint(b * rng.uniform(0.10, 0.45, len(s))).astype(np.int64)
        high = np.maximum(np.rint(b * rng.uniform(0.70, 1.0, len(s))), b // 2 + 1).astype(np.int64)
        visit = _pick(rng, _ids(OFFICE_VISITS), np.array([0.6, 0.4]), 3 * len(s))
        consult = rng.random(len(s)) < 0.85  # pre-procedure visit in the week before
        self.ev.add(pat[consult], (day - rng.integers(1, 8, len(s)))[consult],
                    visit[: len(s)][consult], pain=b[consult])
        early = rng.random(len(s)) < 0.95
        self.ev.add(pat[early], (day + rng.integers(7, 22, len(s)))[early],
                    visit[len(s): 2 * len(s)][early],
                    pain=np.where(sustained | transient, low, high)[early])
        late = rng.random(len(s)) < 0.85
        self.ev.add(pat[late], (day + rng.integers(28, 43, len(s)))[late],
                    visit[2 * len(s):][late], pain=np.where(sustained, low, high)[late])
        # other pain scores in the weeks of relief (PT visits) reflect it (see assemble)
        self.relief = (pat, day, np.where(sustained, day + 42, np.where(transient, day + 21, -1)),
                       low)

        # surgery: FBSS first (at index), after an ESI series, or at the base rate
        sidx = np.flatnonzero(operated)
        surg_item = np.where(s_reg[sidx] == LUMBAR,
                             _ids(SURGERIES_L)[rng.choice(2, size=len(sidx), p=[0.7, 0.3])],
                             _ids(SURGERIES_C)[rng.choice(2, size=len(sidx), p=[0.6, 0.4])])
        self.ev.add(s_pat[sidx], surgery_day[sidx], surg_item)
        fb = self.pats[self.fbss]
        self.ev.add(fb, self.index_day[fb],
                    _ids(SURGERIES_L)[rng.choice(2, size=len(fb), p=[0.7, 0.3])])
        operated_pat = np.zeros(n, bool)
        operated_pat[s_pat[operated]] = True
        esi_pat = np.zeros(n, bool)
        esi_pat[s_pat[is_esi]] = True
        others = self.pats[~self.fbss & ~esi_pat & ~operated_pat]
        t = _time_to(rng, np.full(len(others), _daily_hazard(SURGERY_WITHOUT_ESI_PER_YEAR,
                                                             365.25)))
        sday = self.base[others] + 120 + t
        ok = sday < self.span
        reg = np.where(self.region_kind[others[ok]] == 1, CERVICAL, LUMBAR)
        surg_item = np.where(reg == LUMBAR,
                             _ids(SURGERIES_L)[rng.choice(2, size=ok.sum(), p=[0.7, 0.3])],
                             _ids(SURGERIES_C)[rng.choice(2, size=ok.sum(), p=[0.6, 0.4])])
        self.ev.add(others[ok], sday[ok], surg_item)

    # -- assemble --------------------------------------------------------------------------
    def assemble(self, first: int) -> _Block:
        rng, n, span = self.rng, self.n, self.span
        e = self.ev.concat()
        alive = e["day"] < self.death_day[e["pat"]]
        keep = (e["day"] >= 0) & (e["day"] < span) & alive
        e = {key: v[keep] for key, v in e.items()}
        order = np.lexsort((e["item"], _TECH[e["item"]], e["day"], e["pat"]))
        e = {key: v[order] for key, v in e.items()}
        rows = len(e["pat"])
        is_med = e["ds"] > 0
        # PT pain scores in the weeks after an injection with relief show the relief
        r_pat, r_day, r_until, r_low = self.relief
        r_order = np.lexsort((r_day, r_pat))
        r_key = (r_pat * (1 << 24) + r_day)[r_order]
        at = np.searchsorted(r_key, e["pat"] * (1 << 24) + e["day"], side="left") - 1
        ok = at >= 0
        at = np.maximum(at, 0)
        relieved = (ok & (r_pat[r_order][at] == e["pat"]) & (e["day"] <= r_until[r_order][at])
                    & (_TECH[e["item"]] == PT) & (e["pain"] >= 0))
        e["pain"] = np.where(relieved, np.minimum(e["pain"], r_low[r_order][at]), e["pain"])
        # the encounter diagnosis: the patient's code; F11.20 on medication rows after OUD
        oud = is_med & (e["day"] >= self.oud_day[e["pat"]])
        e["dx"] = np.where(oud, _DX[OUD_DIAGNOSIS], self.dx[e["pat"]])
        e["prov"] = np.where(e["prov"] >= 0, e["prov"], self.provider[e["pat"]])

        # end_date on ~15 % of medication rows (last covered day of the order)
        covered = e["ds"] * np.maximum(e["disp"], 1)
        end = np.where(is_med & (rng.random(rows) < 0.15), e["day"] + covered - 1, -_FAR)

        # deliberately bad rows (~0.3 %), five kinds
        bad_date = np.zeros(rows, bool)
        n_bad = max(5, int(round(rows * 0.003)))
        pool = rng.permutation(rows)
        meds = rng.permutation(np.flatnonzero(is_med))
        per_kind = n_bad // 5 + 1
        used = np.zeros(rows, bool)

        def take(candidates: np.ndarray, count: int) -> np.ndarray:
            chosen = candidates[~used[candidates]][:count]
            used[chosen] = True
            return chosen

        no_id = np.zeros(rows, bool)
        sel = take(pool, per_kind)
        no_id[sel] = True  # missing patient id
        sel = take(meds[end[meds] < -_FAR // 2], per_kind)  # a fill without an end date
        e["ds"][sel] = 0  # days_supply 0
        sel = take(meds, per_kind)
        end[sel] = e["day"][sel] - 3  # end before start
        sel = take(pool, per_kind)
        bad_date[sel] = True  # impossible date
        sel = take(pool, per_kind)
        e["item"][sel] = _IDX[BAD_ITEM]  # unknown technique

        # exact duplicate rows (~0.1 %), placed right after their original
        n_dup = max(3, int(round(rows * 0.001)))
        dup = np.sort(rng.choice(rows, size=min(n_dup, rows), replace=False))
        take_rows = np.sort(np.concatenate([np.arange(rows), dup]), kind="stable")
        out = {key: v[take_rows] for key, v in e.items()}
        out["end"] = end[take_rows]
        out["bad_date"] = bad_date[take_rows]
        out["no_id"] = no_id[take_rows]

        # birth day (offset from origin) such that the exact age at first contact is age0
        birth_offset = (self.index_day - np.ceil(self.age0 * 365.25).astype(np.int64)
                        - rng.integers(0, 365, n))
        return _Block(rows=out, first=first, sex=self.sex, provider=self.provider,
                      site=self.site, birth_offset=birth_offset, index_day=self.index_day,
                      death_day=self.death_day, dx=self.dx)


def _ids_dx(table: tuple[tuple[str, float], ...]) -> np.ndarray:
    return np.array([_DX[d] for d, _ in table], dtype=np.int64)


def _generate_block(seed: int, block: int, first: int, n: int, span: int) -> _Block:
    """Generate the patients ``first .. first + n - 1`` from the stream ``(seed, block)``."""
    g = _Generator(np.random.default_rng([seed, block]), n, span)
    g.patients()
    g.physical_therapy()
    g.muscle_relaxants()
    g.narcotics()
    g.benzodiazepines()
    g.gabapentinoids()
    g.naloxone()
    g.injections()
    return g.assemble(first)


# ---- formatting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Recipe:
    """Everything that fixes the output besides the chunking."""

    patients: int
    seed: int
    origin: np.datetime64
    span: int

    @property
    def blocks(self) -> int:
        return -(-self.patients // BLOCK_PATIENTS)

    @property
    def id_width(self) -> int:
        return max(6, len(str(self.patients)))

    def block(self, b: int) -> _Block:
        first = b * BLOCK_PATIENTS
        return _generate_block(self.seed, b, first, min(BLOCK_PATIENTS, self.patients - first),
                               self.span)


def _recipe(patients: int, seed: int, start: str, years: float) -> _Recipe:
    if patients < 1:
        raise ValueError("patients must be >= 1")
    span = int(round(years * 365.25))
    if span < 120:
        raise ValueError("years must cover at least 120 days")
    return _Recipe(int(patients), int(seed), np.datetime64(start, "D"), span)


def _frame(recipe: _Recipe, blocks: list[_Block]) -> pd.DataFrame:
    """The export rows of consecutive ``blocks`` as a DataFrame with :data:`COLUMNS`.

    Text columns are categoricals (dates are ISO strings: a bad row holds the impossible
    :data:`BAD_DATE`); whole numbers are nullable ``Int64``.
    """
    rows = {k: np.concatenate([b.rows[k] for b in blocks]) for k in blocks[0].rows}

    def patient_values(name: str) -> np.ndarray:
        return np.concatenate([getattr(b, name) for b in blocks])

    first = blocks[0].first
    n_pat = sum(len(b.sex) for b in blocks)
    offsets = np.repeat([b.first - first for b in blocks], [len(b.rows["pat"]) for b in blocks])
    local = rows["pat"] + offsets  # patient index within these blocks
    has = ~rows["no_id"]
    origin, span = recipe.origin, recipe.span

    sex, provider, site = (patient_values(k) for k in ("sex", "provider", "site"))
    birth_offset, index_day, death_day = (patient_values(k) for k in
                                          ("birth_offset", "index_day", "death_day"))
    year_of = (origin + np.arange(-40000, span, dtype="timedelta64[D]")).astype("datetime64[Y]")
    year_of = year_of.astype(np.int64) + 1970  # calendar year of day offset d at [d + 40000]
    birth_year = year_of[birth_offset + 40000]
    day = rows["day"]
    age = _calendar_age(origin + birth_offset[local], origin + day)
    # a patient aged 90 or more at first contact is written as born 90 years before that
    # year (ages over 89 are aggregated); one who turns 90 later keeps the true birth year
    old_at_first = _calendar_age(origin + birth_offset, origin + index_day) >= 90
    first_year = year_of[index_day + 40000]
    birth_year_out = np.where(old_at_first, first_year - 90, birth_year)
    age = np.minimum(age, 90)

    n_dates = span + 16
    date_strings = (origin + np.arange(-8, n_dates - 8, dtype="timedelta64[D]")).astype(str)
    date_cats = np.append(date_strings, BAD_DATE)
    ev_code = np.where(rows["bad_date"], len(date_cats) - 1, day + 8)
    end = rows["end"]
    end_code = np.where(end > -_FAR // 2, end + 8, -1)
    end_code = np.where((end_code >= 0) & (end_code < n_dates), end_code, -1)
    death = death_day[local]
    death_code = np.where(death < span, death + 8, -1)

    pid_cats = np.char.add("P", np.char.zfill(
        np.arange(first + 1, first + n_pat + 1).astype(str), recipe.id_width))
    item = rows["item"]
    details = [it.detail for it in ITEMS]
    codes_list = sorted({it.code for it in ITEMS if it.code})
    code_idx = np.array([codes_list.index(it.code) if it.code else -1 for it in ITEMS])
    strength = np.array([it.strength for it in ITEMS], dtype=float)
    inj_idx = np.array(
        [INJECTION_TYPES.index(it.injection_type) if it.injection_type else -1 for it in ITEMS]
    )

    def cat(codes: np.ndarray, cats) -> pd.Categorical:
        return pd.Categorical.from_codes(np.asarray(codes, np.int64),
                                         categories=pd.Index(list(cats)))

    def intcol(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.arrays.IntegerArray(np.asarray(values, dtype=np.int64),
                                      np.asarray(missing, bool))

    st = strength[item]
    n_rows = len(item)
    data = {
        "patient_id": cat(np.where(has, local, -1), pid_cats),
        "event_date": cat(ev_code, date_cats),
        "technique": cat(_TECH[item], TECHNIQUE_LABELS),
        "end_date": cat(end_code, date_cats),
        "days_supply": intcol(np.maximum(rows["ds"], 0), rows["ds"] < 0),
        "detail": cat(item, details),
        "code": cat(code_idx[item], codes_list),
        "quantity": intcol(np.maximum(rows["qty"], 0), rows["qty"] < 0),
        "strength": pd.array(st, dtype="Float64"),
        "injection_type": cat(inj_idx[item], INJECTION_TYPES),
        "provider_id": cat(rows["prov"], PROVIDERS),
        "site": cat(site[local], SITES),
        "sex": cat(sex[local], SEXES),
        "birth_year": intcol(birth_year_out[local], np.zeros(n_rows, bool)),
        "age": intcol(age, np.zeros(n_rows, bool)),
        "diagnosis": cat(rows["dx"], DIAGNOSES),
        "pain_score": intcol(np.maximum(rows["pain"], 0), rows["pain"] < 0),
        "reason": cat(rows["reason"], REASONS),
        "region": cat(rows["region"], REGIONS),
        "pharmacy_id": cat(rows["pharm"], PHARMACIES),
        "dispenses": intcol(np.maximum(rows["disp"], 0), rows["disp"] < 0),
        "death_date": cat(death_code, date_cats),
    }
    return pd.DataFrame(data, columns=list(COLUMNS))


def iter_chunks(
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    start: str = DEFAULT_START,
    years: float = DEFAULT_YEARS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Yield the export in chunks of whole blocks of patients, each about ``chunk_rows``
    rows (at least one block).  Concatenated, the chunks are :func:`generate_events`'
    rows whatever ``chunk_rows`` is; only one chunk is held in memory at a time."""
    recipe = _recipe(patients, seed, start, years)
    pending: list[_Block] = []
    pending_rows = 0
    for b in range(recipe.blocks):
        block = recipe.block(b)
        pending.append(block)
        pending_rows += len(block.rows["pat"])
        if pending_rows >= chunk_rows:
            yield _frame(recipe, pending)
            pending, pending_rows = [], 0
    if pending:
        yield _frame(recipe, pending)


def generate_events(
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    start: str = DEFAULT_START,
    years: float = DEFAULT_YEARS,
) -> pd.DataFrame:
    """Generate the whole export as one DataFrame with the columns of :data:`COLUMNS`.

    Text columns (including the ISO date strings ``event_date`` / ``end_date`` /
    ``death_date``, which may hold the deliberately impossible ``2023-02-30``) are
    categoricals; whole numbers are nullable ``Int64``, ``strength`` nullable ``Float64``.
    Rows are sorted by patient and date (bad rows and exact duplicates included).  The
    same arguments always give the identical frame.
    """
    recipe = _recipe(patients, seed, start, years)
    return _frame(recipe, [recipe.block(b) for b in range(recipe.blocks)])


def patients_for_events(events: int, seed: int = DEFAULT_SEED, start: str = DEFAULT_START,
                        years: float = DEFAULT_YEARS) -> int:
    """Patients needed for about ``events`` rows: the rows per patient of the seed's first
    block (deterministic), scaled."""
    if events < 1:
        raise ValueError("events must be >= 1")
    recipe = _recipe(BLOCK_PATIENTS, seed, start, years)
    per_patient = len(recipe.block(0).rows["pat"]) / BLOCK_PATIENTS
    return max(1, int(round(events / per_patient)))


# ---- writing -------------------------------------------------------------------------------


def _arrow_table(frame: pd.DataFrame):
    """``frame`` as an Arrow table of plain strings and 64-bit numbers (no pandas metadata),
    so that every chunk has the same schema."""
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    return table.replace_schema_metadata(None)


def write_csv(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` as a UTF-8 CSV (quotes only where needed, empty cells for missing)."""
    import pyarrow.csv as pacsv

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(_arrow_table(frame), out,
                    write_options=pacsv.WriteOptions(quoting_style="needed"))
    return out


@dataclass(frozen=True)
class WriteStats:
    """What :func:`write_dataset` wrote."""

    path: Path
    rows: int
    patients: int
    files: int


def write_dataset(
    out: str | Path,
    fmt: str = "csv",
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    start: str = DEFAULT_START,
    years: float = DEFAULT_YEARS,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> WriteStats:
    """Stream the export to ``out`` chunk by chunk.

    ``fmt="csv"``: one CSV file (header once); ``fmt="parquet"``: a folder of
    ``part-00000.parquet`` … files, one per chunk, each holding whole patients (an
    existing folder's ``part-*.parquet`` files are replaced).  Same bytes/rows for the same
    arguments whatever ``chunk_rows`` is (Parquet: the same rows, split differently).
    """
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if fmt not in ("csv", "parquet"):
        raise ValueError("fmt must be 'csv' or 'parquet'")
    out = Path(out)
    rows = files = 0
    if fmt == "csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        writer = None
        try:
            for frame in iter_chunks(patients, seed, start, years, chunk_rows):
                table = _arrow_table(frame)
                if writer is None:
                    writer = pacsv.CSVWriter(
                        out, table.schema,
                        write_options=pacsv.WriteOptions(quoting_style="needed"))
                writer.write_table(table)
                rows += len(frame)
                files = 1
        finally:
            if writer is not None:
                writer.close()
    else:
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("part-*.parquet"):
            old.unlink()
        for frame in iter_chunks(patients, seed, start, years, chunk_rows):
            pq.write_table(_arrow_table(frame), out / f"part-{files:05d}.parquet",
                           compression="zstd")
            rows += len(frame)
            files += 1
    return WriteStats(out, rows, patients, files)


def _peak_rss_mb() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--patients", type=int, default=None)
    size.add_argument("--events", type=int, default=None,
                      help="about this many rows (patients are derived from the seed)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    parser.add_argument("--out", type=Path, default=None,
                        help="CSV file, or Parquet folder (default: the committed sample)")
    parser.add_argument("--chunk-rows", type=int, default=DEFAULT_CHUNK_ROWS)
    parser.add_argument("--start", default=DEFAULT_START, help="first possible date (ISO)")
    parser.add_argument("--years", type=float, default=DEFAULT_YEARS)
    args = parser.parse_args(argv)
    if args.events is not None:
        patients = patients_for_events(args.events, args.seed, args.start, args.years)
    else:
        patients = args.patients if args.patients is not None else DEFAULT_PATIENTS
    out = args.out
    if out is None:
        if args.format != "csv":
            parser.error("--out is required with --format parquet")
        out = DEFAULT_OUT
    t0 = time.perf_counter()
    stats = write_dataset(out, args.format, patients, args.seed, args.start, args.years,
                          args.chunk_rows)
    seconds = time.perf_counter() - t0
    print(f"wrote {stats.rows:,} rows for {patients:,} patients to {stats.path} "
          f"({stats.files} file(s), {seconds:.1f} s, peak RSS {_peak_rss_mb():,.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

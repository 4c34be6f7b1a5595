"""Deterministic generator of a realistic synthetic pain-clinic export.

Writes a *generic clinic CSV* — the shape of a real EHR / pharmacy export, not the
canonical table — so that the app's sample dataset goes through the same ingest as
an upload.  Columns, in this order::

    patient_id,event_date,technique,end_date,days_supply,detail,code,quantity,strength,
    injection_type,provider_id,site,sex,birth_year,age,diagnosis,pain_score

Content (defaults: 2,400 patients from 2022-01-01 over 3.5 years, seed 20240101):

- pseudonymous patients ``P000001`` …, physicians ``DR01`` … ``DR08`` (DR08 is rare,
  about 5 patients per 2,400), sites ``North Clinic`` / ``South Clinic``;
- sex F/M, ages 18–95 at the event (written capped at 90; ``birth_year`` is the real
  birth year, or ``year of first event − 90`` for patients who reach 90), one ICD-10
  back-pain diagnosis per patient (``M96.1`` patients have a surgery before the rest);
- most patients start with physical therapy (CPT 97161–97163 evaluation, then
  97110/97140/97112/97530 visits), ~15 % start with a narcotic, some with a muscle
  relaxant, a rare few with an injection;
- muscle-relaxant fills of 7–21 days; narcotic fills of 3–30 days with RxNorm-style
  descriptions, mostly short courses, a long-term tail of 28/30-day refills (with gaps of
  exactly 30 and 31 days between fills), a few high-dose products (≥ 90 MME/day);
- injection series of 1–7 sessions (ESI 62323/64483, facet 64493, RFA 64635, SI 27096,
  trigger point 20552, nerve block 64450), some over the payer limits, some less than 14
  days apart, some multi-level (add-on code on the same date);
- opioid + muscle-relaxant overlaps; surgery (63030 / 22612) for a few percent;
- pain scores 0–10 on most PT visits and injection sessions (lower after injections for
  responders);
- ~0.3 % deliberately bad rows (missing patient id, days_supply 0, end before start,
  the impossible date ``2023-02-30``, an unknown technique) and ~0.1 % exact duplicates.

Vectorised: each technique is generated as one block of numpy arrays for all patients at
once (no per-patient Python loop), so ``--patients 700000`` (~10 M events) takes well
under a minute, CSV writing included (about 14 events per patient).

Usage::

    python sample_data/generate.py [--patients 2400] [--seed 20240101]
        [--out sample_data/painpath_sample.csv] [--start 2022-01-01] [--years 3.5]
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_SEED = 20240101
DEFAULT_PATIENTS = 2400
DEFAULT_START = "2022-01-01"
DEFAULT_YEARS = 3.5
DEFAULT_OUT = Path(__file__).with_name("painpath_sample.csv")

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
)

TECHNIQUE_LABELS: tuple[str, ...] = (
    "physical_therapy",
    "muscle_relaxant",
    "narcotic",
    "injection",
    "surgery",
    "unknown",  # only on deliberately bad rows
)
PT, MR, NARC, INJ, SURG, UNKNOWN = range(6)

INJECTION_TYPES: tuple[str, ...] = (
    "epidural_steroid",
    "facet",
    "radiofrequency_ablation",
    "sacroiliac",
    "trigger_point",
    "nerve_block",
)

PROVIDERS: tuple[str, ...] = tuple(f"DR{i:02d}" for i in range(1, 9))
PROVIDER_WEIGHTS = np.array([0.20, 0.18, 0.16, 0.14, 0.12, 0.11, 0.09])  # DR01..DR07
SITES: tuple[str, ...] = ("North Clinic", "South Clinic")
SEXES: tuple[str, ...] = ("F", "M")

DIAGNOSES: tuple[tuple[str, float], ...] = (
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
FBSS = "M96.1"


@dataclass(frozen=True)
class Item:
    """One orderable / billable item: a row's technique, detail, code and strength."""

    technique: int
    detail: str
    code: str = ""
    strength: float = float("nan")
    injection_type: str = ""
    per_day: float = float("nan")  # units per day for medications


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
    Item(MR, "Cyclobenzaprine Hydrochloride 10 MG Oral Tablet", "", 10, per_day=3),
    Item(MR, "Methocarbamol 750 MG Oral Tablet", "", 750, per_day=4),
    Item(MR, "Tizanidine 4 MG Oral Tablet", "", 4, per_day=3),
    Item(MR, "Baclofen 10 MG Oral Tablet", "", 10, per_day=3),
)
MR_P = np.array([0.45, 0.25, 0.18, 0.12])

# Narcotics: strength is the opioid ingredient's mg (mcg/hr for patches).  RxNorm codes
# only where verified against the Synthea exports; the rest carry no code (common in
# pharmacy exports that key on NDC).
NARCOTICS = (
    Item(NARC, "Acetaminophen 325 MG / Oxycodone Hydrochloride 5 MG Oral Tablet", "1049221", 5,
         per_day=4),
    Item(NARC, "Hydrocodone Bitartrate 5 MG / Acetaminophen 325 MG Oral Tablet", "", 5,
         per_day=5),
    Item(NARC, "Tramadol Hydrochloride 50 MG Oral Tablet", "835603", 50, per_day=4),
    Item(NARC, "Codeine Phosphate 30 MG / Acetaminophen 300 MG Oral Tablet", "", 30, per_day=4),
    Item(NARC, "Tapentadol 50 MG Oral Tablet", "", 50, per_day=4),
    Item(NARC, "Morphine Sulfate 15 MG Extended Release Oral Tablet", "", 15, per_day=2),
    Item(NARC, "72 HR Fentanyl 0.025 MG/HR Transdermal System", "245134", 25, per_day=1 / 3),
    # high dose (>= 90 MME/day): 10 mg x 6 x 1.5 = 90; 30 mg x 3 = 90; 50 mcg/hr x 2.4 = 120
    Item(NARC, "Acetaminophen 325 MG / Oxycodone Hydrochloride 10 MG Oral Tablet", "", 10,
         per_day=6),
    Item(NARC, "Morphine Sulfate 30 MG Extended Release Oral Tablet", "", 30, per_day=3),
    Item(NARC, "72 HR Fentanyl 0.05 MG/HR Transdermal System", "", 50, per_day=1 / 3),
)
NARC_SHORT_P = np.array([0.27, 0.33, 0.26, 0.08, 0.06, 0, 0, 0, 0, 0])
NARC_LONG_P = np.array([0.22, 0.20, 0.15, 0.02, 0.05, 0.16, 0.10, 0.04, 0.03, 0.03])

# Injections (CPT).  Add-on codes are the extra levels of a multi-level session.
INJ_ESI_IL = Item(INJ, "Injection, interlaminar epidural, lumbar or sacral, with imaging "
                  "guidance", "62323", injection_type="epidural_steroid")
INJ_ESI_TF = Item(INJ, "Injection, transforaminal epidural, with imaging guidance, lumbar or "
                  "sacral, single level", "64483", injection_type="epidural_steroid")
INJ_ESI_TF_ADD = Item(INJ, "Injection, transforaminal epidural, with imaging guidance, lumbar "
                      "or sacral, each additional level", "64484",
                      injection_type="epidural_steroid")
INJ_FACET = Item(INJ, "Injection, paravertebral facet joint, lumbar or sacral, with imaging "
                 "guidance, single level", "64493", injection_type="facet")
INJ_FACET_ADD = Item(INJ, "Injection, paravertebral facet joint, lumbar or sacral, with "
                     "imaging guidance, second level", "64494", injection_type="facet")
INJ_RFA = Item(INJ, "Destruction by neurolytic agent, paravertebral facet joint nerve, lumbar "
               "or sacral, single facet joint", "64635", injection_type="radiofrequency_ablation")
INJ_RFA_ADD = Item(INJ, "Destruction by neurolytic agent, paravertebral facet joint nerve, "
                   "lumbar or sacral, each additional facet joint", "64636",
                   injection_type="radiofrequency_ablation")
INJ_SI = Item(INJ, "Injection, sacroiliac joint, anesthetic/steroid, with image guidance",
              "27096", injection_type="sacroiliac")
INJ_TPI = Item(INJ, "Injection, single or multiple trigger point(s), 1 or 2 muscle(s)",
               "20552", injection_type="trigger_point")
INJ_NB = Item(INJ, "Injection, anesthetic agent, other peripheral nerve or branch", "64450",
              injection_type="nerve_block")

SURGERIES = (
    Item(SURG, "Lumbar laminectomy", "63030"),
    Item(SURG, "Lumbar spinal fusion", "22612"),
)
BAD_ITEM = Item(UNKNOWN, "Unspecified treatment", "")

ITEMS: tuple[Item, ...] = (
    *PT_EVAL, PT_REEVAL, *PT_VISIT, *MUSCLE_RELAXANTS, *NARCOTICS,
    INJ_ESI_IL, INJ_ESI_TF, INJ_ESI_TF_ADD, INJ_FACET, INJ_FACET_ADD, INJ_RFA, INJ_RFA_ADD,
    INJ_SI, INJ_TPI, INJ_NB, *SURGERIES, BAD_ITEM,
)
_IDX = {it: i for i, it in enumerate(ITEMS)}


def _ids(items: tuple[Item, ...]) -> np.ndarray:
    return np.array([_IDX[it] for it in items], dtype=np.int32)


BAD_DATE = "2023-02-30"


class _Events:
    """Accumulates event blocks (parallel numpy arrays) for all patients."""

    def __init__(self) -> None:
        self.blocks: list[dict[str, np.ndarray]] = []

    def add(self, pat, day, item, days_supply=None, quantity=None, pain=None) -> None:
        n = len(pat)
        if n == 0:
            return
        self.blocks.append(
            {
                "pat": np.asarray(pat, dtype=np.int64),
                "day": np.asarray(day, dtype=np.int64),
                "item": np.broadcast_to(np.asarray(item, dtype=np.int32), (n,)).copy(),
                "ds": (np.full(n, -1, np.int64) if days_supply is None
                       else np.asarray(days_supply, np.int64)),
                "qty": (np.full(n, -1, np.int64) if quantity is None
                        else np.asarray(quantity, np.int64)),
                "pain": (np.full(n, -1, np.int64) if pain is None
                         else np.asarray(pain, np.int64)),
            }
        )

    def concat(self) -> dict[str, np.ndarray]:
        keys = ("pat", "day", "item", "ds", "qty", "pain")
        return {k: np.concatenate([b[k] for b in self.blocks]) for k in keys}


def _expand(pat: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat each patient ``counts`` times; return (patient per row, 0-based number)."""
    counts = np.asarray(counts, dtype=np.int64)
    rep = np.repeat(pat, counts)
    starts = np.cumsum(counts) - counts
    k = np.arange(len(rep), dtype=np.int64) - np.repeat(starts, counts)
    return rep, k


def _group_cumsum(values: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting where ``k == 0`` (rows grouped, in order)."""
    c = np.cumsum(values)
    start = np.maximum.accumulate(np.where(k == 0, np.arange(len(k)), 0))
    return c - (c - values)[start]


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
    return ids[rng.choice(len(ids), size=n, p=p / p.sum())]


def generate_events(
    patients: int = DEFAULT_PATIENTS,
    seed: int = DEFAULT_SEED,
    start: str = DEFAULT_START,
    years: float = DEFAULT_YEARS,
) -> pd.DataFrame:
    """Generate the export as a DataFrame with the columns of :data:`COLUMNS`, in that order.

    Text columns (including the ISO date strings ``event_date`` / ``end_date``, which may
    hold the deliberately impossible ``2023-02-30``) are categoricals; whole numbers are
    nullable ``Int64``.  Rows are sorted by patient and date (bad rows and exact duplicates
    included).  The same arguments always give the identical frame.
    """
    if patients < 1:
        raise ValueError("patients must be >= 1")
    rng = np.random.default_rng(seed)
    n = int(patients)
    origin = np.datetime64(start, "D")
    span = int(round(years * 365.25))
    if span < 120:
        raise ValueError("years must cover at least 120 days")

    # ---- patients -------------------------------------------------------------------
    pats = np.arange(n, dtype=np.int64)
    sex = (rng.random(n) >= 0.56).astype(np.int8)  # 0 F, 1 M
    age0 = np.clip(np.rint(rng.normal(57, 15, n)), 18, 95).astype(np.int64)
    index_day = rng.integers(0, span - 90, n)
    dx_p = np.array([w for _, w in DIAGNOSES])
    dx = rng.choice(len(DIAGNOSES), size=n, p=dx_p / dx_p.sum())
    fbss = dx == [d for d, _ in DIAGNOSES].index(FBSS)
    provider = rng.choice(7, size=n, p=PROVIDER_WEIGHTS / PROVIDER_WEIGHTS.sum())
    n_rare = max(1, int(round(n * 5 / 2400)))
    provider[rng.choice(n, size=min(n_rare, n), replace=False)] = 7  # DR08: a small cell
    site = np.where(provider < 4, 0, 1)
    flip = rng.random(n) < 0.06
    site = np.where(flip, 1 - site, site)

    # first technique: PT 74.5 %, narcotic 17 %, muscle relaxant 8 %, injection 0.5 %
    first = rng.choice(4, size=n, p=[0.745, 0.17, 0.08, 0.005])  # PT, NARC, MR, INJ
    u = rng.random((5, n))
    uses_pt = (first == 0) | (u[0] < 0.45)
    uses_mr = (first == 2) | (u[1] < np.where(first == 1, 0.35, 0.30))
    uses_narc = (first == 1) | (u[2] < 0.42)
    uses_inj = (first == 3) | (u[3] < np.where(fbss, 0.85, 0.38))
    uses_surg = fbss | (u[4] < 0.03)
    # FBSS patients: the (failed) surgery comes first, everything else 45-180 days later
    shift = np.where(fbss, rng.integers(45, 181, n), 0)
    base = index_day + shift

    def later(lo: int, hi: int) -> np.ndarray:
        return base + rng.integers(lo, hi + 1, n)

    start_pt = np.where(first == 0, base, later(5, 60))
    start_mr = np.where(first == 2, base, later(1, 90))
    start_narc = np.where(first == 1, base, later(10, 150))
    start_inj = np.where(first == 3, base, later(45, 330))
    # narcotic-first patients often get a muscle relaxant the same day (a combined step)
    same_day = (first == 1) & (rng.random(n) < 0.25)
    start_mr = np.where(same_day, start_narc, start_mr)
    # a share of patients on both: relaxant started with the opioid course -> overlap
    overlap = uses_mr & uses_narc & (first != 2) & (rng.random(n) < 0.45)
    start_mr = np.where(overlap & ~same_day, start_narc + rng.integers(0, 6, n), start_mr)
    # non-PT-first PT users must not start PT before their first technique's date
    start_pt = np.where(first != 0, np.maximum(start_pt, base + 1), start_pt)

    ev = _Events()

    # ---- physical therapy -----------------------------------------------------------
    pain_base = rng.integers(4, 10, n)

    def pt_episode(who: np.ndarray, starts: np.ndarray, lo: int, hi: int, reeval: bool) -> None:
        counts = rng.integers(lo, hi + 1, len(who))
        p, k = _expand(who, counts)
        gaps = rng.choice(np.array([2, 3, 4, 7]), size=len(p), p=[0.3, 0.35, 0.2, 0.15])
        gaps[k == 0] = 0
        day = np.repeat(starts, counts) + _group_cumsum(gaps, k)
        if reeval:
            first_item = np.full(len(p), _IDX[PT_REEVAL], np.int32)
        else:
            first_item = _ids(PT_EVAL)[rng.choice(3, size=len(p), p=[0.3, 0.5, 0.2])]
        visit_item = _pick(rng, _ids(PT_VISIT), PT_VISIT_P, len(p))
        item = np.where(k == 0, first_item, visit_item)
        pain = np.rint(pain_base[p] - 0.12 * k + rng.normal(0, 0.8, len(p)))
        pain = np.clip(pain, 0, 10).astype(np.int64)
        pain[rng.random(len(p)) < 0.15] = -1
        ev.add(p, day, item, pain=pain)

    who = pats[uses_pt]
    pt_episode(who, start_pt[who], 6, 18, reeval=False)
    again = who[rng.random(len(who)) < 0.2]
    pt_episode(again, start_pt[again] + rng.integers(150, 401, len(again)), 4, 10, reeval=True)

    # ---- muscle relaxants -----------------------------------------------------------
    who = pats[uses_mr]
    m = len(who)
    chronic = rng.random(m) < np.where(overlap[who], 0.4, 0.12)  # repeated relaxant fills
    counts = np.where(chronic, rng.integers(3, 7, m), rng.choice([1, 2], size=m, p=[0.75, 0.25]))
    p, k = _expand(who, counts)
    ds = rng.choice(np.array([7, 10, 14, 15, 21]), size=len(p), p=[0.2, 0.25, 0.25, 0.1, 0.2])
    gap = np.where(np.repeat(chronic, counts), rng.integers(0, 4, len(p)),
                   rng.integers(3, 40, len(p)))
    step = np.roll(ds, 1) + gap
    step[k == 0] = 0
    day = start_mr[p] + _group_cumsum(step, k)
    drug = _ids(MUSCLE_RELAXANTS)[rng.choice(4, size=m, p=MR_P)]
    item = np.repeat(drug, counts)
    per_day = np.array([ITEMS[i].per_day for i in range(len(ITEMS))])
    qty = np.rint(ds * per_day[item]).astype(np.int64)
    ev.add(p, day, item, days_supply=ds, quantity=qty)

    # ---- narcotics ------------------------------------------------------------------
    def narcotic_course(who: np.ndarray, starts: np.ndarray) -> None:
        m = len(who)
        kind = rng.choice(3, size=m, p=[0.68, 0.21, 0.11])  # short, medium, long-term
        counts = np.select(
            [kind == 0, kind == 1],
            [rng.choice([1, 2], size=m, p=[0.7, 0.3]), rng.integers(2, 4, m)],
            rng.integers(4, 19, m),
        )
        p, k = _expand(who, counts)
        kk = np.repeat(kind, counts)
        ds = np.select(
            [kk == 0, kk == 1],
            [rng.choice(np.array([3, 5, 7, 10, 14]), size=len(p)),
             rng.choice(np.array([7, 10, 14, 15, 20, 30]), size=len(p))],
            rng.choice(np.array([28, 30]), size=len(p), p=[0.35, 0.65]),
        )
        r = rng.random(len(p))
        # start of fill k = start of fill k-1 + its supply + delta
        delta = np.select(
            [kk == 0, kk == 1],
            [rng.integers(0, 12, len(p)), rng.integers(-2, 15, len(p))],
            np.select([r < 0.04, r < 0.08], [30, 31], rng.integers(-3, 4, len(p))),
        )
        step = np.roll(ds, 1) + delta
        step[k == 0] = 0
        day = np.repeat(starts, counts) + _group_cumsum(step, k)
        drug_short = _ids(NARCOTICS)[rng.choice(len(NARCOTICS), size=m, p=NARC_SHORT_P)]
        drug_long = _ids(NARCOTICS)[rng.choice(len(NARCOTICS), size=m, p=NARC_LONG_P)]
        item = np.repeat(np.where(kind == 2, drug_long, drug_short), counts)
        qty = np.maximum(1, np.rint(ds * per_day[item])).astype(np.int64)
        ev.add(p, day, item, days_supply=ds, quantity=qty)

    who = pats[uses_narc]
    narcotic_course(who, start_narc[who])
    again = who[rng.random(len(who)) < 0.18]
    narcotic_course(again, start_narc[again] + rng.integers(150, 451, len(again)))

    # ---- injections -----------------------------------------------------------------
    who = pats[uses_inj]
    m = len(who)
    # primary type: ESI-IL, ESI-TF, facet, SI, trigger point, nerve block
    kind = rng.choice(6, size=m, p=[0.20, 0.30, 0.20, 0.10, 0.12, 0.08])
    counts = rng.choice(np.arange(1, 8), size=m, p=[0.36, 0.24, 0.16, 0.09, 0.08, 0.045, 0.025])
    counts = np.where(kind == 4, counts + rng.integers(0, 2, m), counts)  # TPI: more often
    p, k = _expand(who, counts)
    kk = np.repeat(kind, counts)
    r = rng.random(len(p))
    interval = np.select(
        [r < 0.05, r < 0.35],
        [rng.integers(7, 14, len(p)), rng.integers(21, 46, len(p))],
        rng.integers(46, 121, len(p)),
    )
    interval[k == 0] = 0
    day = np.repeat(start_inj[who], counts) + _group_cumsum(interval, k)
    type_items = _ids((INJ_ESI_IL, INJ_ESI_TF, INJ_FACET, INJ_SI, INJ_TPI, INJ_NB))
    item = type_items[kk]
    # facet responders go on to radiofrequency ablation for their last session(s)
    last = np.repeat(counts, counts) - 1
    rfa = (kk == 2) & (np.repeat(rng.random(m) < 0.4, counts)) & (k >= 1) & (k >= last - 1)
    item = np.where(rfa, _IDX[INJ_RFA], item)
    responder = np.repeat(rng.random(m) < 0.6, counts)
    drop = np.where(responder & (k > 0), rng.integers(1, 4, len(p)), 0)
    pain = np.clip(np.rint(pain_base[p] + 1 - drop + rng.normal(0, 0.7, len(p))), 0, 10)
    pain = pain.astype(np.int64)
    pain[rng.random(len(p)) < 0.1] = -1
    ev.add(p, day, item, pain=pain)
    # multi-level sessions: an add-on line on the same date
    add_on = {_IDX[INJ_ESI_TF]: _IDX[INJ_ESI_TF_ADD], _IDX[INJ_FACET]: _IDX[INJ_FACET_ADD],
              _IDX[INJ_RFA]: _IDX[INJ_RFA_ADD]}
    add_map = np.full(len(ITEMS), -1, np.int32)
    for a, b in add_on.items():
        add_map[a] = b
    multi = (add_map[item] >= 0) & (rng.random(len(p)) < 0.12)
    ev.add(p[multi], day[multi], add_map[item[multi]])

    # ---- surgery --------------------------------------------------------------------
    who = pats[uses_surg]
    sday = np.where(fbss[who], index_day[who], start_inj[who] + rng.integers(120, 400, len(who)))
    sitem = _ids(SURGERIES)[rng.choice(2, size=len(who), p=[0.7, 0.3])]
    ev.add(who, sday, sitem)

    # ---- assemble -------------------------------------------------------------------
    e = ev.concat()
    keep = (e["day"] >= 0) & (e["day"] < span)
    e = {key: v[keep] for key, v in e.items()}
    tech = np.array([it.technique for it in ITEMS], np.int64)[e["item"]]
    order = np.lexsort((e["item"], tech, e["day"], e["pat"]))
    e = {key: v[order] for key, v in e.items()}
    rows = len(e["pat"])

    # end_date on ~15 % of medication rows (last covered day)
    is_med = e["ds"] > 0
    end = np.where(is_med & (rng.random(rows) < 0.15), e["day"] + e["ds"] - 1, -(10**9))

    # deliberately bad rows (~0.3 %), five kinds
    pid = e["pat"].copy()
    item = e["item"].copy()
    ds = e["ds"].copy()
    day_code = e["day"].copy()  # day offset; BAD_DATE gets its own code below
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

    sel = take(pool, per_kind)
    pid[sel] = -1  # missing patient id
    sel = take(meds[end[meds] < -(10**8)], per_kind)  # a fill without an end date
    ds[sel] = 0  # days_supply 0
    sel = take(meds, per_kind)
    end[sel] = e["day"][sel] - 3  # end before start
    sel = take(pool, per_kind)
    bad_date[sel] = True  # impossible date
    sel = take(pool, per_kind)
    item[sel] = _IDX[BAD_ITEM]  # unknown technique

    # exact duplicate rows (~0.1 %), placed right after their original
    n_dup = max(3, int(round(rows * 0.001)))
    dup = np.sort(rng.choice(rows, size=min(n_dup, rows), replace=False))
    take_rows = np.sort(np.concatenate([np.arange(rows), dup]), kind="stable")

    # ---- per-row columns --------------------------------------------------------------
    year_of = (origin + np.arange(-40000, span, dtype="timedelta64[D]")).astype("datetime64[Y]")
    year_of = year_of.astype(np.int64) + 1970  # calendar year of day offset d at [d + 40000]
    # birth day (offset from origin) such that the exact age at the first contact is age0
    birth_offset = index_day - np.ceil(age0 * 365.25).astype(np.int64) - rng.integers(0, 365, n)
    birth_year = year_of[birth_offset + 40000]
    patient = e["pat"]
    age = _calendar_age(origin + birth_offset[patient], origin + e["day"])
    reaches_90 = np.zeros(n, bool)
    reaches_90[patient[age >= 90]] = True
    first_year = year_of[index_day + 40000]
    birth_year_out = np.where(reaches_90, first_year - 90, birth_year)
    age = np.minimum(age, 90)

    n_dates = span + 16
    date_strings = (origin + np.arange(-8, n_dates - 8, dtype="timedelta64[D]")).astype(str)
    date_cats = np.append(date_strings, BAD_DATE)
    ev_code = np.where(bad_date, len(date_cats) - 1, day_code + 8)
    end_code = np.where(end > -(10**8), end + 8, -1)
    end_code = np.where((end_code >= 0) & (end_code < n_dates), end_code, -1)

    width = max(6, len(str(n)))
    pid_cats = np.char.add("P", np.char.zfill(np.arange(1, n + 1).astype(str), width))

    items_tech = np.array([it.technique for it in ITEMS])
    details = [it.detail for it in ITEMS]
    codes_list = sorted({it.code for it in ITEMS if it.code})
    code_idx = np.array([codes_list.index(it.code) if it.code else -1 for it in ITEMS])
    strength = np.array([it.strength for it in ITEMS], dtype=float)
    inj_idx = np.array(
        [INJECTION_TYPES.index(it.injection_type) if it.injection_type else -1 for it in ITEMS]
    )

    def cat(codes: np.ndarray, cats) -> pd.Categorical:
        return pd.Categorical.from_codes(codes[take_rows], categories=pd.Index(list(cats)))

    def intcol(values: np.ndarray, missing: np.ndarray) -> pd.arrays.IntegerArray:
        return pd.arrays.IntegerArray(
            np.asarray(values[take_rows], dtype=np.int64), np.asarray(missing[take_rows], bool)
        )

    qty = e["qty"]
    pain = e["pain"]
    st = strength[item]
    data = {
        "patient_id": cat(pid, pid_cats),
        "event_date": cat(ev_code, date_cats),
        "technique": cat(items_tech[item], TECHNIQUE_LABELS),
        "end_date": cat(end_code, date_cats),
        "days_supply": intcol(np.maximum(ds, 0), ds < 0),
        "detail": cat(item, details),
        "code": cat(code_idx[item], codes_list),
        "quantity": intcol(np.maximum(qty, 0), qty < 0),
        "strength": intcol(np.nan_to_num(st, nan=0).astype(np.int64), np.isnan(st)),
        "injection_type": cat(inj_idx[item], INJECTION_TYPES),
        "provider_id": cat(provider[patient], PROVIDERS),
        "site": cat(site[patient], SITES),
        "sex": cat(sex[patient], SEXES),
        "birth_year": intcol(birth_year_out[patient], np.zeros(rows, bool)),
        "age": intcol(age, np.zeros(rows, bool)),
        "diagnosis": cat(dx[patient], [d for d, _ in DIAGNOSES]),
        "pain_score": intcol(np.maximum(pain, 0), pain < 0),
    }
    return pd.DataFrame(data, columns=list(COLUMNS))


def write_csv(frame: pd.DataFrame, out: str | Path) -> Path:
    """Write ``frame`` as a UTF-8 CSV (quotes only where needed, empty cells for missing)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    table = pa.Table.from_pandas(frame, preserve_index=False)
    for i, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.string()))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, out, write_options=pacsv.WriteOptions(quoting_style="needed"))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=DEFAULT_PATIENTS)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--start", default=DEFAULT_START, help="first possible date (ISO)")
    parser.add_argument("--years", type=float, default=DEFAULT_YEARS)
    args = parser.parse_args(argv)
    frame = generate_events(args.patients, seed=args.seed, start=args.start, years=args.years)
    path = write_csv(frame, args.out)
    print(f"wrote {len(frame):,} rows for {args.patients:,} patients to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

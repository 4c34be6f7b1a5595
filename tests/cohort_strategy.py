"""A Hypothesis strategy of cohorts over a given event table: every criterion of
:class:`analytics.cohorts.Cohort`, each set or not, with values drawn from the table (its
physicians, sites, diagnosis codes, dates), so that most cohorts select someone.  Used by
tests/test_cohorts.py (selection against the oracle) and tests/test_results_selection.py
(cached per-patient tables against a fresh computation)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import strategies as st

from analytics.cohorts import AGE_BANDS, Cohort
from analytics.schema import TECHNIQUES


def cohorts(events: pd.DataFrame) -> st.SearchStrategy[Cohort]:
    """Cohorts over ``events`` (a canonical event table)."""
    providers = sorted(events["provider_id"].dropna().unique())
    sites = sorted(events["site"].dropna().unique())
    codes = sorted({str(c)[:3] for c in events["diagnosis"].dropna().unique()})
    first = events["event_date"].min().date()
    last = events["event_date"].max().date()
    days = (last - first).days

    @st.composite
    def draw_cohort(draw) -> Cohort:
        def sometimes(strategy, unset=None):
            """A value of ``strategy`` one time in three, else ``unset`` (so that cohorts
            combine a few criteria, not all of them)."""
            return draw(strategy) if draw(st.integers(0, 2)) == 0 else unset

        def subset(values, k):
            return sometimes(st.lists(st.sampled_from(values), min_size=1, max_size=k,
                                      unique=True).map(tuple), ()) if values else ()

        day = st.integers(0, days).map(lambda d: first + dt.timedelta(days=d))
        date_from, date_to = sometimes(day), sometimes(day)
        if date_from and date_to and date_to < date_from:
            date_from, date_to = date_to, date_from
        min_sessions = sometimes(st.integers(0, 4))
        return Cohort(
            date_from=date_from, date_to=date_to,
            sexes=subset(["F", "M"], 1),
            age_bands=subset(list(AGE_BANDS), 3),
            diagnosis=sometimes(st.sampled_from([*codes, "stenosis", "pain", "m54.5"]), ""),
            providers=subset(providers, 3),
            sites=subset(sites, 1),
            tried=subset(list(TECHNIQUES), 1),
            never_tried=subset(list(TECHNIQUES), 1),
            pathway_starts_with=sometimes(st.sampled_from(TECHNIQUES), ""),
            surgery_before_injection=sometimes(st.booleans()),
            long_term_narcotic=sometimes(st.booleans()),
            min_sessions=min_sessions,
            max_sessions=sometimes(st.integers(min_sessions or 0, 8)),
        )

    return draw_cohort()

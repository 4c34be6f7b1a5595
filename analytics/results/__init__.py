"""The results layer: one pure builder per view, privacy applied once inside it.

Each view module (``overview``, ``pathways``, ``injections``, ``narcotics``,
``compare``, ``timeline``, ``report``, ``summary``) aggregates a cohort's
measures (:mod:`analytics.results.measures`) without any threshold, then
protects the aggregates for a threshold (:mod:`analytics.results.layout`) into a
result object of :class:`~analytics.results.table.Table` s that pages, the
report, downloads and the command line only render.
"""

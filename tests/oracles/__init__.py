"""Test oracles: plain per-patient loops that restate each definition, used to check the
vectorised code in ``analytics/`` on random data (never imported by the product)."""

"""Column access for ingest: a raw table's string columns, factorised once.

Every rule of ingest works on the *unique* values of a column and maps the result back
to the rows through integer codes (-1 = empty), so a 1M-row file with a few thousand
distinct descriptions is classified a few thousand times, not a million.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc


class Columns:
    """Factorised columns of a raw table: codes (-1 = empty) and stripped unique values."""

    def __init__(self, table: pa.Table):
        self.table = table
        self.n = table.num_rows
        self._raw: dict[str, tuple[np.ndarray, int]] = {}
        self._clean: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._dict_cache: dict[str, pa.Array] = {}

    def raw_codes(self, name: str) -> tuple[np.ndarray, int]:
        """Exact-value codes (for duplicates): (codes with -1 for null, number of uniques)."""
        if name not in self._raw:
            col = self.table.column(name)
            if len(col) == 0:
                self._raw[name] = (np.zeros(0, dtype=np.int64), 0)
                self._dict_cache[name] = pa.array([], pa.string())
                return self._raw[name]
            enc = pc.dictionary_encode(col)  # one dictionary shared by all chunks
            dictionary = enc.chunk(enc.num_chunks - 1).dictionary
            if enc.num_chunks > 1 and len(enc.chunk(0).dictionary) != len(dictionary):
                enc = pa.chunked_array([pc.dictionary_encode(col.combine_chunks())])
                dictionary = enc.chunk(0).dictionary
            codes = np.concatenate(
                [c.indices.fill_null(-1).to_numpy(zero_copy_only=False) for c in enc.chunks]
            ).astype(np.int64, copy=False)
            self._raw[name] = (codes, len(dictionary))
            self._dict_cache[name] = dictionary
        return self._raw[name]

    def get(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(codes, uniques) with values stripped of surrounding spaces; blank -> -1."""
        if name not in self._clean:
            codes, _ = self.raw_codes(name)
            dictionary = self._dict_cache[name]
            stripped = pc.utf8_trim_whitespace(dictionary).to_numpy(zero_copy_only=False)
            uniques = np.asarray(stripped, dtype=object)
            blank = np.flatnonzero(uniques == "")
            if len(blank):
                lookup = np.arange(len(uniques))
                lookup[blank] = -1
                codes = np.where(codes >= 0, lookup[np.maximum(codes, 0)], -1)
            self._clean[name] = (codes, uniques)
        return self._clean[name]

    def exact(self, name: str, idx: np.ndarray) -> pd.Series:
        """The values as read (not stripped; missing where null) of the rows ``idx``, as a
        ``string`` Series: a take from the column's dictionary, not from the table."""
        codes, _ = self.raw_codes(name)
        picked = codes[idx]
        missing = picked < 0
        positions = pa.array(picked, type=pa.int64(), mask=missing) if missing.any() else (
            pa.array(picked, type=pa.int64()))
        values = self._dict_cache[name].take(positions)
        return pd.Series(pd.arrays.ArrowStringArray(values)).astype("string")

    def duplicates(self, columns: list[str]) -> np.ndarray:
        """True for each row identical in every one of ``columns`` to an earlier row."""
        if self.n == 0 or not columns:
            return np.zeros(self.n, dtype=bool)
        key = combine([self.raw_codes(c) for c in columns], self.n)
        return pd.Series(key).duplicated().to_numpy()


def take(values: np.ndarray, codes: np.ndarray, fill: object) -> np.ndarray:
    """``values[codes]`` with ``fill`` where codes == -1 (values is an array of uniques)."""
    if len(values) == 0:
        out = np.empty(len(codes), dtype=values.dtype if values.dtype != object else object)
        out[:] = fill
        return out
    out = values[np.maximum(codes, 0)]
    if (codes < 0).any():
        out = out.copy()
        out[codes < 0] = fill
    return out


def string_series(uniques: np.ndarray, codes: np.ndarray) -> pd.Series:
    """A pandas ``string`` Series of ``uniques[codes]`` (missing where codes == -1)."""
    if len(uniques) == 0:
        return pd.Series(pd.NA, index=pd.RangeIndex(len(codes)), dtype="string")
    arr = pa.array(uniques, pa.string())
    missing = codes < 0
    idx = pa.array(codes, type=pa.int64(), mask=missing) if missing.any() else pa.array(codes)
    return pd.Series(pd.arrays.ArrowStringArray(arr.take(idx)))


def combine(parts: list[tuple[np.ndarray, int]], n: int) -> np.ndarray:
    """One int64 key per row that is equal exactly when all parts' codes are equal."""
    key = np.zeros(n, dtype=np.int64)
    for codes, nuniq in parts:
        base = nuniq + 1
        if n and int(key.max()) >= (2**62) // max(base, 1):
            key = pd.factorize(key)[0].astype(np.int64)
        key = key * base + (codes + 1)
    return key

"""Value maps: what a clinic's own labels and drug names mean (docs/definitions.md
section 1, "Values PainPath does not know").

A value map is a list of ``(kind, value, maps_to)`` rows, saved with a dataset and given to
:func:`analytics.ingest.ingest` as ``value_map``:

- ``kind`` is the column the value comes from: ``technique`` (a technique / treatment-type
  label), ``injection_type`` (an injection-type label) or ``description`` (a drug or
  treatment description; ``drug`` and ``detail`` are read as ``description``);
- ``value`` is the value as exported; it matches with accents, case, punctuation and
  spaces ignored;
- ``maps_to`` is a technique (``physical_therapy``, ``muscle_relaxant``, ``narcotic``,
  ``injection``, ``surgery``, ``other``), an injection type (``epidural_steroid``,
  ``facet``, ... : technique ``injection`` of that type), a safety-only drug class
  (``benzodiazepine``, ``gabapentinoid``, ``naloxone``, ``oud_treatment``: technique
  ``other`` with that class) or ``not_relevant``.  An ``injection_type`` value maps to an
  injection type only.  Spaces and case do not matter (``Not relevant``,
  ``physical therapy``).

A mapped value wins over PainPath's own tables: a mapped technique label decides the row
(as a label of ``technique_labels.csv`` does), a mapped injection-type label gives the
injection type, and a mapped description decides a row whose technique label does not.
A CSV file of a value map has the columns ``kind`` (or ``column``), ``value`` and
``maps_to`` (:func:`read_value_map`).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from analytics import schema, vocab
from analytics.ingest.report import IngestError

KINDS: tuple[str, ...] = ("technique", "injection_type", "description")
"""The columns a value map reads values of."""
_KIND_ALIASES = {"technique": "technique", "treatment": "technique",
                 "injection_type": "injection_type", "injection": "injection_type",
                 "description": "description", "detail": "description", "drug": "description",
                 "drug_name": "description"}
NOT_RELEVANT = "not_relevant"
COLUMNS: tuple[str, ...] = ("kind", "value", "maps_to")


@dataclass(frozen=True)
class Target:
    """What a mapped value means: ``technique`` (``not_relevant`` for a row that is not
    pain management), the injection type of an injection, the drug class of a row kept
    only for its class."""

    technique: str
    injection_type: str = ""
    drug_class: str = ""


def targets(kind: str) -> tuple[str, ...]:
    """The ``maps_to`` values a kind accepts, in the order a page offers them."""
    if kind == "injection_type":
        return schema.INJECTION_TYPES
    injection_types = tuple(t for t in schema.INJECTION_TYPES if t != "other")
    return (*schema.TECHNIQUES, *injection_types, *schema.SAFETY_ONLY_CLASSES, NOT_RELEVANT)


def _canonical(text: str) -> str:
    return "_".join(vocab.normalise_label(text).split())


def parse_kind(text: str) -> str:
    """The kind named by ``text`` (``technique``, ``injection_type``, ``description``;
    aliases ``drug``, ``detail``).  Raises ``ValueError``."""
    kind = _KIND_ALIASES.get(_canonical(text))
    if kind is None:
        raise ValueError(f"'{text}' is not a kind of value (one of: {', '.join(KINDS)})")
    return kind


def parse_target(kind: str, text: str) -> Target:
    """The :class:`Target` of a ``maps_to`` value of the given kind.  Raises
    ``ValueError`` for a value the kind does not accept."""
    name = _canonical(text)
    if name not in targets(kind):
        raise ValueError(
            f"'{text}' is not something a {kind.replace('_', '-')} value can map to "
            f"(one of: {', '.join(targets(kind))})"
        )
    if kind == "injection_type":
        return Target("injection", name)
    if name in schema.TECHNIQUES or name == NOT_RELEVANT:
        return Target(name)
    if name in schema.INJECTION_TYPES:
        return Target("injection", name)
    return Target("other", drug_class=name)


def value_key(value: object) -> str:
    """The form in which a value is matched (accents, case, punctuation ignored)."""
    return vocab.normalise_label(str(value))


@dataclass(frozen=True)
class ValueMap:
    """A checked value map: ``rows`` are ``(kind, value, maps_to)`` with the kind and
    target in their canonical spelling, one row per (kind, matched value), in the order
    given (a later row for the same value replaces an earlier one)."""

    rows: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self) -> None:
        lookup: dict[tuple[str, str], Target] = {}
        for kind, value, maps_to in self.rows:
            lookup[(kind, value_key(value))] = parse_target(kind, maps_to)
        object.__setattr__(self, "_lookup", lookup)

    def __len__(self) -> int:
        return len(self.rows)

    def lookup(self, kind: str, value: str | None) -> Target | None:
        """The target of ``value`` of that kind, or None when it is not mapped."""
        if not value:
            return None
        return self._lookup.get((kind, value_key(value)))  # type: ignore[attr-defined]

    def merged(self, other: ValueMap | None) -> ValueMap:
        """This map with the rows of ``other`` added; ``other`` wins for a value both
        map."""
        if other is None or not len(other):
            return self
        return from_rows([*self.rows, *other.rows])

    def to_frame(self) -> pd.DataFrame:
        """The rows as a frame of :data:`COLUMNS` (``string``)."""
        return pd.DataFrame(list(self.rows), columns=list(COLUMNS), dtype="string")


def from_rows(rows) -> ValueMap:
    """A :class:`ValueMap` from ``(kind, value, maps_to)`` rows: kinds and targets are
    checked and spelled canonically, empty values and empty targets are left out, and a
    later row for the same value replaces an earlier one.  Raises ``ValueError`` naming
    the first bad row."""
    kept: dict[tuple[str, str], tuple[str, str, str]] = {}
    for number, row in enumerate(rows, start=1):
        kind_text, value, maps_to = (("" if v is None or v is pd.NA else str(v)).strip()
                                     for v in row)
        if not value or not maps_to:
            continue
        try:
            kind = parse_kind(kind_text)
            parse_target(kind, maps_to)
        except ValueError as exc:
            raise ValueError(f"value map row {number}: {exc}") from exc
        key = (kind, value_key(value))
        kept.pop(key, None)
        kept[key] = (kind, value, _canonical(maps_to))
    return ValueMap(tuple(kept.values()))


def from_frame(frame: pd.DataFrame | None) -> ValueMap:
    """A :class:`ValueMap` from a frame with columns ``kind`` (or ``column``), ``value``
    and ``maps_to`` (None or an empty frame: the empty map)."""
    if frame is None or frame.empty:
        return ValueMap()
    columns = {vocab.normalise_name(c): c for c in frame.columns}
    kind = columns.get("kind") or columns.get("column")
    value, maps_to = columns.get("value"), columns.get("mapsto")
    if kind is None or value is None or maps_to is None:
        raise ValueError(
            "a value map needs the columns kind (or column), value and maps_to; it has: "
            + ", ".join(map(str, frame.columns))
        )
    return from_rows(frame[[kind, value, maps_to]].itertuples(index=False, name=None))


def read_value_map(path: str | Path) -> ValueMap:
    """The value map of a CSV file (columns ``kind`` or ``column``, ``value``,
    ``maps_to``; UTF-8, with or without a byte-order mark).  Raises
    :class:`analytics.ingest.IngestError` with a one-line message for a file that cannot
    be read or a bad row."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise IngestError(f"{path.name}: cannot read the value map ({exc})") from exc
    rows = list(csv.reader(io.StringIO(text)))
    try:
        if not rows:
            raise ValueError("the file is empty")
        header, body = rows[0], rows[1:]
        if len(set(header)) < len(header):
            raise ValueError("the header repeats a column name")
        width = len(header)
        body = [(r + [""] * width)[:width] for r in body if any(v.strip() for v in r)]
        return from_frame(pd.DataFrame(body, columns=header, dtype="string"))
    except ValueError as exc:
        raise IngestError(f"{path.name}: {exc}") from exc

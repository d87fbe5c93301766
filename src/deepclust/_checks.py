"""Small argument checks shared by the package's modules."""

from __future__ import annotations


def repeated(values) -> list:
    """The values that occur more than once in ``values``, sorted (empty when all are distinct)."""
    values = list(values)
    return sorted({v for v in values if values.count(v) > 1})

"""The ASF license categories (A, B, X), on their own: the license-header check names them
without importing what :mod:`shared.sbom.licenses` needs to classify SPDX expressions."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Category"]


class Category(StrEnum):
    """An ASF license category. Values are the wire spelling."""

    A = "A"
    B = "B"
    X = "X"
    UNKNOWN = "unknown"

    @property
    def badness(self) -> int:
        """0 for A … 3 for X: higher is worse (unknown ranks between B and X)."""
        return _BADNESS[self]


_BADNESS = {Category.A: 0, Category.B: 1, Category.UNKNOWN: 2, Category.X: 3}

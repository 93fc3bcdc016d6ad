"""Fixtures of the compliance-check tests: real GnuPG keys and a fresh archive index cache."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.checks.archive_reader import clear_index_cache
from shared.checks.digests import clear_digest_cache
from tests.support.gpg import gpg_factory  # noqa: F401 - a session fixture used by the tests


@pytest.fixture(autouse=True)
def _fresh_index_cache() -> Iterator[None]:
    clear_index_cache()
    clear_digest_cache()
    yield
    clear_index_cache()
    clear_digest_cache()

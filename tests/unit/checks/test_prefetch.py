"""What atr check sets off before it imports the checks only fills caches: the report is the
same with it and without it, and the KEYS are imported once."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from shared.checks import inflate, prefetch, sbom_worker
from shared.checks.runner import Report, inputs_from_directory, run_checks
from shared.openpgp import gnupg
from tests.support.gpg import GpgFactory
from tests.unit.checks import hostile
from tests.unit.checks.test_cli_check import ART, signed_release


def _steady(report: Report) -> str:
    text = json.dumps(report.to_json())
    text = re.sub(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+\+00:00", "T", text)
    text = re.sub(r"urn:uuid:[0-9a-f-]+", "U", text)
    return re.sub(r'"sbom_sha256": "[0-9a-f]+"', "S", text)


@pytest.fixture
def homes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The GnuPG homes made while the test runs."""
    made: list[Path] = []
    real = gnupg.throwaway_home

    @contextmanager
    def counted() -> Iterator[Path]:
        with real() as home:
            made.append(home)
            yield home

    monkeypatch.setattr(gnupg, "throwaway_home", counted)
    return made


def test_the_report_is_the_same_with_the_prefetch(
    tmp_path: Path, gpg_factory: GpgFactory, homes: list[Path]
) -> None:
    folder = tmp_path / "rel"
    keys = signed_release(folder, gpg_factory)
    alone = run_checks(inputs_from_directory(folder, keys))
    assert len(homes) == 1  # the keys and signatures checks share one keyring
    with prefetch.prefetching(folder, keys):
        assert sbom_worker._worker is not None
        prefetched = run_checks(inputs_from_directory(folder, keys))
    assert sbom_worker._worker is None
    assert len(homes) == 2  # made by the prefetch, used by both checks
    assert _steady(prefetched) == _steady(alone)
    assert prefetched.exit_code == alone.exit_code


def test_a_prefetch_that_finds_nothing_to_do(tmp_path: Path) -> None:
    context: AbstractContextManager[None] = prefetch.prefetching(tmp_path / "nope", None)
    with context:
        assert sbom_worker._worker is None
    (tmp_path / "KEYS").write_text("not a key\n")
    (tmp_path / "notes.txt").write_text("hello\n")
    with prefetch.prefetching(tmp_path, None):
        pass


def test_a_prefetched_stream_goes_to_the_first_reader_of_the_same_file(tmp_path: Path) -> None:
    path = hostile.write_tar(tmp_path / ART, hostile.source_tree("apache-foo-1.0-src"))
    inflate.prefetch(path)
    taken = inflate.take_prefetched(path)
    assert taken is not None
    raw, stream = taken
    try:
        assert stream.read(1 << 20)[: len("apache-foo")] == b"apache-foo"
    finally:
        stream.close()
        raw.close()
    assert inflate.take_prefetched(path) is None
    inflate.prefetch(path)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert inflate.take_prefetched(path) is None  # changed since: not the same file
    inflate.drop_prefetched()
    assert not inflate._prefetched

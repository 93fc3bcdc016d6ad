"""The checks on real, voted Apache source releases (the corpus of docs/corpus.md).

The corpus is fetched by ``scripts/fetch_corpus.py`` into ``.corpus/`` (or
``ATR_CORPUS_DIR``); without it these tests are skipped, so the suite never needs the
network. A release that passed its vote must get no blocker: the releases with their real
signature and KEYS none at all, those without a signature (PyPI, or Debian without one)
only the two that say so.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shared.checks.archive_reader import clear_index_cache
from shared.checks.base import CheckResult, Status
from shared.checks.runner import inputs_from_directory, run_checks
from shared.checks.source_scan import clear_scan_cache

pytestmark = pytest.mark.integration

CACHE = Path(os.environ.get("ATR_CORPUS_DIR") or Path(__file__).resolve().parents[2] / ".corpus")
NAMES = sorted(p.stem for p in CACHE.glob("*.json")) if CACHE.is_dir() else []
SKIP = "the corpus is not fetched: run .venv/bin/python scripts/fetch_corpus.py"


def _meta(name: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((CACHE / f"{name}.json").read_text())
    return meta


def _check(name: str, version: str | None = None) -> list[CheckResult]:
    meta = _meta(name)
    folder = CACHE / name
    if not (folder / meta["artifact"]).is_file():
        pytest.skip(f"{meta['artifact']} is not in the cache: run scripts/fetch_corpus.py {name}")
    clear_index_cache()
    clear_scan_cache()
    inputs = inputs_from_directory(folder, version=version or meta["version"])
    return list(run_checks(inputs).results)


def _blockers(results: list[CheckResult]) -> list[CheckResult]:
    return [r for r in results if r.status is Status.BLOCKER]


@pytest.mark.skipif(not NAMES, reason=SKIP)
@pytest.mark.parametrize("name", NAMES or ["(none)"])
def test_a_voted_release_has_no_blocker(name: str) -> None:
    meta = _meta(name)
    results = _check(name)
    blockers = _blockers(results)
    if meta["signed"]:
        assert blockers == [], [r.message for r in blockers]
        good = [r for r in results if r.check == "signatures" and r.status is Status.PASS]
        assert good, f"no good signature on {meta['artifact']}"
    else:
        # Only what says the signature is not there (PyPI serves none).
        assert Counter(r.check for r in blockers) == {"paths": 1, "signatures": 1}
        assert all(".asc" in r.message for r in blockers)


def _header_summary(results: list[CheckResult], artifact: str) -> CheckResult:
    [summary] = [r for r in results if r.check == "license_headers" and r.path == artifact]
    return summary


@pytest.mark.skipif("httpd" not in NAMES, reason=SKIP)
def test_httpd_autotools_files_and_the_wrong_version() -> None:
    """httpd 2.4.68: configure, Makefile.in, config.guess, ltmain.sh and the Bison parser are
    neither blockers nor Category X; checked as release 2.4.69 its archive is a blocker."""
    results = _check("httpd")
    summary = _header_summary(results, "httpd-2.4.68.tar.gz")
    counts = summary.data["counts"]
    assert counts["unapproved"] == 0
    assert counts["gpl-exception"] >= 1 and counts["generated"] > 1000 and counts["build"] > 50
    folders = {f["pattern"]: f["files"] for f in summary.data["folders"]}
    assert folders.get("test/modules/**", 0) > 50  # most files without a header: tests
    wrong = _blockers(_check("httpd", version="2.4.69"))
    assert [(r.check, r.path) for r in wrong] == [("paths", "httpd-2.4.68.tar.gz")]


@pytest.mark.skipif("apr" not in NAMES, reason=SKIP)
def test_apr_berkeley_code_is_not_category_x() -> None:
    results = _check("apr")
    licensed = {
        r.data["member"]: r.data["license"]
        for r in results
        if r.check == "license_headers" and "member" in r.data
    }
    assert licensed["include/apr_fnmatch.h"] == "BSD-4-UC"
    assert _header_summary(results, "apr-1.7.2.tar.bz2").data["counts"]["gpl-exception"] == 3


@pytest.mark.skipif("libcloud" not in NAMES, reason=SKIP)
def test_rat_mode_on_a_real_release(tmp_path: Path) -> None:
    """The RAT mode blocks what RAT would fail on, and an exclude clears it, as RAT users do."""
    from shared.checks.policy import Policy  # noqa: PLC0415 - only this test needs it

    meta = _meta("libcloud")
    folder = CACHE / "libcloud"
    clear_scan_cache()
    rat = Policy(license_header_mode="rat")
    results = run_checks(inputs_from_directory(folder, policy=rat, version=meta["version"]))
    header_blockers = [r for r in _blockers(list(results.results)) if r.check == "license_headers"]
    assert len(header_blockers) > 800  # the XML fixtures: every one listed, none capped
    excluded = Policy(
        license_header_mode="rat",
        license_header_excludes=("**/fixtures/**", "setup.cfg", "tox.ini", "*.ini", "*.cfg"),
    )
    results = run_checks(inputs_from_directory(folder, policy=excluded, version=meta["version"]))
    left = [r.data.get("member") for r in results.results if r.check == "license_headers"]
    assert len([m for m in left if m]) < 20

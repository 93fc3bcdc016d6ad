"""The SBOM worker process answers what the SBOM check computes in its own process, and the
check does the work itself when the worker cannot answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest

from shared.checks import sbom, sbom_worker
from shared.checks.base import CheckResult
from shared.checks.source_scan import SourceScan
from shared.sbom.analysis import SbomAnalysis
from shared.sbom.records import ReleaseArtifact

from .conftest import RunCheck
from .test_sbom import _tree

RELEASE = ReleaseArtifact("foo", "1.0", "foo-1.0-src.tar.gz", "a" * 128, "b" * 64)


@pytest.fixture(params=[True, False], ids=["forked", "spawned"])
def worker(request: pytest.FixtureRequest) -> Iterator[None]:
    """A worker forked from this process (where it may: Linux, one thread), or a new one."""
    sbom_worker.start(fork=request.param)
    forked = isinstance(sbom_worker._worker, sbom_worker._Forked)
    assert forked == (request.param and sbom_worker._fork_possible())
    yield
    sbom_worker.stop()


def _scan() -> SourceScan:
    manifests = {p: v.encode() for p, v in _tree().items() if isinstance(v, str) and "/" in p}
    manifests["ü/requirements.txt"] = b"requests==2.31.0\nnot a requirement ===\n"
    manifests["broken/package.json"] = b"{not json"
    return SourceScan(manifests=manifests, skipped_manifests={"big/pom.xml": "too large"})


def _same(a: SbomAnalysis, b: SbomAnalysis) -> None:
    def steady(text: str) -> str:
        text = re.sub(r'"timestamp": "[^"]*"', "T", text)
        return re.sub(r"urn:uuid:[0-9a-f-]+", "U", text)

    assert steady(a.sbom_json) == steady(b.sbom_json)
    assert (a.components, a.manifests, a.manifest_errors, a.manifest_problems) == (
        b.components,
        b.manifests,
        b.manifest_errors,
        b.manifest_problems,
    )
    assert (a.skipped_manifests, a.schema_errors, a.ntia) == (
        b.skipped_manifests,
        b.schema_errors,
        b.ntia,
    )


@pytest.mark.usefixtures("worker")
def test_the_worker_answers_what_the_check_computes() -> None:
    scan = _scan()
    remote = sbom_worker.analyse(scan, RELEASE)
    assert remote is not None
    local = sbom.analyse_scan(scan, RELEASE)
    _same(remote, local)
    assert remote.components and remote.manifest_errors and remote.manifest_problems
    assert sbom_worker.analyse(SourceScan(), RELEASE) is not None  # and answers again
    sbom_worker.prepare()  # manifests coming: the parsers are imported, nothing is answered
    _same(sbom_worker.analyse(scan, RELEASE) or local, local)


@pytest.mark.usefixtures("worker")
def test_the_check_gives_the_same_results_with_the_worker(run_check: RunCheck) -> None:
    def steady(results: list[CheckResult]) -> str:
        """The results without what changes from run to run: the SBOM's time and serial
        number, and the digests (the .tar.gz is written again, with its gzip time)."""
        text = json.dumps([r.to_json() for r in results])
        text = re.sub(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+\+00:00", "T", text)
        text = re.sub(r"urn:uuid:[0-9a-f-]+", "U", text)
        return re.sub(r"[0-9a-f]{64,128}", "H", text)

    with_worker = run_check(sbom, _tree())
    sbom_worker.stop()
    alone = run_check(sbom, _tree())
    assert steady(with_worker) == steady(alone)


def test_no_worker_or_a_dead_one_means_no_answer() -> None:
    assert sbom_worker.analyse(_scan(), RELEASE) is None
    sbom_worker.start()
    try:
        worker = sbom_worker._worker
        assert worker is not None
        worker.kill()
        worker.wait()
        assert sbom_worker.analyse(_scan(), RELEASE) is None
    finally:
        sbom_worker.stop()
    assert sbom_worker._worker is None


def test_an_analysis_that_fails_in_the_worker_is_left_to_the_check() -> None:
    """The worker answers an error, analyse says nothing, and the check's own analysis
    decides: here it raises, as it does without a worker (the check could not run)."""
    nameless = ReleaseArtifact("", "", "", "", "")
    sbom_worker.start()
    try:
        assert sbom_worker.analyse(SourceScan(), nameless) is None
        assert sbom_worker.analyse(SourceScan(), RELEASE) is not None  # still serving
    finally:
        sbom_worker.stop()
    with pytest.raises(ValueError, match="name is a required argument"):
        sbom.analyse_scan(SourceScan(), nameless)

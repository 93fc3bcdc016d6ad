"""SBOM of each source artifact: generate CycloneDX 1.6, validate it, classify licenses.

For a source archive the check parses the manifests inside it (Maven, npm, Python,
Go, Cargo), builds the SBOM (:mod:`shared.sbom.generate`), validates it against the
CycloneDX 1.6 schema and reports:

* **blocker** — a required dependency (or a module) under a Category X license;
* **warning** — Category B licenses, Category X on optional / development-only
  dependencies, components with an unknown license (one result listing them),
  manifests that cannot be parsed or are too large, an SBOM that fails the schema;
* **note** — lines of manifests that were skipped, NTIA minimum elements missing;
* **pass** — the summary: ``data.components`` (every component with its license
  category), ``data.ntia``, ``data.sbom_sha256`` and, when at most 256 KiB, the SBOM
  itself in ``data.sbom``.

An SBOM the project supplies beside any artifact (``<artifact>.cdx.json``) is
validated against the schema of the version it declares; problems are warnings.

The agent stores the SBOM with the revision through :func:`generate_sbom_for`
(or :func:`analyse_artifact`, which also gives the findings).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shared.checks import sbom_worker
from shared.checks.artifacts import companions
from shared.checks.base import CheckInputs, Recorder, Scope
from shared.checks.digests import file_digests
from shared.checks.policy import ArchiveLimits
from shared.checks.source_scan import SourceScan, member_result_path, scan_archive, scan_for_check
from shared.sbom.analysis import SbomAnalysis, analyse_manifests
from shared.sbom.category import Category
from shared.sbom.records import ComponentRecord, ReleaseArtifact
from shared.sbom.validate import SbomInvalid, load_cyclonedx, ntia_gaps, validate_cyclonedx

__all__ = [
    "CHECK_ID",
    "CHECK_VERSION",
    "SCOPE",
    "SbomAnalysis",
    "analyse_artifact",
    "analyse_scan",
    "check_supplied",
    "generate_sbom_for",
    "run",
]

CHECK_ID = "sbom"
CHECK_VERSION = 1
SCOPE = Scope.ARTIFACT
POLICY_FIELDS: tuple[str, ...] = ("archive",)
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

MAX_COMPONENT_RESULTS = 100
"""Per-component license results (Category X and B) recorded at most."""
MAX_LISTED = 5_000
"""Components listed in the summary's ``data.components`` at most."""
MAX_INLINE_SBOM = 256 << 10
"""The SBOM goes into ``data.sbom`` only when it is at most this many bytes."""
SUPPLIED_MAX_BYTES = 64 << 20
"""A supplied ``.cdx.json`` larger than this is not validated."""


def _hash_file(path: Path) -> tuple[str, str]:
    found = file_digests(path, ("sha512", "sha256"))
    return found["sha512"], found["sha256"]


def analyse_scan(scan: SourceScan, artifact: ReleaseArtifact) -> SbomAnalysis:
    """Parse the manifests of a scanned archive, build and validate its SBOM."""
    return analyse_manifests(scan.manifests, scan.skipped_manifests, artifact)


def analyse_artifact(
    path: Path,
    *,
    project: str,
    version: str,
    name: str | None = None,
    limits: ArchiveLimits | None = None,
) -> SbomAnalysis:
    """The SBOM analysis of the source archive at ``path`` (named ``name`` in the release).

    Raises :class:`shared.checks.archive_reader.ArchiveError` if it cannot be opened.
    """
    scan = scan_archive(path, limits)
    sha512, sha256 = _hash_file(path)
    return analyse_scan(scan, ReleaseArtifact(project, version, name or path.name, sha512, sha256))


def generate_sbom_for(
    path: Path,
    *,
    project: str,
    version: str,
    name: str | None = None,
    limits: ArchiveLimits | None = None,
) -> str:
    """The CycloneDX 1.6 JSON SBOM of the source archive at ``path``, to store with a revision."""
    return analyse_artifact(
        path, project=project, version=version, name=name, limits=limits
    ).sbom_json


def _record_manifests(analysis: SbomAnalysis, artifact: str, recorder: Recorder) -> None:
    for relpath, message in analysis.manifest_errors.items():
        recorder.warning(
            member_result_path(artifact, relpath),
            f"manifest not read: {message}",
            member=relpath,
        )
    for relpath, reason in analysis.skipped_manifests.items():
        recorder.warning(
            member_result_path(artifact, relpath), f"manifest not read: {reason}", member=relpath
        )
    for relpath, skipped in analysis.manifest_problems.items():
        recorder.note(
            member_result_path(artifact, relpath),
            f"{relpath}: {len(skipped)} entries skipped",
            member=relpath,
            skipped=skipped,
        )


def _where(artifact: str, component: ComponentRecord) -> str:
    return member_result_path(artifact, component.manifests[0]) if component.manifests else artifact


def _record_licenses(
    components: Sequence[ComponentRecord], artifact: str, recorder: Recorder
) -> None:
    recorded = 0
    for component in components:
        if component.category not in (Category.X, Category.B) or recorded >= MAX_COMPONENT_RESULTS:
            continue
        recorded += 1
        label = f"{component.name} {component.version or '(no version)'}"
        data = {"component": component.to_json()}
        where = _where(artifact, component)
        if component.category is Category.B:
            recorder.warning(
                where,
                f"{label}: Category B license ({component.license}): binary inclusion only",
                **data,
            )
        elif component.scope == "required":
            recorder.blocker(
                where, f"{label}: Category X license ({component.license}) in the release", **data
            )
        else:
            recorder.warning(
                where,
                f"{label}: Category X license ({component.license}) on a dependency with scope "
                f"'{component.scope}': it must stay out of what is distributed",
                **data,
            )
    unknown = [c for c in components if c.category is Category.UNKNOWN]
    if unknown:
        recorder.warning(
            artifact,
            f"{len(unknown):,} components with no known license category "
            "(the manifests do not state a license, or state one not in the ASF lists)",
            components=[f"{c.name} {c.version or ''}".strip() for c in unknown[:200]],
            count=len(unknown),
        )


def record_analysis(analysis: SbomAnalysis, *, artifact: str, recorder: Recorder) -> None:
    """Record the results of an :class:`SbomAnalysis` for ``artifact``."""
    _record_manifests(analysis, artifact, recorder)
    if analysis.schema_errors:
        recorder.warning(
            artifact,
            "the generated SBOM does not validate against the CycloneDX 1.6 schema",
            errors=analysis.schema_errors,
        )
    _record_licenses(analysis.components, artifact, recorder)
    if not analysis.ntia.complete:
        recorder.note(
            artifact,
            f"NTIA minimum elements missing: {analysis.ntia.summary()}",
            ntia=analysis.ntia.to_json(),
        )
    counts = {category.value: 0 for category in Category}
    for component in analysis.components:
        counts[component.category.value] += 1
    sbom_bytes = len(analysis.sbom_json.encode())
    recorder.passed(
        artifact,
        f"CycloneDX 1.6 SBOM: {len(analysis.components):,} components from "
        f"{len(analysis.manifests):,} manifests (Category A {counts['A']}, B {counts['B']}, "
        f"X {counts['X']}, unknown {counts['unknown']})",
        components=[c.to_json() for c in analysis.components[:MAX_LISTED]],
        components_omitted=max(len(analysis.components) - MAX_LISTED, 0),
        categories=counts,
        manifests=analysis.manifests,
        ntia=analysis.ntia.to_json(),
        sbom_sha256=analysis.sbom_sha256,
        sbom_bytes=sbom_bytes,
        sbom=analysis.sbom_json if sbom_bytes <= MAX_INLINE_SBOM else None,
    )


def check_supplied(path: Path, *, where: str, recorder: Recorder) -> None:
    """Validate an SBOM supplied with the release (``<artifact>.cdx.json``)."""
    try:
        size = path.stat().st_size
        if size > SUPPLIED_MAX_BYTES:
            recorder.warning(where, f"the supplied SBOM is {size:,} bytes: too large to validate")
            return
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        recorder.warning(where, f"the supplied SBOM cannot be read: {exc}")
        return
    try:
        errors = validate_cyclonedx(text)
    except SbomInvalid as exc:
        recorder.warning(
            where, f"the supplied SBOM is not a CycloneDX JSON document: {exc.message}"
        )
        return
    doc = load_cyclonedx(text)
    version = doc.get("specVersion")
    if errors:
        recorder.warning(
            where,
            f"the supplied SBOM does not validate against the CycloneDX {version} schema "
            f"({len(errors)} errors shown)",
            errors=errors,
            spec_version=version,
        )
        return
    gaps = ntia_gaps(doc)
    if not gaps.complete:
        recorder.note(
            where,
            f"supplied SBOM: NTIA minimum elements missing: {gaps.summary()}",
            ntia=gaps.to_json(),
        )
    recorder.passed(where, f"the supplied SBOM is valid CycloneDX {version}", spec_version=version)


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Generate and check the SBOM of ``artifact``; validate an SBOM supplied beside it."""
    if artifact is None:
        return
    supplied = companions(artifact, inputs.files.keys()).sbom
    if supplied is not None and supplied in inputs.files:
        check_supplied(inputs.files[supplied], where=supplied, recorder=recorder)
    scan = scan_for_check(inputs, recorder, artifact=artifact)
    if scan is None:
        return
    sha512, sha256 = _hash_file(inputs.files[artifact])
    release = ReleaseArtifact(
        inputs.project, inputs.version, artifact.rsplit("/", 1)[-1], sha512, sha256
    )
    # A worker process started by `atr check` may have made it already (sbom_worker.py).
    analysis = sbom_worker.analyse(scan, release) or analyse_scan(scan, release)
    record_analysis(analysis, artifact=artifact, recorder=recorder)

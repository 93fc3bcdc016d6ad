"""One source archive's SBOM from its manifests: parsed, generated, validated, with its gaps.

:func:`analyse_manifests` is the SBOM check's work on the manifests a scan of the archive
found (:func:`shared.checks.sbom.analyse_scan` hands them over); it imports nothing of the
checks, so the SBOM worker process (:mod:`shared.checks.sbom_worker`) runs it as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared.sbom.manifests import parse_manifest
from shared.sbom.records import ComponentRecord, ReleaseArtifact
from shared.sbom.validate import NtiaGaps, load_cyclonedx, ntia_gaps, validate_cyclonedx

if TYPE_CHECKING:
    from shared.sbom.model import Manifest

__all__ = ["SbomAnalysis", "analyse_manifests"]


@dataclass
class SbomAnalysis:
    """The SBOM of one source archive and what was found making it."""

    sbom_json: str
    components: tuple[ComponentRecord, ...]
    manifests: list[str] = field(default_factory=list)
    """Manifests parsed."""
    manifest_errors: dict[str, str] = field(default_factory=dict)
    """Manifest path → why it could not be parsed."""
    manifest_problems: dict[str, list[str]] = field(default_factory=dict)
    """Manifest path → lines or entries skipped."""
    skipped_manifests: dict[str, str] = field(default_factory=dict)
    """Manifest path → why it was not read (too large)."""
    schema_errors: list[str] = field(default_factory=list)
    ntia: NtiaGaps = field(default_factory=NtiaGaps)

    @property
    def sbom_sha256(self) -> str:
        return hashlib.sha256(self.sbom_json.encode()).hexdigest()


def analyse_manifests(
    manifests: Mapping[str, bytes], skipped: Mapping[str, str], artifact: ReleaseArtifact
) -> SbomAnalysis:
    """Parse ``manifests`` (archive path → bytes; ``skipped``: path → why it was not read),
    build the SBOM of ``artifact`` and validate it."""
    # cyclonedx-python-lib and the parsers' libraries: imported when an SBOM is made.
    from shared.sbom.generate import build_sbom  # noqa: PLC0415
    from shared.sbom.model import ManifestError  # noqa: PLC0415

    parsed: list[Manifest] = []
    errors: dict[str, str] = {}
    problems: dict[str, list[str]] = {}
    for relpath in sorted(manifests):
        try:
            manifest = parse_manifest(relpath, manifests[relpath])
        except ManifestError as exc:
            errors[relpath] = exc.message
            continue
        parsed.append(manifest)
        if manifest.problems:
            problems[relpath] = list(manifest.problems)
    generated = build_sbom(artifact, parsed)
    return SbomAnalysis(
        sbom_json=generated.json,
        components=generated.components,
        manifests=[m.path for m in parsed],
        manifest_errors=errors,
        manifest_problems=problems,
        skipped_manifests=dict(skipped),
        schema_errors=validate_cyclonedx(generated.json, strict=True),
        ntia=ntia_gaps(load_cyclonedx(generated.json)),
    )

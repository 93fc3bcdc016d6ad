"""Check reports built in the tests (no agent): every kind of result the checks view shows.

The LICENSE diff is made by the real comparison of ``shared.checks.license_notice``
on a LICENSE with one changed word, so the view renders what the check really sends.
"""

from __future__ import annotations

from typing import Any

from shared.checks.license_notice import apache_license_text, compare_license
from shared.protocol.checks import CheckReport, CheckResultOut, CheckRunOut, IgnoredBy

PROJECT = "acme-lib"
VERSION = "1.0.0"
SRC = "apache-acme-lib-1.0.0-src.tar.gz"
BIN = "apache-acme-lib-1.0.0-bin.tar.gz"
FINGERPRINT = "6028F51614C2142C9A4AED894DC8DC508AA450D3"


def license_diff() -> str:
    text = apache_license_text().replace("Grant of Copyright License", "Grant of Copyleft License")
    diff = compare_license(text).diff
    assert diff is not None
    return diff


def result(
    check: str,
    path: str,
    status: str,
    message: str,
    *,
    artifact: str = SRC,
    ignored: IgnoredBy | None = None,
    **data: Any,
) -> CheckResultOut:
    return CheckResultOut(
        check=check,
        check_version=1,
        artifact=artifact,
        path=path,
        status=status,  # type: ignore[arg-type]
        message=message,
        data=data,
        ignored=ignored,
    )


def components() -> list[dict[str, Any]]:
    rows = [
        ("acme-core", "1.0.0", "Apache-2.0", "A", "required", "module"),
        ("commons-io", "2.16.1", "Apache-2.0", "A", "required", "dependency"),
        ("jakarta.mail", "2.0.1", "EPL-2.0", "B", "required", "dependency"),
        ("mysql-connector", "8.0.33", "GPL-2.0-only", "X", "optional", "dependency"),
        ("left-pad", "1.3.0", None, "unknown", "required", "dependency"),
    ]
    return [
        {
            "ref": f"pkg:maven/org.example/{name}@{version}",
            "name": name,
            "version": version,
            "purl": f"pkg:maven/org.example/{name}@{version}",
            "license": license_,
            "category": category,
            "scope": scope,
            "role": role,
            "manifests": ["pom.xml"],
        }
        for name, version, license_, category, scope, role in rows
    ]


def results() -> list[CheckResultOut]:
    return [
        result("paths", "", "pass", "2 artifacts with their companions", artifact=""),
        result(
            "signatures",
            f"{BIN}.asc",
            "blocker",
            f"no signature: {BIN}.asc is missing",
            artifact=BIN,
        ),
        result(
            "signatures",
            f"{SRC}.asc",
            "pass",
            "good signature by Alice <alice@example.org>",
            fingerprints=[FINGERPRINT],
            user_ids=["Alice <alice@example.org>"],
            algorithm="RSA 4096",
            hash="SHA-512",
            artifact_name=SRC,
        ),
        result("checksums", SRC, "pass", "SHA-512 matches", algorithm="sha512"),
        result(
            "license_notice",
            f"{SRC}!/LICENSE",
            "blocker",
            "LICENSE departs from the Apache License 2.0 at line 67",
            line=67,
            expected="Copyright License.",
            found="Copyleft License.",
            diff=license_diff(),
        ),
        result(
            "license_headers",
            f"{SRC}!/src/gen/Parser.java",
            "blocker",
            "no license header in a source file",
            kind="missing",
        ),
        result(
            "license_headers",
            f"{SRC}!/src/main/Lib.java",
            "note",
            "a MIT license header: third-party code, mention it in LICENSE",
        ),
        result(
            "compiled_code",
            f"{SRC}!/gradle/wrapper/gradle-wrapper.jar",
            "note",
            "compiled code: a Java archive",
            ignored=IgnoredBy(
                rule=0,
                reason="the Gradle wrapper is part of the build",
                original_status="blocker",
                by="alice",
            ),
        ),
        result(
            "sbom",
            SRC,
            "warning",
            "1 component with no known license category",
            count=1,
            components=["left-pad 1.3.0"],
        ),
        result(
            "sbom",
            SRC,
            "pass",
            "CycloneDX 1.6 SBOM: 5 components from 1 manifest",
            components=components(),
            components_omitted=0,
            sbom='{"bomFormat": "CycloneDX"}',
        ),
    ]


def report(
    *,
    items: list[CheckResultOut] | None = None,
    state: str = "done",
    revision: int = 1,
    done_runs: int | None = None,
) -> CheckReport:
    items = results() if items is None else items
    checks = [
        "paths",
        "signatures",
        "checksums",
        "license_notice",
        "license_headers",
        "compiled_code",
        "sbom",
    ]
    finished = len(checks) if done_runs is None else done_runs
    runs = [
        CheckRunOut(
            check=check,
            check_version=1,
            artifact="" if check == "paths" else SRC,
            state="done" if i < finished else "running",
            task_id=i + 1,
            reused=False,
            summary={},
        )
        for i, check in enumerate(checks)
    ]
    summary = {s: 0 for s in ("blocker", "warning", "note", "pass")}
    for item in items:
        if item.ignored is None:
            summary[item.status] += 1
    return CheckReport(
        project=PROJECT,
        version=VERSION,
        revision=revision,
        state=state,
        runs=runs,  # type: ignore[arg-type]
        results=items,
        summary=summary,
        ignored=sum(1 for i in items if i.ignored),  # type: ignore[arg-type]
        blocked=summary["blocker"] > 0,
    )

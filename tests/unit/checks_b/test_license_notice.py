"""LICENSE, NOTICE and DISCLAIMER at the root of source archives."""

from __future__ import annotations

from pathlib import Path

from shared.checks import license_notice
from shared.checks.base import CheckInputs, Recorder, Status
from shared.checks.license_notice import apache_license_text, check_notice, compare_license
from shared.checks.policy import Policy

from .conftest import GOOD_NOTICE, RunCheck, base_tree, by_status

LICENSE = apache_license_text()


def test_the_canonical_text_is_the_whole_license() -> None:
    words = LICENSE.split()
    assert words[:5] == ["Apache", "License", "Version", "2.0,", "January"]
    assert "END OF TERMS AND CONDITIONS" in LICENSE
    assert LICENSE.rstrip().endswith("limitations under the License.")
    assert len(words) > 1500


def test_compare_tolerates_wrapping_https_and_appended_licenses() -> None:
    assert compare_license(LICENSE).matches
    rewrapped = " ".join(LICENSE.split()).replace("http://", "https://")
    result = compare_license("\ufeff" + rewrapped + "\n\nThis product bundles jQuery (MIT) ...\n")
    assert result.matches and result.appended
    terms_only = LICENSE[: LICENSE.index("END OF TERMS AND CONDITIONS") + 27]
    assert compare_license(terms_only).matches


def test_compare_reports_the_first_difference_as_a_diff() -> None:
    changed = LICENSE.replace("perpetual,\n      worldwide,", "perpetual,\n      galaxy-wide,")
    result = compare_license(changed, name="LICENSE")
    assert not result.matches
    assert result.line == 69
    assert result.expected is not None and result.expected.startswith("worldwide,")
    assert result.found is not None and result.found.startswith("galaxy-wide,")
    assert result.diff is not None
    assert "@@ -66,7 +66,7 @@" in result.diff
    assert "-      worldwide, non-exclusive" in result.diff
    assert "+      galaxy-wide, non-exclusive" in result.diff
    assert result.diff.startswith("--- Apache License 2.0 (expected)\n+++ LICENSE")


def test_compare_refuses_a_preamble_and_a_truncated_text() -> None:
    preamble = compare_license("Foo is licensed as follows.\n\n" + LICENSE)
    assert not preamble.matches and preamble.line == 1
    truncated = compare_license(LICENSE[:3000])
    assert not truncated.matches
    assert truncated.line is not None and truncated.line >= LICENSE[:3000].count("\n")
    assert truncated.diff and truncated.diff.count("\n-") >= 1
    assert not compare_license("").matches


def test_notice_findings() -> None:
    assert check_notice(GOOD_NOTICE, project="foo") == license_notice.NoticeFindings(True, True)
    wrapped = (
        "Apache Foo\nCopyright 2024 The Apache Software Foundation\n\nThis product\n"
        "includes software developed at The Apache\nSoftware Foundation (http://www.apache.org)"
    )
    assert check_notice(wrapped, project="foo").attribution
    no_copyright = check_notice(
        "This product includes software developed at The Apache "
        "Software Foundation (https://www.apache.org/).",
        project="foo",
    )
    assert no_copyright.attribution and not no_copyright.copyright
    assert no_copyright.diff is not None and "+This product includes" in no_copyright.diff
    missing = check_notice("Copyright 2024 Someone\n", project="foo")
    assert missing.copyright and not missing.attribution


def test_good_archive_passes(run_check: RunCheck) -> None:
    results = run_check(license_notice, base_tree())
    assert [(r.status, r.path) for r in results] == [
        (Status.PASS, "foo-1.0-src.tar.gz!/LICENSE"),
        (Status.PASS, "foo-1.0-src.tar.gz!/NOTICE"),
    ]


def test_zip_with_txt_names_passes(run_check: RunCheck) -> None:
    tree = base_tree()
    tree["LICENSE.txt"] = tree.pop("LICENSE")
    tree["NOTICE.txt"] = tree.pop("NOTICE")
    results = run_check(license_notice, tree, name="foo-1.0-source-release.zip")
    assert {r.status for r in results} == {Status.PASS}


def test_missing_and_duplicate_files_are_blockers(run_check: RunCheck) -> None:
    tree = base_tree()
    del tree["NOTICE"]
    tree["LICENSE.txt"] = LICENSE
    tree["sub/NOTICE"] = GOOD_NOTICE  # not at the root: does not count
    results = run_check(license_notice, tree)
    blockers = by_status(results, Status.BLOCKER)
    assert len(blockers) == 2
    assert "2 LICENSE files" in blockers[0].message
    assert sorted(blockers[0].data["files"]) == ["LICENSE", "LICENSE.txt"]
    assert blockers[1].message == "no NOTICE file at the root of the archive"
    assert "This product includes software developed at" in blockers[1].data["diff"]


def test_wrong_license_and_notice_show_the_diff(run_check: RunCheck) -> None:
    tree = base_tree()
    tree["LICENSE"] = "MIT License\n\nPermission is hereby granted, free of charge...\n"
    tree["NOTICE"] = "Foo\nCopyright 2024 Someone\n"
    results = run_check(license_notice, tree)
    license_result, notice_result = results
    assert license_result.status is Status.BLOCKER
    assert license_result.data["line"] == 1
    assert "-                                 Apache License" in license_result.data["diff"]
    assert "+MIT License" in license_result.data["diff"]
    assert notice_result.status is Status.BLOCKER
    assert notice_result.message == "NOTICE lacks the ASF attribution sentence"
    assert notice_result.data["copyright"] is True


def test_podling_needs_a_disclaimer(run_check: RunCheck) -> None:
    podling = Policy(podling=True)
    results = run_check(license_notice, base_tree(), policy=podling)
    assert by_status(results, Status.BLOCKER)[0].message.startswith("no DISCLAIMER")
    tree = base_tree()
    tree["DISCLAIMER-WIP"] = "Apache Foo is an effort undergoing incubation at the Apache Incubator"
    results = run_check(license_notice, tree, policy=podling)
    assert [r.status for r in results] == [Status.PASS] * 3
    assert results[2].path.endswith("!/DISCLAIMER-WIP")


def test_truncated_archive_is_a_blocker(run_check: RunCheck, tmp_path: Path) -> None:
    run_check(license_notice, base_tree())
    artifact = tmp_path / "release" / "foo-1.0-src.tar.gz"
    data = artifact.read_bytes()
    artifact.write_bytes(data[: len(data) // 2])
    inputs = CheckInputs(project="foo", version="1.0", files={artifact.name: artifact})
    recorder = Recorder(license_notice.CHECK_ID)
    license_notice.run(inputs, recorder, artifact=artifact.name)
    assert recorder.results[0].status is Status.BLOCKER
    assert "could not be read to the end" in recorder.results[0].message


def test_binary_archives_and_release_scope_are_skipped(run_check: RunCheck) -> None:
    assert run_check(license_notice, {"x": "y"}, name="foo-1.0-bin.tar.gz") == []
    inputs = CheckInputs(project="foo", version="1.0", files={})
    recorder = Recorder(license_notice.CHECK_ID)
    license_notice.run(inputs, recorder, artifact=None)
    assert recorder.results == []


def test_notice_crediting_the_asf_in_other_words_is_a_warning(run_check: RunCheck) -> None:
    """Subversion's and Serf's NOTICE: the ASF and its address, in their own sentence."""
    tree = base_tree()
    tree["NOTICE"] = (
        "Apache Subversion\nCopyright 2022 The Apache Software Foundation\n\n"
        "This product includes software developed by many people, and distributed\n"
        "under Contributor License Agreements to The Apache Software Foundation\n"
        "(http://www.apache.org/).\n"
    )
    results = run_check(license_notice, tree)
    [warning] = by_status(results, Status.WARNING)
    assert warning.path == "foo-1.0-src.tar.gz!/NOTICE"
    assert "in its own words" in warning.message
    assert warning.data["credits_asf"] is True
    assert not by_status(results, Status.BLOCKER)

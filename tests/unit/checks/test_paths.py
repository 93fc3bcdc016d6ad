"""The paths check over a release folder."""

from __future__ import annotations

from pathlib import Path

from shared.checks import paths
from shared.checks.base import CheckInputs, Status
from shared.checks.policy import Policy
from tests.unit.checks.util import inputs_for, run

ART = "apache-foo-1.0-src.tar.gz"


def make(tmp_path: Path, names: dict[str, bytes]) -> Path:
    for name, content in names.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    return tmp_path


def complete(extra: dict[str, bytes] | None = None) -> dict[str, bytes]:
    return {ART: b"x", ART + ".asc": b"sig", ART + ".sha512": b"h", **(extra or {})}


def by_path(results) -> dict[str, Status]:
    return {r.path: r.status for r in results}


def test_a_clean_release(tmp_path: Path) -> None:
    results = run(paths, inputs_for(make(tmp_path, complete({"README.txt": b"r"}))))
    assert by_path(results) == {ART: Status.PASS, "README.txt": Status.PASS}


def test_missing_companions(tmp_path: Path) -> None:
    make(tmp_path, {ART: b"x", "foo-1.0-bin.zip": b"z", "foo-1.0-bin.zip.asc": b"s"})
    results = {r.path: r for r in run(paths, inputs_for(tmp_path))}
    assert results[ART].data["missing"] == ["its .asc signature", "a .sha512 or .sha256 checksum"]
    assert results["foo-1.0-bin.zip"].data["missing"] == ["a .sha512 or .sha256 checksum"]


def test_no_artifacts_and_no_source(tmp_path: Path) -> None:
    [result] = [r for r in run(paths, inputs_for(make(tmp_path, {"README": b"r"}))) if r.path == ""]
    assert "no artifact" in result.message
    only_binary = tmp_path / "b"
    make(only_binary, {"foo-1.0.jar": b"j", "foo-1.0.jar.asc": b"s", "foo-1.0.jar.sha512": b"h"})
    [result] = [r for r in run(paths, inputs_for(only_binary)) if r.path == ""]
    assert "no source archive" in result.message


def test_droppings_dotfiles_keys_and_private_keys(tmp_path: Path) -> None:
    names = complete(
        {
            ".DS_Store": b"",
            "sub/Thumbs.db": b"",
            "notes.txt~": b"",
            ".#lock": b"",
            "x.swp": b"",
            ".svn/entries": b"",
            ".hidden": b"",
            "KEYS": b"keys",
            "id_rsa": b"",
            "server.key": b"",
            "innocent.txt": b"junk\n-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n",
            "notes.asc": b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n",
        }
    )
    results = {r.path: r for r in run(paths, inputs_for(make(tmp_path, names)))}
    for name in (".DS_Store", "sub/Thumbs.db", "notes.txt~", ".#lock", "x.swp"):
        assert results[name].status is Status.BLOCKER
        assert "leftover" in results[name].message
    for name in (".svn/entries", ".hidden"):
        assert "hidden" in results[name].message
    for name in ("id_rsa", "server.key", "innocent.txt", "notes.asc"):
        assert "private key" in results[name].message, name
    assert "KEYS file among the release files" in results["KEYS"].message


def test_podling_names(tmp_path: Path) -> None:
    make(tmp_path, complete())
    policy = Policy(podling=True)
    results = run(paths, inputs_for(tmp_path, policy=policy))
    assert any("incubating" in r.message and r.status is Status.BLOCKER for r in results)
    good = tmp_path / "good"
    make(good, {k.replace("1.0-src", "1.0-incubating-src"): v for k, v in complete().items()})
    assert all(r.status is Status.PASS for r in run(paths, inputs_for(good, policy=policy)))


def test_unknown_and_orphans(tmp_path: Path) -> None:
    make(
        tmp_path, complete({"notes.docx": b"", "gone.tar.gz.asc": b"s", "gone.tar.gz.sha512": b"h"})
    )
    results = by_path(run(paths, inputs_for(tmp_path)))
    assert results["notes.docx"] is Status.NOTE
    assert results["gone.tar.gz.asc"] is Status.WARNING
    assert results["gone.tar.gz.sha512"] is Status.WARNING


def test_unclean_relative_paths() -> None:
    files = {"caf\u0065\u0301.tar.gz": Path("/nonexistent")}
    [result, *_] = run(paths, CheckInputs("foo", "1.0", files))
    assert any(r.status is Status.BLOCKER and "NFC" in r.message for r in [result, *_])


def test_artifacts_of_another_version(tmp_path: Path) -> None:
    """Release 2.4.69 holding httpd-2.4.68.tar.gz (issue 11, item 8): a blocker for the source
    archive, a warning for another artifact; the artifacts of the release's version pass."""
    make(tmp_path, complete())
    bin_zip = "foo-1.0.1-bin.zip"
    make(tmp_path, {bin_zip: b"z", bin_zip + ".asc": b"s", bin_zip + ".sha512": b"h"})
    make(tmp_path, {"httpd-2.4.68.tar.gz": b"x", "httpd-2.4.68.tar.gz.asc": b"s"})
    make(tmp_path, {"httpd-2.4.68.tar.gz.sha512": b"h"})
    inputs = CheckInputs(
        project="foo", version="1.0", files=dict(inputs_for(tmp_path).files), policy=Policy()
    )
    results = [r for r in run(paths, inputs) if "version" in r.data]
    assert {(r.path, r.status) for r in results} == {
        ("httpd-2.4.68.tar.gz", Status.BLOCKER),
        (bin_zip, Status.WARNING),
    }
    assert "does not carry the release's version 1.0" in results[0].message
    # The release's own version: nothing to say (2.4.68 is not 2.4.6 either).
    same = CheckInputs(project="httpd", version="2.4.68", files=inputs.files, policy=Policy())
    assert [r.path for r in run(paths, same) if "version" in r.data] == [ART, bin_zip]
    near = CheckInputs(project="httpd", version="2.4.6", files=inputs.files, policy=Policy())
    assert "httpd-2.4.68.tar.gz" in [r.path for r in run(paths, near) if "version" in r.data]

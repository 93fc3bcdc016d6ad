from shared.checks.artifacts import (
    ArchiveFormat,
    FileKind,
    archive_format,
    archive_stem,
    artifact_of,
    classify,
    companions,
    expected_roots,
    find_artifacts,
    is_source_archive,
)


def test_classify_the_files_of_a_release():
    assert classify("apache-foo-1.0-src.tar.gz") is FileKind.ARTIFACT
    assert classify("bin/apache-foo-1.0.jar") is FileKind.ARTIFACT
    assert classify("apache-foo-1.0-src.tar.gz.asc") is FileKind.SIGNATURE
    assert classify("apache-foo-1.0-src.tar.gz.sig") is FileKind.SIGNATURE
    assert classify("apache-foo-1.0-src.tar.gz.sha512") is FileKind.CHECKSUM
    assert classify("apache-foo-1.0-src.tar.gz.SHA256") is FileKind.CHECKSUM
    assert classify("apache-foo-1.0-src.tar.gz.md5") is FileKind.CHECKSUM
    assert classify("apache-foo-1.0-src.tar.gz.cdx.json") is FileKind.SBOM
    assert classify("KEYS") is FileKind.KEYS
    assert classify("README.txt") is FileKind.DOCUMENT
    assert classify("RELEASE-NOTES.html") is FileKind.DOCUMENT
    assert classify(".DS_Store") is FileKind.OTHER
    assert classify("notes.docx") is FileKind.OTHER


def test_companions_belong_to_their_artifact_only():
    files = [
        "foo-1.0.tar.gz",
        "foo-1.0.tar.gz.asc",
        "foo-1.0.tar.gz.sig",
        "foo-1.0.tar.gz.sha512",
        "foo-1.0.tar.gz.sha1",
        "foo-1.0.tar.gz.cdx.json",
        "foo-1.0.tar.gz.bak.asc",
        "foo-1.0.zip",
        "foo-1.0.zip.asc",
    ]
    found = companions("foo-1.0.tar.gz", files)
    assert found.signatures == ("foo-1.0.tar.gz.asc",)
    assert found.binary_signatures == ("foo-1.0.tar.gz.sig",)
    assert dict(found.checksums) == {
        "foo-1.0.tar.gz.sha1": "sha1",
        "foo-1.0.tar.gz.sha512": "sha512",
    }
    assert found.strong_checksums == ("foo-1.0.tar.gz.sha512",)
    assert found.sbom == "foo-1.0.tar.gz.cdx.json"
    assert artifact_of("foo-1.0.zip.asc") == "foo-1.0.zip"
    assert artifact_of("foo-1.0.zip") is None
    assert find_artifacts(files) == ["foo-1.0.tar.gz", "foo-1.0.zip"]


def test_archive_formats_stems_and_roots():
    assert archive_format("a-1.tgz") is ArchiveFormat.TAR_GZ
    assert archive_format("a-1.TAR.XZ") is ArchiveFormat.TAR_XZ
    assert archive_format("a-1.tar.bz2") is ArchiveFormat.TAR_BZ2
    assert archive_format("a-1.zip") is ArchiveFormat.ZIP
    assert archive_format("a-1.jar") is None
    assert archive_stem("apache-foo-1.0-src.tar.gz") == "apache-foo-1.0-src"
    assert expected_roots("apache-foo-1.0-src.tar.gz") == ("apache-foo-1.0-src", "apache-foo-1.0")
    assert expected_roots("foo-1.0-source-release.zip") == ("foo-1.0-source-release", "foo-1.0")
    assert expected_roots("foo-1.0.tar.gz") == ("foo-1.0",)


def test_source_archives_are_told_from_binary_ones():
    assert is_source_archive("apache-foo-1.0-src.tar.gz")
    assert is_source_archive("apache_foo-1.0.tar.gz")
    assert not is_source_archive("apache-foo-1.0-bin.tar.gz")
    assert not is_source_archive("apache-foo-1.0-bin-scala2.13.tgz")
    assert not is_source_archive("apache-foo-1.0.jar")

"""The license-header verdict for one file of a source archive.

:func:`judge` looks at a file's name and first bytes only: notice files and
binaries are skipped; otherwise the first :data:`HEAD_LINES` lines are searched
for an ``SPDX-License-Identifier`` tag and, reduced to letters and digits, for
the texts of the license families in :mod:`shared.checks.header_patterns` (as Apache
RAT matches them). A GPL notice with a build tool's special exception (Autoconf,
Libtool, Bison…) is its own kind, not Category X. An empty file needs no header. A
file that carries a generator's marker is *generated* (unless it is under a Category X
license); a file with no license text is a *build* file (autotools, CMake, CI,
dotfiles…), *missing* a header if it is another source file (its format takes
comments), and plain *data* otherwise.

The verdict does not depend on the project's policy: :mod:`shared.checks.headers`
turns kinds into statuses (the ASF policy or the RAT mode).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from shared.checks.file_kinds import (
    is_binary_named,
    is_build_named,
    is_notice_named,
    is_source_named,
    looks_binary,
    name_and_ext,
)
from shared.checks.header_patterns import (
    APACHE_FAMILY,
    COPYLEFT_WITH_EXCEPTIONS,
    find_exception,
    find_family,
    find_spdx,
    is_generated_lower,
    prune,
)
from shared.sbom.category import Category

__all__ = ["HEAD_BYTES", "HEAD_LINES", "FileVerdict", "HeaderKind", "judge"]

HEAD_LINES = 50
"""How many lines of each file are searched (RAT's default)."""
HEAD_BYTES = 16 * 1024
"""At most this many bytes of each file are read (long minified lines stay bounded)."""


class HeaderKind(StrEnum):
    """What the header check found in one file. Values are the wire spelling."""

    APACHE = "apache"
    """The Apache License header (or an ``Apache-2.0`` SPDX tag)."""
    APPROVED = "approved"
    """Another Category A license family (MIT, BSD, …): third-party code."""
    CATEGORY_B = "category-b"
    """A Category B license (CDDL, MPL, EPL): allowed only in binary form."""
    UNAPPROVED = "unapproved"
    """A Category X license (GPL family, …)."""
    EXCEPTION = "gpl-exception"
    """The GPL with a build tool's special exception (Autoconf, Libtool, Bison…): allowed."""
    UNRECOGNISED = "unrecognised"
    """An SPDX tag naming licenses no category lists."""
    MISSING = "missing"
    """A source file with no license header at all."""
    GENERATED = "generated"
    BUILD = "build"
    """A build-system or tooling file (autotools, CMake, CI, dotfiles) with no license text."""
    EMPTY = "empty"
    """Empty or whitespace only: nothing to license."""
    BINARY = "binary"
    NOTICE = "notice"
    DATA = "data"
    """A file whose format takes no comments (JSON, CSV, …) and carries no license text."""
    EXCLUDED = "excluded"
    """Matched by ``.rat-excludes`` or the project's own excludes (set by the check)."""


@dataclass(frozen=True, slots=True)
class FileVerdict:
    """The verdict on one file: its kind and the license family or SPDX expression found."""

    kind: HeaderKind
    license: str | None = None


# Comment markers made of letters survive pruning and would split the words of
# consecutive lines ("…under one REM or more…"): drop them at line starts first.
# Markers made of punctuation (#, //, *, --, ;, <!--) vanish in pruning anyway.
_WORD_COMMENT = re.compile(r"^[^\S\n]*(?:@?rem|dnl)(?=\s|$)", re.IGNORECASE | re.MULTILINE)


_QUICK_BYTES = 4096
"""Most files' first :data:`HEAD_LINES` lines fit in this many bytes."""
_OTHER_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")
_OTHER_BREAKS_UTF8 = (b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\xa9")
"""The line breaks of ``str.splitlines`` other than LF: ASCII ones, then NEL, LS and PS as
UTF-8 (looked for in non-ASCII text only)."""


def head_text(head: bytes) -> str:
    """The first :data:`HEAD_LINES` lines of ``head`` as text (undecodable bytes replaced)."""
    head = head[:HEAD_BYTES]
    # Lines broken by LF only (most files): the text up to the HEAD_LINES-th LF is the
    # answer, decoded alone (an LF always ends what the decoder replaces before it). The
    # split finds that LF in C: the last part is what follows it (-1: fewer LFs).
    parts = head.split(b"\n", HEAD_LINES)
    end = len(head) - len(parts[HEAD_LINES]) - 1 if len(parts) > HEAD_LINES else -1
    chunk = head if end == -1 else head[:end]
    if not any(other in chunk for other in _OTHER_BREAKS) and (
        chunk.isascii() or not any(other in chunk for other in _OTHER_BREAKS_UTF8)
    ):
        text = chunk.decode("utf-8", errors="replace")
        return text[:-1] if end == -1 and text.endswith("\n") else text
    # Other breaks. When a prefix holds more lines than wanted, its first HEAD_LINES lines
    # are the text's: each ends with a line break inside the prefix, and only the prefix's
    # last line can differ (a character cut at its end). Else decode and split all of it.
    lines = head[:_QUICK_BYTES].decode("utf-8", errors="replace").splitlines()
    if len(lines) <= HEAD_LINES:
        lines = head.decode("utf-8", errors="replace").splitlines()
    return "\n".join(lines[:HEAD_LINES])


def _verdict_of_spdx(expression: str) -> FileVerdict:
    # Classifying imports license-expression and the SPDX list: only for files with a tag.
    from shared.sbom.licenses import classify  # noqa: PLC0415

    cls = classify(expression)
    if cls.exceptions and cls.category is Category.A and "gpl" in expression.lower():
        return FileVerdict(HeaderKind.EXCEPTION, expression)
    if cls.category is Category.X:
        return FileVerdict(HeaderKind.UNAPPROVED, expression)
    if cls.category is Category.B:
        return FileVerdict(HeaderKind.CATEGORY_B, expression)
    if cls.category is Category.UNKNOWN:
        return FileVerdict(HeaderKind.UNRECOGNISED, expression)
    if "apache-2.0" in expression.lower():
        return FileVerdict(HeaderKind.APACHE, expression)
    return FileVerdict(HeaderKind.APPROVED, expression)


_KIND_OF_CATEGORY = {
    Category.A: HeaderKind.APPROVED,
    Category.B: HeaderKind.CATEGORY_B,
    Category.X: HeaderKind.UNAPPROVED,
    Category.UNKNOWN: HeaderKind.UNRECOGNISED,
}


def _license_verdict(text: str, head: bytes, lower: str | None = None) -> FileVerdict | None:
    """The verdict from license texts in the head, or ``None`` if it has none (``lower``:
    ``text.lower()``, when the caller has it).

    A build tool's exception to a GPL notice is looked for in all of ``head`` (up to
    :data:`HEAD_BYTES`): autoconf-archive macros state it below line 50."""
    if lower is None:
        lower = text.lower()
    spdx = find_spdx(text) if "spdx-license-identifier" in lower else None
    if spdx is not None:
        return _verdict_of_spdx(spdx)
    if "rem" in lower or "dnl" in lower:
        text = _WORD_COMMENT.sub("", text)
        pruned = prune(text)
    else:
        pruned = _prune_lower(lower)
    family = find_family(pruned)
    if family is APACHE_FAMILY:
        return FileVerdict(HeaderKind.APACHE, family.id)
    if family is None:
        return None
    if family.id in COPYLEFT_WITH_EXCEPTIONS:
        exception = find_exception(pruned) or find_exception(
            prune(_WORD_COMMENT.sub("", head[:HEAD_BYTES].decode("utf-8", errors="replace")))
        )
        if exception is not None:
            return FileVerdict(HeaderKind.EXCEPTION, f"{family.id} WITH {exception}")
    return FileVerdict(_KIND_OF_CATEGORY[family.category], family.id)


_NOT_ALNUM = bytes(b for b in range(256) if not (48 <= b <= 57 or 97 <= b <= 122))


def _prune_lower(lower: str) -> str:
    """:func:`~shared.checks.header_patterns.prune` of a text already lower-cased."""
    return lower.encode("ascii", "ignore").translate(None, _NOT_ALNUM).decode("ascii")


_NOTICE = FileVerdict(HeaderKind.NOTICE)
_BINARY = FileVerdict(HeaderKind.BINARY)
_EMPTY = FileVerdict(HeaderKind.EMPTY)
_MISSING = FileVerdict(HeaderKind.MISSING)
_DATA = FileVerdict(HeaderKind.DATA)


def _skipped(path: str, head: bytes, name: str, ext: str) -> FileVerdict | None:
    """Notice files, binaries and empty files: no header expected."""
    if is_notice_named(path, name, ext):
        return _NOTICE
    if is_binary_named(name, ext) or looks_binary(head):
        return _BINARY
    if not head.strip():
        return _EMPTY
    return None


def judge(path: str, head: bytes) -> FileVerdict:  # noqa: PLR0911 - one verdict per rule
    """The header verdict for the file at ``path`` (archive-relative) whose head is ``head``."""
    name, ext = name_and_ext(path)
    skipped = _skipped(path, head, name, ext)
    if skipped is not None:
        return skipped
    text = head_text(head)
    lower = text.lower()
    found = _license_verdict(text, head, lower)
    if found is not None and found.kind in (HeaderKind.APACHE, HeaderKind.UNAPPROVED):
        return found  # a generator's marker hides no Category X license
    if is_generated_lower(lower):
        return FileVerdict(HeaderKind.GENERATED, found.license if found else None)
    if is_build_named(path, name, ext) and (found is None or found.kind is HeaderKind.APPROVED):
        # The build's machinery (libtool's lt*.m4, install-sh…) under a permissive notice
        # of its tool, or none: counted with the build files.
        return FileVerdict(HeaderKind.BUILD, found.license if found else None)
    if found is not None:
        return found
    if is_source_named(name, ext) or text.startswith("#!"):
        return _MISSING
    return _DATA

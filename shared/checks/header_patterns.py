"""License-header patterns: the families Apache RAT recognises, and generated-file markers.

Texts are matched the way RAT matches them: the head of a file and each pattern
are both reduced to lower-case letters and digits (:func:`prune`), so comment
markers, line breaks and punctuation do not matter. Each :class:`Family` says
which ASF category its license is in (see :mod:`shared.sbom.licenses`):
RAT's approved families (Apache, BSD-3, CDDL, MIT, OASIS, W3C, W3C documents)
plus the common ones RAT knows but does not approve (the GPL family) and a few
more that reviewers meet in vendored code.

The pattern texts are the distinctive opening phrases of each license notice,
written from the license texts themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from shared.sbom.category import Category

__all__ = [
    "APACHE_FAMILY",
    "COPYLEFT_WITH_EXCEPTIONS",
    "FAMILIES",
    "GENERATED_MARKERS",
    "Family",
    "find_exception",
    "find_family",
    "find_spdx",
    "is_generated",
    "is_generated_lower",
    "prune",
]

_NOT_ALNUM = bytes(b for b in range(256) if not (48 <= b <= 57 or 97 <= b <= 122))


def prune(text: str) -> str:
    """Lower-case ASCII letters and digits only: the form heads and patterns are compared in."""
    return text.lower().encode("ascii", "ignore").translate(None, _NOT_ALNUM).decode("ascii")


@dataclass(frozen=True, slots=True)
class Family:
    """A license family: an id, a name, its ASF category and the texts that identify it.

    The texts are kept :func:`prune`-d; build families with :meth:`of`.
    """

    id: str
    name: str
    category: Category
    any_of: tuple[str, ...]
    """The family matches if any of these texts occurs in the pruned head…"""
    all_of: tuple[str, ...] = ()
    """…and all of these also occur (for notices recognised by two phrases)…"""
    none_of: tuple[str, ...] = ()
    """…and none of these occurs (to tell a family from a stricter relative)."""

    @classmethod
    def of(
        cls,
        *,
        id: str,
        name: str,
        category: Category,
        any_of: tuple[str, ...],
        all_of: tuple[str, ...] = (),
        none_of: tuple[str, ...] = (),
    ) -> Family:
        """A family from plain texts, pruned once here."""

        def pruned(texts: tuple[str, ...]) -> tuple[str, ...]:
            return tuple(prune(t) for t in texts)

        return cls(id, name, category, pruned(any_of), pruned(all_of), pruned(none_of))

    def matches(self, pruned_head: str) -> bool:
        """True if this family's texts occur in an already pruned head."""
        if not any(p in pruned_head for p in self.any_of):
            return False
        if not all(p in pruned_head for p in self.all_of):
            return False
        return not any(p in pruned_head for p in self.none_of)


APACHE_FAMILY = Family.of(
    id="AL",
    name="Apache License 2.0",
    category=Category.A,
    any_of=(
        # The ASF source header.
        "Licensed to the Apache Software Foundation (ASF) under one or more contributor "
        "license agreements",
        # The short header of the license's appendix.
        'Licensed under the Apache License, Version 2.0 (the "License")',
        # The license's address, in either scheme (pruning drops "http(s)://").
        "www.apache.org/licenses/LICENSE-2.0",
    ),
)

_BSD_CLAUSES = (
    "Redistribution and use in source and binary forms, with or without modification, are permitted"
)
_BSD_ADVERTISING = (
    "All advertising materials mentioning features or use of this software must display"
)

FAMILIES: tuple[Family, ...] = (
    APACHE_FAMILY,
    Family.of(
        id="AL1.1",
        name="Apache License 1.1",
        category=Category.A,
        any_of=("The Apache Software License, Version 1.1",),
    ),
    # Copyleft first: a GPL notice that also cites another license is still GPL.
    Family.of(
        id="AGPL",
        name="GNU Affero General Public License",
        category=Category.X,
        any_of=("GNU Affero General Public License",),
    ),
    Family.of(
        id="LGPL",
        name="GNU Lesser General Public License",
        category=Category.X,
        any_of=("GNU Lesser General Public License", "GNU Library General Public License"),
    ),
    Family.of(
        id="GPL",
        name="GNU General Public License",
        category=Category.X,
        any_of=(
            "under the terms of the GNU General Public License",
            "GNU General Public License as published by the Free Software Foundation",
        ),
    ),
    Family.of(
        id="SSPL",
        name="Server Side Public License",
        category=Category.X,
        any_of=("Server Side Public License",),
    ),
    Family.of(
        id="BUSL",
        name="Business Source License",
        category=Category.X,
        any_of=("Business Source License",),
    ),
    Family.of(
        # The University of California rescinded the advertising clause of its BSD
        # license in 1999 (the letter of William Hoskins, 22 July 1999): its code is
        # under the 3-clause terms since.
        id="BSD-4-UC",
        name="BSD 4-clause of the University of California (advertising clause rescinded)",
        category=Category.A,
        any_of=(_BSD_CLAUSES,),
        all_of=(_BSD_ADVERTISING, "The Regents of the University of California"),
    ),
    Family.of(
        id="BSD-4",
        name="BSD 4-clause (advertising clause)",
        category=Category.X,
        any_of=(_BSD_CLAUSES,),
        all_of=(_BSD_ADVERTISING,),
    ),
    Family.of(
        id="BSD",
        name="BSD 2/3-clause",
        category=Category.A,
        any_of=(_BSD_CLAUSES,),
        none_of=(_BSD_ADVERTISING,),
    ),
    Family.of(
        id="MIT",
        name="MIT License",
        category=Category.A,
        any_of=(
            "Permission is hereby granted, free of charge, to any person obtaining a copy of "
            "this software and associated documentation files",
        ),
    ),
    Family.of(
        id="ISC",
        name="ISC License",
        category=Category.A,
        any_of=(
            "Permission to use, copy, modify, and/or distribute this software for any purpose "
            "with or without fee is hereby granted",
            "Permission to use, copy, modify, and distribute this software for any purpose "
            "with or without fee is hereby granted",
        ),
    ),
    Family.of(
        id="CDDL1",
        name="Common Development and Distribution License",
        category=Category.B,
        any_of=(
            "subject to the terms of the Common Development and Distribution License",
            "COMMON DEVELOPMENT AND DISTRIBUTION LICENSE",
        ),
    ),
    Family.of(
        id="MPL",
        name="Mozilla Public License",
        category=Category.B,
        any_of=("Mozilla Public License",),
    ),
    Family.of(
        id="EPL",
        name="Eclipse Public License",
        category=Category.B,
        any_of=("Eclipse Public License",),
    ),
    Family.of(
        id="W3C",
        name="W3C Software Notice",
        category=Category.A,
        any_of=("www.w3.org/Consortium/Legal/2002/copyright-software-20021231",),
    ),
    Family.of(
        id="W3CD",
        name="W3C Document License",
        category=Category.A,
        any_of=("www.w3.org/Consortium/Legal/2002/copyright-documents-20021231",),
    ),
    Family.of(
        id="OASIS",
        name="OASIS Open",
        category=Category.A,
        any_of=("This document and translations of it may be copied and furnished to others",),
        all_of=("OASIS Open",),
    ),
    Family.of(
        id="DOJO",
        name="Dojo (BSD or AFL)",
        category=Category.A,
        any_of=("dojotoolkit.org/community/licensing.shtml",),
    ),
    Family.of(
        id="BSL",
        name="Boost Software License 1.0",
        category=Category.A,
        any_of=("Boost Software License - Version 1.0",),
    ),
    Family.of(
        id="UNLICENSE",
        name="The Unlicense",
        category=Category.A,
        any_of=("This is free and unencumbered software released into the public domain",),
    ),
    Family.of(
        id="CC0",
        name="CC0 1.0 Universal",
        category=Category.A,
        any_of=("creativecommons.org/publicdomain/zero/1.0",),
    ),
    Family.of(
        # The FSF's all-permissive notices (SPDX FSFULLR, FSFUL, FSFAP): autotools macro
        # files, configure scripts, INSTALL files.
        id="FSF-permissive",
        name="FSF all-permissive notice",
        category=Category.A,
        any_of=(
            "the Free Software Foundation gives unlimited permission to copy and/or distribute "
            "it, with or without modifications, as long as this notice is preserved",
            "the Free Software Foundation gives unlimited permission to copy, distribute and "
            "modify it",
            "Copying and distribution of this file, with or without modification, are "
            "permitted in any medium without royalty provided the copyright notice and this "
            "notice are preserved",
        ),
    ),
    Family.of(
        id="PSF",
        name="Python Software Foundation License",
        category=Category.A,
        any_of=("PYTHON SOFTWARE FOUNDATION LICENSE VERSION 2",),
    ),
)
"""Every family, checked in this order; the first match wins. Apache comes first."""

_SPDX_TAG = re.compile(r"SPDX-License-Identifier\s*:\s*([^\r\n]*)", re.IGNORECASE)
_SPDX_TRAILER = re.compile(r"\s*(?:\*/|-->|\*\)|#>|\"\"\"|'''|;|\]\]).*$")


def find_spdx(head: str) -> str | None:
    """The expression of the first ``SPDX-License-Identifier:`` tag in ``head``, if any."""
    match = _SPDX_TAG.search(head)
    if match is None:
        return None
    value = _SPDX_TRAILER.sub("", match.group(1)).strip()
    return value or None


_ANCHORS = ("licen", "permission", "redistribution", "publicdomain", "unencumbered", "w3org",
            "dojotoolkit", "translationsof", "permitted")  # fmt: skip
"""Every family's texts hold one of these: a head with none of them matches no family."""


_KEY_CHARS = 6
"""Characters after an anchor that pick the texts worth comparing at one of its places."""
_Texts = list[tuple[int, str]]
_ByAnchor = dict[str, tuple[int, dict[str, _Texts], _Texts]]


def _by_anchor(texts: tuple[str, ...], anchors: tuple[str, ...]) -> _ByAnchor:
    """anchor → (key length, {the anchor and the next characters: [(offset of the anchor in
    the text, text)]}, [(offset, text)] of texts too short after the anchor for a key), for
    every text: each text is filed under the first anchor it holds."""
    found: _ByAnchor = {a: (len(a) + _KEY_CHARS, {}, []) for a in anchors}
    for text in texts:
        anchor = next(a for a in anchors if a in text)
        width, keyed, short = found[anchor]
        offset = text.index(anchor)
        if len(text) - offset >= width:
            keyed.setdefault(text[offset : offset + width], []).append((offset, text))
        else:
            short.append((offset, text))
    return found


def _occurring(haystack: str, by_anchor: _ByAnchor) -> set[str]:
    """The texts of ``by_anchor`` that occur in ``haystack``. Each occurrence of a text holds
    its anchor at a known offset, followed by its key: only the places where an anchor occurs
    are looked at, and there only the texts with the key found."""
    present: set[str] = set()
    for anchor, (width, keyed, short) in by_anchor.items():
        at = haystack.find(anchor)
        while at != -1:
            for offset, text in (*keyed.get(haystack[at : at + width], ()), *short):
                if at >= offset and haystack.startswith(text, at - offset):
                    present.add(text)
            at = haystack.find(anchor, at + 1)
    return present


_FAMILY_TEXTS = _by_anchor(tuple(dict.fromkeys(t for f in FAMILIES for t in f.any_of)), _ANCHORS)


def find_family(pruned_head: str) -> Family | None:
    """The first family whose texts occur in an already :func:`prune`-d head."""
    if APACHE_FAMILY.matches(pruned_head):
        return APACHE_FAMILY  # the first family, and most files' in an ASF release
    present = _occurring(pruned_head, _FAMILY_TEXTS)
    if not present:
        return None
    for family in FAMILIES:
        if not present.isdisjoint(family.any_of) and family.matches(pruned_head):
            return family
    return None


COPYLEFT_WITH_EXCEPTIONS = frozenset({"GPL", "LGPL"})
"""Families whose files may carry a build tool's special exception (:func:`find_exception`)."""

_EXCEPTIONS: tuple[tuple[str, tuple[str, ...]], ...] = tuple(
    (spdx, tuple(prune(t) for t in texts))
    for spdx, texts in (
        # autoconf-archive macros: the macro's owner permits the configure scripts made with it.
        ("Autoconf-exception-macro", ("the respective Autoconf Macro's copyright owner gives",)),
        (
            "Autoconf-exception-3.0",
            ("additional permissions described in the Autoconf Configure Script Exception",),
        ),
        (
            # config.guess, config.sub, depcomp, missing, compile… under GPLv3.
            "Autoconf-exception-generic-3.0",
            (
                "distribute this file as part of a program that contains a configuration "
                "script generated by Autoconf, you may include it under the same distribution "
                "terms that you use for the rest of that program. This Exception is an "
                "additional permission under section 7",
            ),
        ),
        (
            "Autoconf-exception-2.0",
            (
                "distribute this file as part of a program that contains a configuration "
                "script generated by Autoconf",
                "gives unlimited permission to copy, distribute and modify the configure "
                "scripts that are the output of Autoconf",
            ),
        ),
        (
            # ltmain.sh, libtool.m4.
            "Libtool-exception",
            (
                "distribute this file as part of a program or library that is built using "
                "GNU Libtool",
            ),
        ),
        ("Bison-exception-2.2", ("contains part or all of the Bison parser skeleton",)),
        (
            "Bison-exception-1.24",
            ("when this file is copied by Bison into a Bison output file",),
        ),
        ("GCC-exception-3.1", ("GCC Runtime Library Exception",)),
    )
)


def find_exception(pruned_head: str) -> str | None:
    """The SPDX id of a build tool's GPL exception (Autoconf, Libtool, Bison…) stated in an
    already :func:`prune`-d head, or ``None``."""
    for spdx, texts in _EXCEPTIONS:
        if any(t in pruned_head for t in texts):
            return spdx
    return None


GENERATED_MARKERS: tuple[str, ...] = (
    # RAT's own list of generator signatures (lower-cased).
    "generated text no license required",
    "generated by cayenne",
    "generated by:jjtree",
    "generated by:javacc",
    "this file is automatically generated",
    "this file is autogenerated",
    "this file was automatically generated",
    "this file has been automatically generated",
    "this file was generated by",
    "this file is generated by",
    "this class was autogenerated",
    "this class was generated by",
    "automatically generated - do not modify",
    "generated automatically by aclocal",
    "generated from configure.ac by autoheader",
    "microsoft developer studio generated",
    "source file generated",
    "generated by the batik",
    "generated by maven",
    "generated by javadoc",
    "autogenerated by thrift",
    "do not edit this file - it is machine generated",
    "warning: do not edit or delete this workspace file",
    # Common conventions of today's generators.
    "code generated by",  # Go: "Code generated by X. DO NOT EDIT."
    "@generated",
    "<auto-generated",
    "this file is auto-generated",
    "this file was auto-generated",
    "generated by the protocol buffer compiler",
    "do not edit! generated",
    "generated file. do not edit",
    "generated code - do not edit",
    "generated code. do not edit",
    "autogenerated file. do not edit",
    "do not edit: this file is generated",
    "automatically generated by",
    # Build tools and parser generators.
    "generated by gnu autoconf",
    "makefile.in generated by automake",
    "generated by libtoolize",
    "a bison parser, made by gnu bison",
    "a lexical scanner generated by flex",
    "generated by flex",
    "generated by gnu bison",
    "this file was automatically generated by swig",
    "generated by swig",
    "generated by cython",
    "generated by javacc",
    "generated by jjtree",
    "generated by antlr",
    "autogenerated by thrift compiler",
    "generated by gperf",
    "generated by re2c",
    "do not edit this file",
)
"""Phrases (lower case) that mark a file as generated when found in its head."""

_GENERATED_DO_NOT_EDIT = re.compile(
    r"\bgenerated\b.{0,80}\bdo not edit\b|\bdo not edit\b.{0,80}\bgenerated\b"
)


_MARKER_WORDS = ("generat", "do not edit", "bison parser")
"""Every marker holds one of these: a head with none of them is not searched further."""


_MARKERS_BY_WORD = _by_anchor(GENERATED_MARKERS, _MARKER_WORDS)


def is_generated(head: str) -> bool:
    """True if the head of a file carries a generator's marker."""
    return is_generated_lower(head.lower())


def is_generated_lower(lower: str) -> bool:
    """:func:`is_generated` of a head already lower-cased."""
    if _occurring(lower, _MARKERS_BY_WORD):
        return True
    return "do not edit" in lower and _GENERATED_DO_NOT_EDIT.search(lower) is not None

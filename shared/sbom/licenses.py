"""ASF license categories (A, B, X) of SPDX license expressions.

The ASF 3rd Party License Policy sorts licenses into three categories:

* **A** — may be included in an ASF product (Apache-2.0, MIT, BSD-2/3-Clause, ISC, …);
* **B** — may be included only in binary (compiled) form (CDDL, EPL, MPL, …);
* **X** — may never be included (GPL family, SSPL, BUSL, the JSON License, …).

:func:`classify` takes an SPDX expression (or one of the informal names people write
in manifests, such as ``"Apache 2.0"`` or ``"MIT/Apache-2.0"``) and answers its
category: for ``OR`` the best choice, for ``AND`` the worst part, for ``WITH`` the
category of the license the exception applies to — except the build-tool exceptions
(:data:`BUILD_TOOL_EXCEPTIONS`: Autoconf, Libtool, Bison…), which make a GPL file
Category A. Expressions are parsed by the ``license-expression`` library. Names it does
not know give :attr:`Category.UNKNOWN`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cyclonedx.spdx import fixup_id
from license_expression import (
    OR,
    ExpressionError,
    LicenseExpression,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    Licensing,
)

from shared.sbom.category import Category

__all__ = [
    "BUILD_TOOL_EXCEPTIONS",
    "Category",
    "LicenseClass",
    "category_of_id",
    "classify",
    "normalize_id",
]


CATEGORY_A = frozenset(
    {
        "0BSD",
        "AFL-3.0",
        "APAFML",
        "Apache-1.0",
        "Apache-1.1",
        "Apache-2.0",
        "BSD-2-Clause",
        "BSD-2-Clause-FreeBSD",
        "BSD-3-Clause",
        "BSD-3-Clause-Attribution",
        "BSL-1.0",
        "CC-BY-2.5",
        "CC-BY-3.0",
        "CC-BY-4.0",
        "CC-PDDC",
        "CC0-1.0",
        "EDL-1.0",
        "FSFAP",
        "FSFUL",
        "FSFULLR",
        "FSFULLRWD",
        "ICU",
        "ISC",
        "Libpng",
        "libpng-2.0",
        "MIT",
        "MIT-0",
        "MS-PL",
        "MulanPSL-2.0",
        "NCSA",
        "ODC-By-1.0",
        "OGL-UK-3.0",
        "PHP-3.0",
        "PHP-3.01",
        "PostgreSQL",
        "PSF-2.0",
        "Python-2.0",
        "SMLNJ",
        "Unicode-3.0",
        "Unicode-DFS-2015",
        "Unicode-DFS-2016",
        "Unlicense",
        "UPL-1.0",
        "W3C",
        "W3C-19980720",
        "W3C-20150513",
        "WTFPL",
        "X11",
        "Xnet",
        "Zlib",
        "ZPL-2.0",
        "ZPL-2.1",
    }
)
"""SPDX ids of Category A licenses (and public-domain dedications treated like them)."""

CATEGORY_B = frozenset(
    {
        "CDDL-1.0",
        "CDDL-1.1",
        "CPL-1.0",
        "EPL-1.0",
        "EPL-2.0",
        "ErlPL-1.1",
        "IPA",
        "IPL-1.0",
        "MPL-1.0",
        "MPL-1.1",
        "MPL-2.0",
        "MPL-2.0-no-copyleft-exception",
        "OFL-1.0",
        "OFL-1.1",
        "OSL-3.0",
        "Ruby",
        "SPL-1.0",
        "CC-BY-SA-2.5",
        "CC-BY-SA-3.0",
        "CC-BY-SA-4.0",
    }
)
"""SPDX ids of Category B licenses: binary inclusion only."""

CATEGORY_X = frozenset(
    {
        "BSD-4-Clause",
        "BSD-4-Clause-UC",
        "BUSL-1.1",
        "CPOL-1.02",
        "Elastic-2.0",
        "JSON",
        "MS-LPL",
        "NPL-1.0",
        "NPL-1.1",
        "QPL-1.0",
        "RPL-1.1",
        "RPL-1.5",
        "Sleepycat",
        "SSPL-1.0",
    }
)
"""SPDX ids of Category X licenses that are not matched by a family prefix below."""

_X_PREFIXES = ("GPL-", "LGPL-", "AGPL-", "GFDL-", "CC-BY-NC", "CC-BY-ND")
"""Whole families in Category X (any version, ``-only``/``-or-later`` and ``+`` forms)."""

# Informal names seen in package.json, pom.xml, pyproject.toml and friends (lower case,
# punctuation squeezed to single spaces by _squeeze) → SPDX id.
_ALIASES: dict[str, str] = {
    "apache": "Apache-2.0",
    "apache 2": "Apache-2.0",
    "apache 2 0": "Apache-2.0",
    "apache2": "Apache-2.0",
    "apache license": "Apache-2.0",
    "apache license 2 0": "Apache-2.0",
    "apache license version 2 0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "apache software license 2 0": "Apache-2.0",
    "the apache software license version 2 0": "Apache-2.0",
    "the apache license version 2 0": "Apache-2.0",
    "apache software license version 2 0": "Apache-2.0",
    "asl 2 0": "Apache-2.0",
    "asf 2 0": "Apache-2.0",
    "al 2 0": "Apache-2.0",
    "mit license": "MIT",
    "the mit license": "MIT",
    "mit x11": "MIT",
    "expat": "MIT",
    "new bsd": "BSD-3-Clause",
    "new bsd license": "BSD-3-Clause",
    "modified bsd": "BSD-3-Clause",
    "revised bsd": "BSD-3-Clause",
    "bsd 3 clause": "BSD-3-Clause",
    "bsd 3": "BSD-3-Clause",
    "bsd 3 clause license": "BSD-3-Clause",
    "the bsd 3 clause license": "BSD-3-Clause",
    "eclipse distribution license 1 0": "BSD-3-Clause",
    "edl 1 0": "BSD-3-Clause",
    "simplified bsd": "BSD-2-Clause",
    "freebsd": "BSD-2-Clause",
    "bsd 2 clause": "BSD-2-Clause",
    "bsd 2": "BSD-2-Clause",
    "bsd 2 clause license": "BSD-2-Clause",
    "the bsd 2 clause license": "BSD-2-Clause",
    "isc license": "ISC",
    "zlib license": "Zlib",
    "boost software license 1 0": "BSL-1.0",
    "boost": "BSL-1.0",
    "psf": "PSF-2.0",
    "psfl": "PSF-2.0",
    "python software foundation license": "PSF-2.0",
    "cc0": "CC0-1.0",
    "public domain": "CC-PDDC",
    "the unlicense": "Unlicense",
    "unlicensed public domain": "Unlicense",
    "universal permissive license 1 0": "UPL-1.0",
    "mozilla public license 2 0": "MPL-2.0",
    "mpl 2 0": "MPL-2.0",
    "mpl": "MPL-2.0",
    "eclipse public license 1 0": "EPL-1.0",
    "eclipse public license 2 0": "EPL-2.0",
    "eclipse public license v2 0": "EPL-2.0",
    "eclipse public license v1 0": "EPL-1.0",
    "epl": "EPL-1.0",
    "common development and distribution license": "CDDL-1.0",
    "cddl": "CDDL-1.0",
    "cddl 1 0": "CDDL-1.0",
    "cddl 1 1": "CDDL-1.1",
    "common public license version 1 0": "CPL-1.0",
    "sil open font license 1 1": "OFL-1.1",
    "gpl": "GPL-2.0-or-later",
    "gplv2": "GPL-2.0-only",
    "gplv2+": "GPL-2.0-or-later",
    "gplv3": "GPL-3.0-only",
    "gplv3+": "GPL-3.0-or-later",
    "gnu gpl": "GPL-2.0-or-later",
    "gnu gpl v3": "GPL-3.0-only",
    "lgpl": "LGPL-2.1-or-later",
    "lgplv2": "LGPL-2.0-only",
    "lgplv2+": "LGPL-2.0-or-later",
    "lgplv3": "LGPL-3.0-only",
    "lgplv3+": "LGPL-3.0-or-later",
    "agpl": "AGPL-3.0-or-later",
    "agplv3": "AGPL-3.0-only",
    "sspl": "SSPL-1.0",
    "json license": "JSON",
    "business source license 1 1": "BUSL-1.1",
}

# Substrings of names that put them in Category X however else they are written.
_X_WORDS = re.compile(
    r"\b(?:a?gpl|lgpl|gnu (?:affero |lesser |library )?general public|server side public|"
    r"business source|non ?commercial)\b"
)


@dataclass(frozen=True, slots=True)
class LicenseClass:
    """The category of one license expression and the ids that decided it."""

    expression: str
    """The expression as given (stripped)."""
    category: Category
    unknown: tuple[str, ...] = ()
    """Ids or names in the expression that no category lists."""
    exceptions: tuple[str, ...] = ()
    """The ``WITH`` exceptions the expression names."""

    def to_json(self) -> dict[str, object]:
        return {"expression": self.expression, "category": self.category.value}


def _squeeze(text: str) -> str:
    return re.sub(r"[^a-z0-9+]+", " ", text.lower()).strip()


def normalize_id(name: str) -> str | None:
    """The SPDX id for a single license id or informal name, or ``None`` if unknown."""
    name = name.strip()
    if not name:
        return None
    plus = name.endswith("+")
    base = name[:-1] if plus else name
    fixed = fixup_id(base)
    if fixed is not None:
        return f"{fixed}+" if plus else fixed
    alias = _ALIASES.get(_squeeze(name))
    if alias is not None:
        return alias
    return None


def category_of_id(license_id: str) -> Category:
    """The category of one SPDX id (``+`` and ``-or-later`` forms included)."""
    plain = license_id.removesuffix("+")
    for table, category in ((CATEGORY_A, Category.A), (CATEGORY_B, Category.B)):
        if plain in table:
            return category
    if plain in CATEGORY_X or plain.startswith(_X_PREFIXES):
        return Category.X
    if plain.endswith("-or-later") or plain.endswith("-only"):
        return category_of_id(
            plain.rsplit("-", 2)[0] if plain.endswith("-or-later") else plain[:-5]
        )
    return Category.UNKNOWN


def _category_of_name(name: str) -> tuple[Category, str | None]:
    """The category of one atom of an expression, and the atom itself if it is unknown."""
    spdx = normalize_id(name)
    if spdx is not None:
        category = category_of_id(spdx)
        return category, (name if category is Category.UNKNOWN else None)
    if _X_WORDS.search(_squeeze(name)):
        return Category.X, None
    return Category.UNKNOWN, name


# --- SPDX expressions, parsed by the license-expression library ------------------

BUILD_TOOL_EXCEPTIONS = frozenset(
    {
        "Autoconf-exception-2.0",
        "Autoconf-exception-3.0",
        "Autoconf-exception-generic",
        "Autoconf-exception-generic-3.0",
        "Autoconf-exception-macro",
        "Bison-exception-1.24",
        "Bison-exception-2.2",
        "GCC-exception-2.0",
        "GCC-exception-3.1",
        "Libtool-exception",
        "Texinfo-exception",
        "gnu-javamail-exception",
    }
)
"""SPDX exception ids that let a GPL-licensed build-tool file (``config.guess``, ``ltmain.sh``,
a Bison parser skeleton, ``libgcc``'s runtime) be distributed under the terms of the program
it is part of. ``GPL-… WITH`` one of these is treated as Category A: the ASF accepts such
files in releases. Other exceptions (``Classpath-exception-2.0``…) keep the category of the
license they qualify."""

_BUILD_TOOL_EXCEPTIONS_LOWER = frozenset(e.lower() for e in BUILD_TOOL_EXCEPTIONS)

_licensing = Licensing()


class _Walk:
    """The category of a parsed expression: ``OR`` the best, ``AND`` the worst."""

    def __init__(self) -> None:
        self.unknown: list[str] = []
        self.exceptions: list[str] = []

    def category(self, node: LicenseExpression) -> Category:
        if isinstance(node, LicenseWithExceptionSymbol):
            exception = str(node.exception_symbol.key)
            self.exceptions.append(exception)
            base = self.category(node.license_symbol)
            if exception.lower() in _BUILD_TOOL_EXCEPTIONS_LOWER and base is Category.X:
                return Category.A
            return base
        if isinstance(node, LicenseSymbol):
            category, unknown = _category_of_name(str(node.key))
            if unknown is not None:
                self.unknown.append(unknown)
            return category
        parts = [self.category(arg) for arg in node.args]
        if isinstance(node, OR):
            return min(parts, key=lambda c: c.badness)
        return max(parts, key=lambda c: c.badness)


def _parse(text: str) -> LicenseExpression | None:
    try:
        parsed = _licensing.parse(text, simple=False)
    except ExpressionError:
        return None
    return parsed if isinstance(parsed, LicenseExpression) else None


def classify(expression: str) -> LicenseClass:
    """The ASF category of an SPDX expression or informal license name.

    >>> classify("MIT OR GPL-3.0-only").category
    <Category.A: 'A'>
    >>> classify("MIT AND GPL-3.0-only").category
    <Category.X: 'X'>
    >>> classify("GPL-2.0-or-later WITH Autoconf-exception-2.0").category
    <Category.A: 'A'>
    """
    text = expression.strip()
    if not text:
        return LicenseClass(text, Category.UNKNOWN, ("(empty)",))
    # A single id or a whole informal name ("Apache License, Version 2.0").
    spdx = normalize_id(text)
    if spdx is not None:
        category = category_of_id(spdx)
        return LicenseClass(text, category, (text,) if category is Category.UNKNOWN else ())
    # Old Cargo and npm style "MIT/Apache-2.0" means either.
    spdx_text = re.sub(r"\s*/\s*", " OR ", text) if "/" in text and " " not in text else text
    parsed = _parse(spdx_text)
    if parsed is None or (isinstance(parsed, LicenseSymbol) and " " in str(parsed.key)):
        # Not an expression: free text, which may still name a copyleft family.
        if _X_WORDS.search(_squeeze(text)):
            return LicenseClass(text, Category.X)
        return LicenseClass(text, Category.UNKNOWN, (text,))
    walk = _Walk()
    category = walk.category(parsed)
    return LicenseClass(text, category, tuple(walk.unknown), tuple(walk.exceptions))

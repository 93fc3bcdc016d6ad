"""ASF license categories of SPDX expressions and informal names."""

from __future__ import annotations

import pytest

from shared.sbom.licenses import Category, category_of_id, classify, normalize_id


@pytest.mark.parametrize(
    ("expression", "category"),
    [
        ("Apache-2.0", Category.A),
        ("MIT", Category.A),
        ("BSD-3-Clause", Category.A),
        ("ISC", Category.A),
        ("CDDL-1.1", Category.B),
        ("EPL-2.0", Category.B),
        ("MPL-2.0", Category.B),
        ("GPL-2.0-only", Category.X),
        ("GPL-3.0-or-later", Category.X),
        ("LGPL-2.1+", Category.X),
        ("AGPL-3.0-only", Category.X),
        ("SSPL-1.0", Category.X),
        ("BUSL-1.1", Category.X),
        ("JSON", Category.X),
        ("BSD-4-Clause", Category.X),
        ("CC-BY-NC-4.0", Category.X),
        # OR picks the best choice, AND the worst part, WITH keeps the license's category.
        ("MIT OR GPL-3.0-only", Category.A),
        ("MIT AND GPL-3.0-only", Category.X),
        ("EPL-2.0 OR GPL-2.0-or-later", Category.B),
        ("(MIT OR CDDL-1.0) AND BSD-3-Clause", Category.A),
        ("(MIT OR CDDL-1.0) AND MPL-2.0", Category.B),
        ("GPL-2.0-only WITH Classpath-exception-2.0", Category.X),
        ("Apache-2.0 WITH LLVM-exception", Category.A),
        ("mit or apache-2.0", Category.A),
        # Informal names from manifests.
        ("Apache License, Version 2.0", Category.A),
        ("The Apache Software License, Version 2.0", Category.A),
        ("MIT License", Category.A),
        ("MIT/Apache-2.0", Category.A),
        ("GPLv3", Category.X),
        ("GNU General Public License v3 (GPLv3)", Category.X),
        ("Eclipse Public License 2.0", Category.B),
        # Unknown.
        ("BSD", Category.UNKNOWN),
        ("LicenseRef-Proprietary", Category.UNKNOWN),
        ("UNLICENSED", Category.UNKNOWN),
        ("SEE LICENSE IN LICENSE.txt", Category.UNKNOWN),
        ("", Category.UNKNOWN),
        ("(MIT", Category.UNKNOWN),
        ("MIT AND", Category.UNKNOWN),
        ("MIT OR LicenseRef-x", Category.A),
        ("GPL-2.0-only OR LicenseRef-x", Category.UNKNOWN),
    ],
)
def test_classify(expression: str, category: Category) -> None:
    assert classify(expression).category is category


def test_unknown_parts_are_named() -> None:
    result = classify("Apache-2.0 AND LicenseRef-Foo")
    assert result.category is Category.UNKNOWN
    assert result.unknown == ("LicenseRef-Foo",)
    assert classify("Apache-2.0").unknown == ()


def test_normalize_and_category_of_id() -> None:
    assert normalize_id("apache-2.0") == "Apache-2.0"
    assert normalize_id("Apache 2.0") == "Apache-2.0"
    assert normalize_id("nonsense licence") is None
    assert category_of_id("GPL-2.0+") is Category.X
    assert category_of_id("LGPL-3.0-or-later") is Category.X
    assert category_of_id("Zlib") is Category.A
    assert category_of_id("Frobnicate-1.0") is Category.UNKNOWN


def test_badness_orders_categories() -> None:
    ordered = sorted(Category, key=lambda c: c.badness)
    assert ordered == [Category.A, Category.B, Category.UNKNOWN, Category.X]


@pytest.mark.parametrize(
    ("expression", "category", "exceptions"),
    [
        ("GPL-2.0-or-later WITH Autoconf-exception-2.0", Category.A, ("Autoconf-exception-2.0",)),
        ("GPL-3.0-or-later WITH Autoconf-exception-generic-3.0", Category.A, None),
        ("GPL-2.0-or-later WITH Libtool-exception", Category.A, None),
        ("GPL-3.0-or-later WITH Bison-exception-2.2", Category.A, None),
        ("GPL-3.0-or-later WITH GCC-exception-3.1", Category.A, None),
        # Other exceptions leave the license's category.
        ("GPL-2.0-only WITH Classpath-exception-2.0", Category.X, ("Classpath-exception-2.0",)),
        ("(GPL-2.0-or-later WITH Libtool-exception) AND MPL-2.0", Category.B, None),
        ("FSFULLR", Category.A, ()),
    ],
)
def test_build_tool_exceptions(
    expression: str, category: Category, exceptions: tuple[str, ...] | None
) -> None:
    result = classify(expression)
    assert result.category is category
    if exceptions is not None:
        assert result.exceptions == exceptions

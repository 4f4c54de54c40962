"""The rules behind the render limits, as tables: go-yaml's alias ratio, counting, sizes."""

from __future__ import annotations

import pytest
import yaml

from fleet.adapters.render.aliasing import (
    AliasBudget,
    ExcessiveAliasing,
    alias_expansion,
    allowed_alias_ratio,
    is_excessive,
)
from fleet.adapters.render.limits import RenderLimits, applied, check_objects, current, size_text


@pytest.mark.parametrize(
    ("decoded", "ratio"),
    [(1, 0.99), (400_000, 0.99), (2_200_000, 0.545), (4_000_000, 0.10), (10**9, 0.10)],
)
def test_allowed_alias_ratio_is_go_yamls(decoded: int, ratio: float) -> None:
    assert allowed_alias_ratio(decoded) == pytest.approx(ratio)


@pytest.mark.parametrize(
    ("decoded", "aliased", "excessive"),
    [
        (1000, 990, False),  # small documents may be all aliases
        (1001, 1000, True),
        (5000, 100, False),  # a hundred aliased values are always fine
        (100_000, 98_000, False),
        (100_000, 99_500, True),
        (4_000_000, 390_000, False),  # large documents: 10% may come from aliases
        (4_000_000, 410_000, True),
    ],
)
def test_excessive_aliasing_table(decoded: int, aliased: int, excessive: bool) -> None:
    assert is_excessive(decoded, aliased) is excessive


def composed(text: str) -> yaml.Node:
    node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    assert node is not None
    return node


@pytest.mark.parametrize(
    ("text", "decoded", "written"),
    [
        ("a: 1\n", 3, 3),  # the mapping, its key, its value
        ("a: &x [1, 2]\nb: *x\n", 9, 6),  # the alias adds the list's three values
        ("a: &x [1]\nb: &y [*x, *x]\nc: [*y, *y]\n", 22, 8),
    ],
)
def test_alias_expansion_counts_values_as_if_copied(text: str, decoded: int, written: int) -> None:
    assert alias_expansion(composed(text)) == (decoded, written)


def test_deep_nesting_is_counted_without_recursion() -> None:
    text = "a: " + "{b: " * 900 + "1" + "}" * 900 + "\n"
    decoded, written = alias_expansion(composed(text))
    assert decoded == written == 1 + 2 * 901


def test_the_budget_adds_up_documents_of_one_file() -> None:
    budget = AliasBudget(limit=10)
    document = composed("a: &x [1, 2]\nb: *x\nc: *x\n")  # six values from aliases
    budget.check(document)
    with pytest.raises(ExcessiveAliasing, match="more than 10 values in all"):
        budget.check(document)


@pytest.mark.parametrize(
    ("count", "text"),
    [(420, "420 bytes"), (1536, "1.5 KiB"), (16 << 20, "16 MiB"), (2 << 30, "2 GiB")],
)
def test_sizes_read_as_people_write_them(count: int, text: str) -> None:
    assert size_text(count) == text


def test_limits_apply_to_the_render_in_their_context_only() -> None:
    assert current() == RenderLimits()
    with applied(RenderLimits(max_objects=3)):
        check_objects(3, "app")
        with pytest.raises(Exception, match="more than 3 objects"):
            check_objects(4, "app")
    check_objects(4, "app")

"""Comparing two objects by field: the equal-subtree shortcut finds what the walk finds.

``compare`` skips a pair of values that ``==`` and a boolean check call equal; these
tables and properties hold it to the full walk, booleans against numbers included.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.sim.patching import render_path
from fleet.sim.patching import typedmerge as tm
from fleet.sim.patching.values import json_equal
from tests.sim.patching_objects import CONFIGMAP, DEPLOYMENT, deployment


@contextmanager
def full_walk() -> Iterator[None]:
    """``compare`` without the shortcut, as it was written first."""
    with mock.patch.object(tm, "_same", return_value=False):
        yield


def changes(left: Any, right: Any, root: Any) -> dict[str, list[str]]:
    found = tm.compare(left, right, root)
    return {
        name: [render_path(p) for p in getattr(found, name).paths()]
        for name in ("added", "modified", "removed")
    }


NAN = float("nan")


def with_spec(obj: Any, **spec: Any) -> Any:
    out = copy.deepcopy(obj)
    out["spec"].update(spec)
    return out


BOOL_ROWS = [
    ("bool for int", {"data": {"a": True}}, {"data": {"a": 1}}, [".data.a"]),
    ("int for bool", {"data": {"a": 0}}, {"data": {"a": False}}, [".data.a"]),
    ("bool for float in a list", {"data": {"a": [1.0]}}, {"data": {"a": [True]}}, [".data.a"]),
    (
        "deep bool",
        {"data": {"a": {"b": [{"c": True}]}}},
        {"data": {"a": {"b": [{"c": 1}]}}},
        [".data.a"],
    ),
    ("int for float is no change", {"data": {"a": 1}}, {"data": {"a": 1.0}}, []),
    ("NaN is never equal", {"data": {"a": [NAN]}}, {"data": {"a": [NAN]}}, [".data.a"]),
    ("equal", {"data": {"a": "x", "b": True}}, {"data": {"a": "x", "b": True}}, []),
]


@pytest.mark.parametrize(("_name", "left", "right", "modified"), BOOL_ROWS)
def test_booleans_never_equal_numbers(
    _name: str, left: Any, right: Any, modified: list[str]
) -> None:
    root = CONFIGMAP.root
    assert changes(left, right, root)["modified"] == modified
    with full_walk():
        assert changes(left, right, root)["modified"] == modified


DEPLOYMENT_ROWS = [
    ("same object", deployment(), deployment()),
    ("replicas", deployment(replicas=3), deployment(replicas=4)),
    ("replicas added", deployment(replicas=None), deployment(replicas=2)),
    ("image", deployment(image="a"), deployment(image="b")),
    ("label", deployment(tier="web"), deployment(tier="db")),
    ("status only", deployment(), {**deployment(), "status": {"replicas": 1, "ready": True}}),
    (
        "status bool for int",
        {**deployment(), "status": {"replicas": 1}},
        {**deployment(), "status": {"replicas": True}},
    ),
    ("paused", with_spec(deployment(), paused=False), with_spec(deployment(), paused=0)),
]


@pytest.mark.parametrize(("_name", "left", "right"), DEPLOYMENT_ROWS)
def test_the_shortcut_finds_what_the_full_walk_finds(_name: str, left: Any, right: Any) -> None:
    fast = changes(left, right, DEPLOYMENT.root)
    with full_walk():
        slow = changes(left, right, DEPLOYMENT.root)
    assert fast == slow


names = st.from_regex(r"[a-z][a-z0-9]{0,3}", fullmatch=True)
scalars = (
    st.booleans() | st.integers(-2, 2) | st.sampled_from([0.0, 1.0, 2.5]) | st.text(max_size=2)
)
json_values = st.recursive(
    st.none() | scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(json_values, json_values)
def test_the_shortcut_agrees_with_json_equality(left: Any, right: Any) -> None:
    assert tm._same(left, right) == json_equal(left, right)
    twin = copy.deepcopy(left)
    assert tm._same(left, twin)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(names, json_values, max_size=4), st.dictionaries(names, json_values))
def test_the_shortcut_changes_no_comparison(data: Any, other: Any) -> None:
    left = {"metadata": {"name": "x"}, "data": data}
    for right in ({"metadata": {"name": "x"}, "data": other}, copy.deepcopy(left)):
        fast = changes(left, right, CONFIGMAP.root)
        with full_walk():
            assert changes(left, right, CONFIGMAP.root) == fast

"""Leaving out what both sides hold alike changes no JSON Patch jsonpatch makes.

``compare`` hands jsonpatch the two objects without their common members
(``without_common``), which spares it serialising every scalar of a Deployment to find
one changed field. The patch must be exactly the one of the whole objects: a table of
the cases where JSON and Python disagree on sameness, and a property over random
documents and edits.
"""

from __future__ import annotations

from typing import Any

import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.engine.actions import DryRun
from fleet.engine.diff import compare, without_common
from fleet.model.refs import ObjectRef


def patch_of(src: dict[str, Any], dst: dict[str, Any]) -> list[dict[str, Any]]:
    return list(jsonpatch.make_patch(src, dst).patch)


CASES = [
    # (name, src, dst)
    (
        "one field deep",
        {"spec": {"a": 1, "b": {"c": "x", "d": [1, 2]}}},
        {"spec": {"a": 1, "b": {"c": "y", "d": [1, 2]}}},
    ),
    ("int against float", {"a": 1, "b": 2}, {"a": 1.0, "b": 2}),
    ("int against bool", {"a": 1, "b": {"c": 0}}, {"a": True, "b": {"c": False}}),
    ("negative zero", {"a": 0.0}, {"a": -0.0}),
    (
        "a list with one item changed",
        {"l": [{"n": 1}, {"n": 2}], "k": "same"},
        {"l": [{"n": 1}, {"n": 3}], "k": "same"},
    ),
    ("member added and removed", {"a": {"x": 1}, "b": 2, "c": 3}, {"c": 3, "d": {"x": 1}, "b": 2}),
    (
        "a moved value",
        {"a": {"big": [1, 2, 3]}, "keep": {"z": 1}},
        {"b": {"big": [1, 2, 3]}, "keep": {"z": 1}},
    ),
    ("object against list", {"a": {"x": 1}, "b": [1]}, {"a": [1], "b": {"x": 1}}),
    ("null and missing", {"a": None, "b": 1}, {"b": 1, "c": None}),
    ("key order only", {"a": 1, "b": {"x": 1, "y": 2}}, {"b": {"y": 2, "x": 1}, "a": 1}),
    ("everything alike", {"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}),
]


@pytest.mark.parametrize(("name", "src", "dst"), CASES, ids=[c[0] for c in CASES])
def test_the_patch_is_the_whole_objects_patch(
    name: str, src: dict[str, Any], dst: dict[str, Any]
) -> None:
    assert patch_of(*without_common(src, dst)) == patch_of(src, dst)


def test_what_is_alike_is_left_out() -> None:
    left, right = without_common(
        {"spec": {"replicas": 1, "image": "a", "tags": [1]}, "kind": "Deployment"},
        {"spec": {"replicas": 1, "image": "b", "tags": [1]}, "kind": "Deployment"},
    )
    assert (left, right) == ({"spec": {"image": "a"}}, {"spec": {"image": "b"}})


def test_compare_still_names_the_changed_paths() -> None:
    ref = ObjectRef("apps", "Deployment", "web", "api")
    live = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1, "x": 1}}
    desired = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 2, "x": 1}}
    diff = compare(ref, desired, live, with_text=False)
    assert not diff.in_sync
    assert diff.changed_paths == ("/spec/replicas",)


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.sampled_from([0.0, -0.0, 1.0, 2.5]),
    st.sampled_from(["", "a", "b"]),
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), inner, max_size=4),
    ),
    max_leaves=12,
)
objects = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), documents, max_size=5)


def _edited(doc: dict[str, Any], edits: dict[str, Any], drop: list[str]) -> dict[str, Any]:
    out = {k: v for k, v in doc.items() if k not in drop}
    out.update(edits)
    return out


@settings(max_examples=400, deadline=None)
@given(
    objects,
    st.dictionaries(st.sampled_from(["a", "c", "e", "f"]), documents, max_size=2),
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=2),
)
def test_property_the_patch_is_unchanged(
    src: dict[str, Any], edits: dict[str, Any], drop: list[str]
) -> None:
    dst = _edited(src, edits, drop)
    nested_src = {"spec": src, "same": {"x": src}}
    nested_dst = {"spec": dst, "same": {"x": src}}
    for left, right in ((src, dst), (nested_src, nested_dst), (dst, src)):
        assert patch_of(*without_common(left, right)) == patch_of(left, right)


def test_a_dry_run_reported_without_paths_agrees_on_in_sync() -> None:
    ref = ObjectRef("apps", "Deployment", "web", "api")
    live = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": 1}}
    action = DryRun("dry-run x", ref, body=live, live=live)
    for answer, same in ((live, True), ({**live, "spec": {"replicas": 2}}, False)):
        full = action.succeeded_with(answer)
        lean = action.succeeded_with(answer, paths=False)
        assert (full.in_sync, lean.in_sync) == (same, same)
        assert lean.changed == ()
        assert full.changed == (() if same else ("/spec/replicas",))

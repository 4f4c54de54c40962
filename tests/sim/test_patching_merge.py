"""JSON merge patch (RFC 7386) and JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fleet.sim.patching import BadPatch, PatchError, json_merge_patch, json_patch

# RFC 7386, Appendix A: original, patch, result.
RFC7386_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    (["a", "b"], ["c", "d"], ["c", "d"]),
    ({"a": "b"}, ["c"], ["c"]),
    ({"a": "foo"}, None, None),
    ({"a": "foo"}, "bar", "bar"),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ([1, 2], {"a": "b", "c": None}, {"a": "b"}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("original", "patch", "result"), RFC7386_EXAMPLES)
def test_merge_patch_follows_rfc7386_appendix(original: Any, patch: Any, result: Any) -> None:
    assert json_merge_patch(original, patch) == result


def test_merge_patch_replaces_lists_even_with_merge_keys() -> None:
    live = {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "1"}]}}
    out = json_merge_patch(live, {"spec": {"containers": [{"name": "a", "image": "2"}]}})
    assert out == {"spec": {"containers": [{"name": "a", "image": "2"}]}}


def test_merge_patch_leaves_its_inputs_alone() -> None:
    live = {"a": {"b": 1, "c": [1]}}
    patch = {"a": {"b": None, "d": {"e": 1}}}
    before = copy.deepcopy((live, patch))
    out = json_merge_patch(live, patch)
    out["a"]["d"]["e"] = 2
    assert (live, patch) == before


DOC: dict[str, Any] = {
    "metadata": {"name": "x", "labels": {"app": "web"}},
    "spec": {"replicas": 1, "ports": [80]},
}

# RFC 6902 operations, one behaviour per row.
JSON_PATCH_ROWS = [
    ("add member", [{"op": "add", "path": "/spec/paused", "value": True}], {"paused": True}),
    ("replace member", [{"op": "replace", "path": "/spec/replicas", "value": 3}], {"replicas": 3}),
    ("remove member", [{"op": "remove", "path": "/spec/replicas"}], {"replicas": None}),
    (
        "append to list",
        [{"op": "add", "path": "/spec/ports/-", "value": 443}],
        {"ports": [80, 443]},
    ),
    ("insert in list", [{"op": "add", "path": "/spec/ports/0", "value": 1}], {"ports": [1, 80]}),
    (
        "move",
        [{"op": "move", "from": "/spec/replicas", "path": "/spec/count"}],
        {"replicas": None, "count": 1},
    ),
    (
        "copy",
        [{"op": "copy", "from": "/spec/replicas", "path": "/spec/count"}],
        {"replicas": 1, "count": 1},
    ),
    (
        "test then replace",
        [
            {"op": "test", "path": "/spec/replicas", "value": 1},
            {"op": "replace", "path": "/spec/replicas", "value": 2},
        ],
        {"replicas": 2},
    ),
]


@pytest.mark.parametrize(("_name", "ops", "spec_changes"), JSON_PATCH_ROWS)
def test_json_patch_operations(_name: str, ops: list[Any], spec_changes: dict[str, Any]) -> None:
    expected = copy.deepcopy(DOC)
    for key, value in spec_changes.items():
        if value is None:
            expected["spec"].pop(key)
        else:
            expected["spec"][key] = value
    assert json_patch(DOC, ops) == expected


JSON_PATCH_ERRORS = [
    ("not a list", {"op": "add"}, BadPatch, 400, "must be a list"),
    ("operation without op", [{"path": "/a"}], BadPatch, 400, "operation 0"),
    ("unknown op", [{"op": "frobnicate", "path": "/a"}], BadPatch, 400, "operation 0 is invalid"),
    (
        "remove a missing member",
        [{"op": "remove", "path": "/spec/missing"}],
        PatchError,
        422,
        "operation 0 (remove /spec/missing) failed",
    ),
    (
        "failed test, second operation",
        [
            {"op": "add", "path": "/spec/x", "value": 1},
            {"op": "test", "path": "/spec/replicas", "value": 9},
        ],
        PatchError,
        422,
        "operation 1 (test /spec/replicas) failed",
    ),
    (
        "path into a scalar",
        [{"op": "add", "path": "/spec/replicas/x", "value": 1}],
        PatchError,
        422,
        "operation 0",
    ),
    (
        "too many operations",
        [{"op": "test", "path": "/spec", "value": {}}] * 10001,
        PatchError,
        413,
        "maximum operations in a JSON patch is 10000",
    ),
]


@pytest.mark.parametrize(("_name", "ops", "error", "code", "message"), JSON_PATCH_ERRORS)
def test_json_patch_errors(
    _name: str, ops: Any, error: type[PatchError], code: int, message: str
) -> None:
    before = copy.deepcopy(DOC)
    with pytest.raises(error) as raised:
        json_patch(DOC, ops)
    assert raised.value.code == code
    assert message in raised.value.message
    assert before == DOC

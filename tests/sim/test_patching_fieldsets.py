"""Field sets and their FieldsV1 form, as kube-apiservers write them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fleet.sim.patching import FieldSet, fieldset_from_object, kind_schema, render_path
from fleet.sim.patching.fieldsets import key_element, value_element

DEPLOYMENT = kind_schema("apps", "v1", "Deployment")


def fs(*paths: str) -> FieldSet:
    """A set from dotted paths of FieldsV1 elements separated by ``|``."""
    return FieldSet.from_paths(tuple(p.split("|")) for p in paths)


def test_fields_v1_marks_a_member_with_children_by_a_dot_entry_written_first() -> None:
    owned = fs('f:spec|f:containers|k:{"name":"a"}', 'f:spec|f:containers|k:{"name":"a"}|f:image')
    assert json.dumps(owned.to_fields_v1()) == json.dumps(
        {"f:spec": {"f:containers": {'k:{"name":"a"}': {".": {}, "f:image": {}}}}}
    )


def test_fields_v1_orders_fields_then_keys_then_values_then_indices() -> None:
    owned = fs("i:0", 'v:"b"', 'k:{"a":1}', "f:z", "f:a", 'v:"a"', "v:2")
    assert list(owned.to_fields_v1()) == ["f:a", "f:z", 'k:{"a":1}', "v:2", 'v:"a"', 'v:"b"', "i:0"]


def test_key_elements_sort_names_and_escape_like_go() -> None:
    assert key_element({"protocol": "TCP", "containerPort": 80}) == (
        'k:{"containerPort":80,"protocol":"TCP"}'
    )
    assert value_element("a<b>&c") == 'v:"a\\u003cb\\u003e\\u0026c"'


FIELDS_V1_ROUND_TRIPS = [
    {},
    {"f:metadata": {"f:labels": {"f:a": {}}}},
    {"f:data": {".": {}, "f:key": {}}},
    {"f:metadata": {"f:finalizers": {".": {}, 'v:"example.com/x"': {}}}},
    {"f:spec": {"f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}}}},
]


@pytest.mark.parametrize("fields", FIELDS_V1_ROUND_TRIPS)
def test_fields_v1_round_trips(fields: dict[str, Any]) -> None:
    assert FieldSet.from_fields_v1(fields).to_fields_v1() == fields


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"f:a": []},
        {"x:a": {}},
        {"k:not-json": {}},
        {"k:[1]": {}},
        {"i:x": {}},
    ],
)
def test_malformed_fields_v1_is_refused(bad: Any) -> None:
    with pytest.raises(ValueError, match="fieldsV1"):
        FieldSet.from_fields_v1(bad)


PATHS = [
    (("f:spec", "f:replicas"), ".spec.replicas"),
    (
        ("f:spec", "f:containers", 'k:{"name":"web"}', "f:image"),
        '.spec.containers[name="web"].image',
    ),
    (
        ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}'),
        '.spec.ports[port=80,protocol="TCP"]',
    ),
    (("f:metadata", "f:finalizers", 'v:"a/b"'), '.metadata.finalizers[="a/b"]'),
    (("f:list", "i:3"), ".list[3]"),
]


@pytest.mark.parametrize(("path", "text"), PATHS)
def test_paths_render_as_in_api_server_messages(path: tuple[str, ...], text: str) -> None:
    assert render_path(path) == text


def test_difference_keeps_children_of_removed_members_recursive_difference_does_not() -> None:
    owned = fs("f:status", "f:status|f:phase", "f:spec|f:x")
    status = fs("f:status")
    assert owned.difference(status) == fs("f:status|f:phase", "f:spec|f:x")
    assert owned.recursive_difference(status) == fs("f:spec|f:x")


def test_set_algebra() -> None:
    a = fs("f:a", "f:b|f:c", "f:b|f:d")
    b = fs("f:b|f:c", "f:e")
    assert a.union(b) == fs("f:a", "f:b|f:c", "f:b|f:d", "f:e")
    assert a.intersection(b) == fs("f:b|f:c")
    assert a.difference(b) == fs("f:a", "f:b|f:d")
    assert a.has(("f:b", "f:d"))
    assert not a.has(("f:b",))
    assert len(a) == 3


def test_fieldset_from_object_owns_leaves_items_and_map_entries_not_structs() -> None:
    owned = fieldset_from_object(
        {
            "metadata": {"labels": {"app": "x"}},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app": "x"}},
                "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}},
            },
        },
        DEPLOYMENT,
    )
    assert sorted(render_path(p) for p in owned.paths()) == sorted(
        [
            ".metadata.labels.app",
            ".spec.replicas",
            ".spec.selector",
            '.spec.template.spec.containers[name="c"]',
            '.spec.template.spec.containers[name="c"].image',
            '.spec.template.spec.containers[name="c"].name',
        ]
    )


def test_decoded_sets_are_cached_and_every_encoding_is_a_fresh_object() -> None:
    fields = {"f:data": {".": {}, "f:b": {}, "f:a": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}
    first = FieldSet.from_fields_v1(fields)
    again = FieldSet.from_fields_v1(json.loads(json.dumps(fields)))
    assert again == first
    written = first.to_fields_v1()
    # Normalised as if never cached: entries sorted, "." first.
    assert json.dumps(written) == json.dumps(
        {"f:data": {".": {}, "f:a": {}, "f:b": {}}, "f:metadata": {"f:labels": {"f:x": {}}}}
    )
    written["f:data"]["f:c"] = {}
    assert "f:c" not in again.to_fields_v1()["f:data"]
    assert FieldSet.from_fields_v1(written) != first


def test_malformed_fields_v1_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValueError, match="invalid path element"):
            FieldSet.from_fields_v1({"f:a": {"x:b": {}}})

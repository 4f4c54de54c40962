"""Pruning of custom resources by their structural schema."""

from __future__ import annotations

from typing import Any

from fleet.sim.pruning import prune

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "properties": {
                "size": {"type": "integer"},
                "items": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                },
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "empty": {"type": "object"},
                "template": {
                    "type": "object",
                    "x-kubernetes-embedded-resource": True,
                    "properties": {
                        "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                },
            },
        },
        "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}},
    },
}


def test_unknown_fields_are_dropped_everywhere_and_reported() -> None:
    obj = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "labels": {"a": "b"}},
        "color": "red",
        "spec": {
            "size": 1,
            "shape": "round",
            "items": [{"name": "a", "extra": 1}],
            "labels": {"any": "thing"},
            "free": {"anything": {"goes": True}},
            "empty": {"gone": 1},
            "template": {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "p"},
                "spec": {"x": 1},
                "bad": 2,
            },
        },
        "status": {"ready": True, "phase": "x"},
    }
    dropped = prune(obj, SCHEMA)
    assert sorted(dropped) == sorted(
        [
            "color",
            "spec.shape",
            "spec.items[0].extra",
            "spec.empty.gone",
            "spec.template.bad",
            "status.phase",
        ]
    )
    assert obj["metadata"] == {"name": "w", "labels": {"a": "b"}}
    assert obj["spec"]["items"] == [{"name": "a"}]
    assert obj["spec"]["free"] == {"anything": {"goes": True}}
    assert obj["spec"]["template"]["spec"] == {"x": 1}
    assert obj["spec"]["empty"] == {}


def test_a_schema_that_preserves_unknown_fields_keeps_everything() -> None:
    obj = {"apiVersion": "x/v1", "kind": "X", "metadata": {"name": "x"}, "anything": {"at": "all"}}
    assert prune(obj, {"type": "object", "x-kubernetes-preserve-unknown-fields": True}) == []
    assert obj["anything"] == {"at": "all"}

"""Object helpers and failure markers of the status controllers: pure tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from fleet.sim.controllers.kube import _without_managed_fields
from fleet.sim.controllers.markers import (
    READY_DELAY_ANNOTATION,
    failing_containers,
    image_fails,
    image_name,
    ready_delay_for,
)
from fleet.sim.controllers.objects import (
    Obj,
    copy_object,
    parse_time,
    rfc3339,
    scaled_value,
    selector_matches,
    set_condition,
    template_hash,
    with_status,
    without_labels,
    without_zeros,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "total", "round_up", "expected"),
    [
        (None, 4, True, 1),  # default 25% of 4
        (None, 10, True, 3),  # ceil(2.5)
        (None, 10, False, 2),  # floor(2.5)
        ("50%", 3, True, 2),
        ("50%", 3, False, 1),
        (2, 10, False, 2),
        ("3", 10, True, 3),
        ("0%", 10, True, 0),
    ],
)
def test_scaled_value_resolves_int_or_percent(
    value: object, total: int, round_up: bool, expected: int
) -> None:
    assert scaled_value(value, total, round_up=round_up, default="25%") == expected


@pytest.mark.parametrize(
    ("selector", "labels", "matches"),
    [
        (None, {"a": "1"}, True),
        ({}, {}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "web", "x": "y"}, True),
        ({"matchLabels": {"app": "web"}}, {"app": "db"}, False),
        (
            {"matchExpressions": [{"key": "t", "operator": "In", "values": ["a", "b"]}]},
            {"t": "b"},
            True,
        ),
        ({"matchExpressions": [{"key": "t", "operator": "In", "values": ["a"]}]}, {}, False),
        ({"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["a"]}]}, {}, True),
        (
            {"matchExpressions": [{"key": "t", "operator": "NotIn", "values": ["a"]}]},
            {"t": "a"},
            False,
        ),
        ({"matchExpressions": [{"key": "t", "operator": "Exists"}]}, {"t": ""}, True),
        ({"matchExpressions": [{"key": "t", "operator": "DoesNotExist"}]}, {"t": "x"}, False),
    ],
)
def test_selector_matches(selector: Obj | None, labels: dict[str, str], matches: bool) -> None:
    assert selector_matches(selector, labels) is matches


def test_template_hash_is_stable_safe_and_ignores_its_own_label() -> None:
    template: Obj = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"image": "a"}]},
    }
    first = template_hash(template)
    labelled = {
        "metadata": {"labels": {"app": "web", "pod-template-hash": first}},
        "spec": template["spec"],
    }
    assert template_hash(labelled) == first
    assert set(first) <= set("bcdfghjklmnpqrstvwxz2456789")
    assert 1 <= len(first) <= 10
    changed = {"metadata": template["metadata"], "spec": {"containers": [{"image": "b"}]}}
    assert template_hash(changed) != first
    assert template_hash(template, collision_count=1) != first


@pytest.mark.parametrize(
    ("template", "collisions", "expected"),
    [
        (
            {
                "metadata": {
                    "labels": {
                        "app": "web",
                        "pod-template-hash": "x",
                        "controller-revision-hash": "y",
                    },
                    "annotations": {"a": "b"},
                },
                "spec": {"containers": [{"name": "c", "image": "nginx:1"}]},
            },
            0,
            "89484f9f4",
        ),
        (
            {
                "metadata": {"labels": {"app": "web", "pod-template-hash": "z"}},
                "spec": {"containers": []},
            },
            2,
            "59c5c6d88f",
        ),
        ({"spec": {}}, 0, "598ccc4dcd"),
    ],
)
def test_template_hash_values_stay_and_leave_the_template_alone(
    template: Obj, collisions: int, expected: str
) -> None:
    """The names of ReplicaSets and pods made by earlier versions stay the same."""
    before = json.dumps(template)
    assert template_hash(template, collisions) == expected
    assert json.dumps(template) == before


def test_copies_to_write_back_share_nothing_they_could_change() -> None:
    managed = [{"manager": "m", "fieldsV1": {"f:spec": {}}}]
    obj: Obj = {
        "metadata": {"name": "a", "labels": {"x": "1"}, "managedFields": managed},
        "spec": {"list": [{"a": 1}]},
        "status": {"old": True},
    }
    copied = copy_object(obj)
    copied["metadata"]["labels"]["x"] = "2"
    copied["spec"]["list"][0]["a"] = 2
    written = with_status(obj, {"new": {"n": 1}})
    written["metadata"]["labels"]["y"] = "3"
    assert obj["metadata"]["labels"] == {"x": "1"}
    assert obj["spec"] == {"list": [{"a": 1}]}
    assert written["status"] == {"new": {"n": 1}}
    assert copied["metadata"]["managedFields"] == managed
    assert "status" not in copy_object(obj, status=False)


def test_without_labels_leaves_the_template_alone() -> None:
    template: Obj = {"metadata": {"labels": {"a": "1", "b": "2"}, "name": "n"}, "spec": {}}
    assert without_labels(template, ("a",)) == {
        "metadata": {"labels": {"b": "2"}, "name": "n"},
        "spec": {},
    }
    assert template["metadata"]["labels"] == {"a": "1", "b": "2"}
    assert without_labels({"spec": {}}, ("a",)) == {"spec": {}}


def test_updates_are_sent_without_managed_fields() -> None:
    """A server keeps the stored ones when an update has none: sending them costs only."""
    obj: Obj = {"metadata": {"name": "a", "managedFields": [{}]}, "spec": {}}
    assert _without_managed_fields(obj) == {"metadata": {"name": "a"}, "spec": {}}
    assert obj["metadata"]["managedFields"] == [{}]
    bare: Obj = {"metadata": {"name": "a"}}
    assert _without_managed_fields(bare) is bare


def test_time_round_trip_is_whole_seconds_utc() -> None:
    moment = datetime(2026, 3, 1, 12, 0, 5, 900000, tzinfo=UTC)
    assert rfc3339(moment) == "2026-03-01T12:00:05Z"
    assert parse_time("2026-03-01T12:00:05Z") == moment.replace(microsecond=0)
    assert parse_time("not a time") is None
    assert parse_time(None) is None


def test_set_condition_keeps_times_when_nothing_changes() -> None:
    conds: list[Obj] = []
    set_condition(conds, "Available", "True", "A", "m", NOW)
    later = NOW + timedelta(minutes=5)
    set_condition(conds, "Available", "True", "A", "other message", later)
    assert conds == [
        {
            "type": "Available",
            "status": "True",
            "lastTransitionTime": rfc3339(NOW),
            "reason": "A",
            "message": "m",
        }
    ]


def test_set_condition_keeps_transition_time_on_new_reason_same_status() -> None:
    conds: list[Obj] = []
    set_condition(conds, "Progressing", "True", "A", "m", NOW, update_time=True)
    later = NOW + timedelta(minutes=5)
    set_condition(conds, "Progressing", "True", "B", "n", later, update_time=True)
    assert conds[0]["lastTransitionTime"] == rfc3339(NOW)
    assert conds[0]["lastUpdateTime"] == rfc3339(later)
    assert conds[0]["reason"] == "B"
    set_condition(conds, "Progressing", "False", "C", "o", later, update_time=True)
    assert conds[0]["lastTransitionTime"] == rfc3339(later)
    assert len(conds) == 1


def test_without_zeros_is_omitempty_with_exceptions() -> None:
    assert without_zeros({"a": 0, "b": 1, "c": None, "d": [], "e": 0}, keep=("e",)) == {
        "b": 1,
        "e": 0,
    }


@pytest.mark.parametrize(
    ("image", "name", "fails"),
    [
        ("crashloop", "crashloop", True),
        ("fail", "fail", True),
        ("registry.local:5000/team/crashloop:1.2", "crashloop", True),
        ("fleet.dev/fail@sha256:abc", "fail", True),
        ("CrashLoop:latest", "CrashLoop", True),
        ("nginx:1.27", "nginx", False),
        ("crashloop-fixed:1", "crashloop-fixed", False),
        ("failover/app", "app", False),
        ("localhost:5000/nginx", "nginx", False),
    ],
)
def test_failure_marker_is_the_image_name(image: str, name: str, fails: bool) -> None:
    assert image_name(image) == name
    assert image_fails(image) is fails


def test_failing_containers_names_only_marked_ones() -> None:
    pod: Obj = {
        "spec": {
            "containers": [
                {"name": "app", "image": "nginx"},
                {"name": "sidecar", "image": "example.com/crashloop:2"},
            ]
        }
    }
    assert failing_containers(pod) == {"sidecar": 1}


@pytest.mark.parametrize(
    ("env", "code"),
    [
        ([], 0),
        ([{"name": "FLEET_SIM_EXIT_CODE", "value": "3"}], 3),
        ([{"name": "FLEET_SIM_EXIT_CODE", "value": "0"}], 0),
        ([{"name": "FLEET_SIM_EXIT_CODE", "value": "oops"}], 1),
        ([{"name": "OTHER", "value": "3"}], 0),
    ],
)
def test_exit_code_environment_marker(env: list[Obj], code: int) -> None:
    pod: Obj = {"spec": {"containers": [{"name": "app", "image": "busybox", "env": env}]}}
    assert failing_containers(pod) == ({"app": code} if code else {})


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (None, 1.5),
        ("4", 4.0),
        ("0.25", 0.25),
        ("inf", float("inf")),
        ("-1", 1.5),
        ("soon", 1.5),
        ("nan", 1.5),
    ],
)
def test_ready_delay_annotation_overrides_default(annotation: str | None, expected: float) -> None:
    annotations = {} if annotation is None else {READY_DELAY_ANNOTATION: annotation}
    assert ready_delay_for({"metadata": {"annotations": annotations}}, 1.5) == expected

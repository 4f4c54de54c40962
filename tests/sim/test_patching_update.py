"""Field ownership of writes that are not apply: create, update, patches, subresources."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fleet.sim.patching import (
    kind_schema,
    reset_fields,
    schema_for_crd,
    set_managed_fields,
    track_update,
)
from tests.sim.patching_objects import (
    CONFIGMAP,
    DEPLOYMENT,
    T0,
    T1,
    T2,
    apply,
    configmap,
    create,
    deployment,
    entries_by_manager,
    update,
)
from tests.sim.test_patching_schema import WIDGET_CRD


def test_a_create_owns_what_it_set_with_go_zero_values_already_present() -> None:
    # spec, template and template.spec always exist in the typed object, so the creator
    # does not own them as such; labels and list items are new, so it owns them too.
    created = create(deployment(), "kubectl-create")
    assert created["metadata"]["managedFields"] == [
        {
            "manager": "kubectl-create",
            "operation": "Update",
            "apiVersion": "apps/v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                "f:spec": {
                    "f:replicas": {},
                    "f:selector": {},
                    "f:template": {
                        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
                        "f:spec": {
                            "f:containers": {
                                'k:{"name":"nginx"}': {
                                    ".": {},
                                    "f:image": {},
                                    "f:name": {},
                                    "f:ports": {
                                        ".": {},
                                        'k:{"containerPort":80,"protocol":"TCP"}': {
                                            ".": {},
                                            "f:containerPort": {},
                                        },
                                    },
                                    "f:resources": {},
                                }
                            }
                        },
                    },
                },
            },
        }
    ]


def test_a_custom_resource_create_owns_its_spec_as_a_new_field() -> None:
    schema = schema_for_crd(WIDGET_CRD, "v1")
    widget = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"tags": ["a"]},
    }
    entries = track_update(None, widget, "creator", now=T0, schema=schema)
    assert entries[0]["fieldsV1"] == {"f:spec": {".": {}, "f:tags": {}}}


def test_an_update_takes_an_applied_field_without_conflict() -> None:
    live = apply(None, deployment(replicas=3), "kubectl").object
    live = update(live, lambda o: o["spec"].update(replicas=6), "kubectl-edit", T1)
    owners = entries_by_manager(live)
    assert owners["kubectl-edit", "Update"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in owners["kubectl", "Apply"]["f:spec"]


def test_a_removed_field_is_owned_by_no_one() -> None:
    live = apply(None, configmap({"a": "1", "b": "1"}), "me", schema=CONFIGMAP).object
    live = update(live, lambda o: o["data"].pop("b"), "editor", T1, schema=CONFIGMAP)
    assert entries_by_manager(live) == {("me", "Apply"): {"f:data": {"f:a": {}}}}


def test_an_update_that_changes_nothing_leaves_managed_fields_alone() -> None:
    live = apply(None, deployment(), "me").object
    again = update(live, lambda o: None, "someone", T1)
    assert again["metadata"]["managedFields"] == live["metadata"]["managedFields"]


def test_an_updater_keeps_what_it_owned_and_gets_a_new_time() -> None:
    live = create(configmap({"a": "1"}), "editor", T0, schema=CONFIGMAP)
    live = update(live, lambda o: o["data"].update(b="1"), "editor", T1, schema=CONFIGMAP)
    (entry,) = live["metadata"]["managedFields"]
    assert entry["time"] == T1
    assert entry["fieldsV1"] == {"f:data": {".": {}, "f:a": {}, "f:b": {}}}


def test_an_empty_manager_name_is_recorded_as_unknown() -> None:
    entries = track_update(None, configmap({"a": "1"}), "", now=T0, schema=CONFIGMAP)
    assert entries[0]["manager"] == "unknown"


def test_one_updater_at_two_api_versions_has_two_entries() -> None:
    hpa = {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "h"},
        "spec": {"maxReplicas": 3},
    }
    v1 = kind_schema("autoscaling", "v1", "HorizontalPodAutoscaler")
    v2 = kind_schema("autoscaling", "v2", "HorizontalPodAutoscaler")
    live = create(hpa, "ctl", T0, schema=v1)
    new = copy.deepcopy(live)
    new["apiVersion"] = "autoscaling/v2"
    new["spec"]["minReplicas"] = 1
    entries = track_update(live, new, "ctl", now=T1, schema=v2)
    assert [(e["manager"], e["apiVersion"]) for e in entries] == [
        ("ctl", "autoscaling/v1"),
        ("ctl", "autoscaling/v2"),
    ]


# -- managedFields sent by the client -------------------------------------------------


def sent(live: Any, managed_fields: Any, mutate: Any = None) -> Any:
    new = copy.deepcopy(live)
    new["metadata"]["managedFields"] = managed_fields
    if mutate:
        mutate(new)
    return new


def test_a_single_empty_entry_clears_managed_fields() -> None:
    live = apply(None, configmap({"a": "1"}), "me", schema=CONFIGMAP).object
    assert track_update(live, sent(live, [{}]), "x", now=T1, schema=CONFIGMAP) == []


def test_clearing_and_changing_at_once_leaves_only_the_change() -> None:
    live = apply(None, configmap({"a": "1"}), "me", schema=CONFIGMAP).object
    new = sent(live, [{}], lambda o: o["data"].update(b="2"))
    entries = track_update(live, new, "x", now=T1, schema=CONFIGMAP)
    assert [(e["manager"], e["fieldsV1"]) for e in entries] == [("x", {"f:data": {"f:b": {}}})]


def test_an_empty_list_does_not_clear_managed_fields() -> None:
    live = apply(None, configmap({"a": "1"}), "me", schema=CONFIGMAP).object
    entries = track_update(live, sent(live, []), "x", now=T1, schema=CONFIGMAP)
    assert entries == live["metadata"]["managedFields"]


def test_managed_fields_sent_by_the_client_replace_the_stored_ones() -> None:
    live = apply(None, configmap({"a": "1"}), "me", schema=CONFIGMAP).object
    edited = [dict(live["metadata"]["managedFields"][0], manager="renamed")]
    entries = track_update(live, sent(live, edited), "x", now=T1, schema=CONFIGMAP)
    assert [e["manager"] for e in entries] == ["renamed"]


def test_invalid_managed_fields_sent_by_the_client_are_ignored() -> None:
    live = apply(None, configmap({"a": "1"}), "me", schema=CONFIGMAP).object
    bogus = [{"manager": "x", "operation": "Delete", "apiVersion": "v1", "fieldsType": "FieldsV1"}]
    entries = track_update(live, sent(live, bogus), "x", now=T1, schema=CONFIGMAP)
    assert entries == live["metadata"]["managedFields"]


# -- subresources ----------------------------------------------------------------------


def test_a_status_write_is_owned_with_its_subresource_and_cannot_change_spec() -> None:
    live = apply(None, deployment(), "me").object
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 50
    new["status"] = {"readyReplicas": 3}
    new = reset_fields(live, new, DEPLOYMENT, "status")
    assert new["spec"]["replicas"] == 3
    assert new["status"] == {"readyReplicas": 3}
    entries = track_update(
        live, new, "kube-controller-manager", now=T1, schema=DEPLOYMENT, subresource="status"
    )
    ctl = next(e for e in entries if e["manager"] == "kube-controller-manager")
    assert ctl["subresource"] == "status"
    # status always exists in the typed object, so only its new member is owned
    assert ctl["fieldsV1"] == {"f:status": {"f:readyReplicas": {}}}


def test_a_main_resource_write_keeps_status_and_does_not_own_it() -> None:
    live = apply(None, deployment(), "me").object
    live["status"] = {"replicas": 1}
    new = copy.deepcopy(live)
    new["status"] = {"replicas": 99}
    new["spec"]["paused"] = True
    new = reset_fields(live, new, DEPLOYMENT)
    assert new["status"] == {"replicas": 1}
    entries = track_update(live, new, "editor", now=T1, schema=DEPLOYMENT)
    assert entries_by_manager({"metadata": {"managedFields": entries}})["editor", "Update"] == {
        "f:spec": {"f:paused": {}}
    }


def test_a_kind_without_status_subresource_writes_status_like_any_field() -> None:
    schema = kind_schema("", "v1", "ConfigMap")
    assert reset_fields(None, {"status": {"x": 1}}, schema) == {"status": {"x": 1}}


def test_a_scale_write_owns_replicas_with_the_scale_subresource() -> None:
    live = apply(None, deployment(replicas=3), "kubectl").object
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 7
    entries = track_update(
        live, new, "kubectl-scale", now=T1, schema=DEPLOYMENT, subresource="scale"
    )
    scale = next(e for e in entries if e["manager"] == "kubectl-scale")
    assert (scale["subresource"], scale["fieldsV1"]) == ("scale", {"f:spec": {"f:replicas": {}}})


# -- the cap on update managers ------------------------------------------------------


def test_update_managers_beyond_ten_merge_into_ancient_changes() -> None:
    live = create(configmap({"k0": "v"}), "m00", "2024-05-01T10:00:00Z", schema=CONFIGMAP)
    for i in range(1, 11):
        stamp = f"2024-05-01T10:{i:02d}:00Z"
        live = update(
            live,
            lambda o, i=i: o["data"].update({f"k{i}": "v"}),
            f"m{i:02d}",
            stamp,
            schema=CONFIGMAP,
        )
    owners = entries_by_manager(live)
    assert len(owners) == 10
    assert ("m00", "Update") not in owners
    assert ("m01", "Update") not in owners
    assert owners["ancient-changes", "Update"] == {"f:data": {".": {}, "f:k0": {}, "f:k1": {}}}


@pytest.mark.parametrize("manager", ["m", "other"])
def test_set_managed_fields_removes_the_list_when_empty(manager: str) -> None:
    obj = set_managed_fields(
        {"metadata": {"name": "x", "managedFields": [{"manager": manager}]}}, []
    )
    assert obj == {"metadata": {"name": "x"}}


def test_track_update_leaves_its_inputs_alone() -> None:
    live = apply(None, deployment(), "me").object
    new = copy.deepcopy(live)
    new["spec"]["replicas"] = 9
    before = copy.deepcopy((live, new))
    track_update(live, new, "x", now=T2, schema=DEPLOYMENT)
    assert (live, new) == before

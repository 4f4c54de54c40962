"""Server-side apply: ownership, removal, conflicts, force, and the documented examples.

The rows restate facts from the Kubernetes "Server-Side Apply" documentation.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from fleet.sim.patching import (
    ApplyConflict,
    BadPatch,
    InvalidApply,
    kind_schema,
    schema_for_crd,
)
from tests.sim.patching_objects import (
    CONFIGMAP,
    T0,
    T1,
    T2,
    T3,
    apply,
    configmap,
    create,
    deployment,
    entries_by_manager,
    update,
)
from tests.sim.test_patching_schema import WIDGET_CRD

# -- the documentation's examples ----------------------------------------------------


def test_doc_example_apply_creates_the_configmap_and_records_kubectl_as_applier() -> None:
    result = apply(
        None,
        configmap({"key": "some value"}, **{"test-label": "test"}),
        "kubectl",
        schema=CONFIGMAP,
    )
    assert result.created
    assert result.changed
    assert result.object["data"] == {"key": "some value"}
    assert result.object["metadata"]["managedFields"] == [
        {
            "manager": "kubectl",
            "operation": "Apply",
            "apiVersion": "v1",
            "time": T0,
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:data": {"f:key": {}},
                "f:metadata": {"f:labels": {"f:test-label": {}}},
            },
        }
    ]


def test_fields_v1_entries_are_written_in_sorted_order() -> None:
    config = configmap({"key": "v"}, zeta="1", alpha="1")
    entry = apply(None, config, "kubectl", schema=CONFIGMAP).managed_fields[0]
    assert list(entry) == ["manager", "operation", "apiVersion", "time", "fieldsType", "fieldsV1"]
    assert list(entry["fieldsV1"]) == ["f:data", "f:metadata"]
    assert list(entry["fieldsV1"]["f:metadata"]["f:labels"]) == ["f:alpha", "f:zeta"]


def test_doc_example_an_update_takes_the_field_it_changes_from_the_applier() -> None:
    applied = apply(
        None,
        configmap({"key": "some value"}, **{"test-label": "test"}),
        "kubectl",
        schema=CONFIGMAP,
    ).object
    updated = update(
        applied,
        lambda o: o["data"].update(key="new value"),
        "kube-controller-manager",
        T1,
        schema=CONFIGMAP,
    )
    assert entries_by_manager(updated) == {
        ("kubectl", "Apply"): {"f:metadata": {"f:labels": {"f:test-label": {}}}},
        ("kube-controller-manager", "Update"): {"f:data": {"f:key": {}}},
    }


def test_doc_example_the_same_change_as_an_apply_conflicts() -> None:
    applied = apply(None, configmap({"key": "some value"}), "kubectl", schema=CONFIGMAP).object
    with pytest.raises(ApplyConflict) as raised:
        apply(
            applied,
            configmap({"key": "new value"}),
            "kube-controller-manager",
            T1,
            schema=CONFIGMAP,
        )
    assert (
        raised.value.message == 'Apply failed with 1 conflict: conflict with "kubectl": .data.key'
    )
    assert raised.value.code == 409
    assert raised.value.causes == [
        {
            "reason": "FieldManagerConflict",
            "message": 'conflict with "kubectl"',
            "field": ".data.key",
        }
    ]


def test_doc_example_handing_replicas_over_to_an_autoscaler() -> None:
    # The user applies the Deployment with replicas, as kubectl.
    live = apply(None, deployment(replicas=3), "kubectl").object
    # A private manager applies the same replicas: shared ownership, no conflict.
    handover = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx-deployment"},
        "spec": {"replicas": 3},
    }
    live = apply(live, handover, "handover-to-hpa", T1).object
    # The user stops applying replicas: the value stays, owned by the private manager only.
    live = apply(live, deployment(replicas=None), "kubectl", T2).object
    assert live["spec"]["replicas"] == 3
    owners = entries_by_manager(live)
    assert "f:replicas" not in owners["kubectl", "Apply"]["f:spec"]
    assert owners["handover-to-hpa", "Apply"] == {"f:spec": {"f:replicas": {}}}
    # The autoscaler sets replicas: the private manager owns nothing and disappears.
    live = update(live, lambda o: o["spec"].update(replicas=5), "horizontal-pod-autoscaler", T3)
    assert set(entries_by_manager(live)) == {
        ("kubectl", "Apply"),
        ("horizontal-pod-autoscaler", "Update"),
    }


# -- one behaviour per row -------------------------------------------------------------


def test_conflict_with_an_update_manager_names_its_api_version() -> None:
    live = update(deployment(replicas=3), lambda o: None, "kubectl-client-side-apply", T0)
    live = create(deployment(replicas=3), "kubectl-client-side-apply")
    with pytest.raises(ApplyConflict) as raised:
        apply(live, deployment(replicas=5), "kubectl-ssa", T1)
    assert str(raised.value) == (
        'Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: '
        ".spec.replicas"
    )


def test_several_conflicts_are_listed_per_manager_in_order() -> None:
    live = apply(None, deployment(replicas=3), "zeta").object
    live = update(live, lambda o: o["metadata"]["labels"].update(tier="web"), "alpha", T1)
    changed = deployment(replicas=4, image="nginx:2", tier="db")
    with pytest.raises(ApplyConflict) as raised:
        apply(live, changed, "me", T2)
    assert raised.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "alpha" using apps/v1:\n'
        "- .metadata.labels.tier\n"
        'conflicts with "zeta":\n'
        "- .spec.replicas\n"
        '- .spec.template.spec.containers[name="nginx"].image'
    )
    assert [c.path for c in raised.value.conflicts] == [
        ".metadata.labels.tier",
        ".spec.replicas",
        '.spec.template.spec.containers[name="nginx"].image',
    ]


def test_force_overwrites_and_takes_sole_ownership() -> None:
    live = apply(None, deployment(replicas=3), "owner").object
    live = apply(live, deployment(replicas=5), "taker", T1, force=True).object
    assert live["spec"]["replicas"] == 5
    owners = entries_by_manager(live)
    assert "f:replicas" not in owners["owner", "Apply"]["f:spec"]
    assert "f:replicas" in owners["taker", "Apply"]["f:spec"]


def test_force_drops_a_manager_left_owning_nothing() -> None:
    live = apply(None, configmap({"a": "1"}), "first", schema=CONFIGMAP).object
    live = apply(live, configmap({"a": "2"}), "second", T1, force=True, schema=CONFIGMAP).object
    assert [e["manager"] for e in live["metadata"]["managedFields"]] == ["second"]


def test_equal_values_are_shared_and_never_conflict() -> None:
    live = apply(None, configmap({"a": "1"}), "first", schema=CONFIGMAP).object
    result = apply(live, configmap({"a": "1"}), "second", T1, schema=CONFIGMAP)
    owners = entries_by_manager(result.object)
    assert owners["first", "Apply"] == owners["second", "Apply"] == {"f:data": {"f:a": {}}}
    assert not result.changed
    # The object did not change, so the new applier's entry carries no time.
    second = next(e for e in result.managed_fields if e["manager"] == "second")
    assert "time" not in second


def test_a_shared_field_changed_later_by_either_applier_conflicts() -> None:
    live = apply(None, configmap({"a": "1"}), "first", schema=CONFIGMAP).object
    live = apply(live, configmap({"a": "1"}), "second", T1, schema=CONFIGMAP).object
    with pytest.raises(ApplyConflict, match=re.escape('conflict with "second": .data.a')):
        apply(live, configmap({"a": "2"}), "first", T2, schema=CONFIGMAP)


def test_a_field_its_sole_owner_stops_applying_is_removed() -> None:
    live = apply(None, configmap({"a": "1", "b": "1"}), "me", schema=CONFIGMAP).object
    result = apply(live, configmap({"a": "1"}), "me", T1, schema=CONFIGMAP)
    assert result.object["data"] == {"a": "1"}
    assert entries_by_manager(result.object)["me", "Apply"] == {"f:data": {"f:a": {}}}


def test_a_field_another_applier_owns_stays_when_one_stops_applying_it() -> None:
    live = apply(None, configmap({"a": "1", "b": "1"}), "me", schema=CONFIGMAP).object
    live = apply(live, configmap({"b": "1"}), "other", T1, schema=CONFIGMAP).object
    result = apply(live, configmap({"a": "1"}), "me", T2, schema=CONFIGMAP)
    assert result.object["data"] == {"a": "1", "b": "1"}
    assert entries_by_manager(result.object)["other", "Apply"] == {"f:data": {"f:b": {}}}


def test_a_field_an_update_manager_also_owns_stays() -> None:
    live = apply(None, configmap({"a": "1"}), "me", schema=CONFIGMAP).object
    live = update(live, lambda o: o["data"].update(b="x"), "editor", T1, schema=CONFIGMAP)
    live = apply(live, configmap({"a": "1", "b": "x"}), "me", T2, schema=CONFIGMAP).object
    result = apply(live, configmap({"a": "1"}), "me", T3, schema=CONFIGMAP)
    assert result.object["data"] == {"a": "1", "b": "x"}


def test_fields_the_applier_never_applied_are_not_removed() -> None:
    live = apply(None, configmap({"a": "1"}), "me", schema=CONFIGMAP).object
    live["data"]["unowned"] = "kept"
    result = apply(live, configmap({"b": "1"}), "me", T1, schema=CONFIGMAP)
    assert result.object["data"] == {"unowned": "kept", "b": "1"}


def test_a_struct_whose_fields_its_applier_all_drops_goes_with_its_unowned_defaults() -> None:
    config = deployment()
    config["spec"]["strategy"] = {"type": "RollingUpdate"}
    live = copy.deepcopy(apply(None, config, "me").object)
    live["spec"]["strategy"]["rollingUpdate"] = {"maxSurge": "25%"}  # a default: unowned
    result = apply(live, deployment(), "me", T1)
    assert "strategy" not in result.object["spec"]


def test_a_list_item_its_sole_owner_stops_applying_is_removed() -> None:
    config = deployment()
    sidecar = {"name": "sidecar", "image": "envoy", "env": [{"name": "A", "value": "1"}]}
    config["spec"]["template"]["spec"]["containers"].append(sidecar)
    live = apply(None, config, "me").object
    result = apply(live, deployment(), "me", T1)
    names = [c["name"] for c in result.object["spec"]["template"]["spec"]["containers"]]
    assert names == ["nginx"]


def test_removing_all_labels_removes_the_labels_map() -> None:
    live = apply(None, configmap({"a": "1"}, team="x"), "me", schema=CONFIGMAP).object
    result = apply(live, configmap({"a": "1"}), "me", T1, schema=CONFIGMAP)
    assert "labels" not in result.object["metadata"]


def test_applying_the_same_configuration_again_changes_nothing() -> None:
    first = apply(None, deployment(), "me")
    again = apply(first.object, deployment(), "me", T1)
    assert not again.changed
    assert not again.created
    assert again.object == first.object


def test_an_applier_that_changes_something_gets_a_new_time() -> None:
    first = apply(None, deployment(), "me").object
    again = apply(first, deployment(replicas=4), "me", T1)
    assert again.changed
    assert again.managed_fields[0]["time"] == T1


def test_list_items_follow_the_configuration_order_live_only_items_keep_their_place() -> None:
    def with_env(*names: str) -> Any:
        config = deployment()
        container = config["spec"]["template"]["spec"]["containers"][0]
        container["env"] = [{"name": n, "value": "1"} for n in names]
        return config

    live = apply(None, with_env("A", "B", "C"), "me").object
    live = apply(live, with_env("X"), "other", T1).object
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    assert [e["name"] for e in env] == ["A", "B", "C", "X"]
    live = apply(live, with_env("C", "B", "A"), "me", T2).object
    env = live["spec"]["template"]["spec"]["containers"][0]["env"]
    # X stays right after the item it followed (C), as structured-merge-diff orders it.
    assert [e["name"] for e in env] == ["C", "X", "B", "A"]


def test_finalizers_are_a_set_each_applier_owns_its_own() -> None:
    def with_finalizers(*names: str) -> Any:
        config = configmap()
        config["metadata"]["finalizers"] = list(names)
        return config

    live = apply(None, with_finalizers("a.example/x"), "a", schema=CONFIGMAP).object
    live = apply(live, with_finalizers("b.example/y"), "b", T1, schema=CONFIGMAP).object
    assert live["metadata"]["finalizers"] == ["a.example/x", "b.example/y"]
    assert entries_by_manager(live)["a", "Apply"] == {
        "f:metadata": {"f:finalizers": {'v:"a.example/x"': {}}}
    }
    live = apply(live, with_finalizers(), "a", T2, schema=CONFIGMAP).object
    assert live["metadata"]["finalizers"] == ["b.example/y"]


def test_owner_references_are_keyed_by_uid() -> None:
    config = configmap()
    config["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "Pod", "name": "p", "uid": "u-1"}
    ]
    result = apply(None, config, "me", schema=CONFIGMAP)
    assert result.managed_fields[0]["fieldsV1"] == {
        "f:metadata": {"f:ownerReferences": {'k:{"uid":"u-1"}': {}}}
    }


def test_a_main_resource_apply_cannot_set_status() -> None:
    config = deployment()
    config["status"] = {"replicas": 9}
    created = apply(None, config, "me")
    assert "status" not in created.object
    live = copy.deepcopy(created.object)
    live["status"] = {"replicas": 1}
    result = apply(live, config, "me", T1)
    assert result.object["status"] == {"replicas": 1}
    assert "f:status" not in result.managed_fields[0]["fieldsV1"]


def test_an_apply_to_status_owns_only_status() -> None:
    live = apply(None, deployment(), "me").object
    status_config = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx-deployment"},
        "spec": {"replicas": 100},
        "status": {"conditions": [{"type": "Available", "status": "True"}]},
    }
    result = apply(live, status_config, "controller", T1, subresource="status")
    assert result.object["spec"]["replicas"] == 3
    assert result.object["status"]["conditions"][0]["status"] == "True"
    entry = next(e for e in result.managed_fields if e["manager"] == "controller")
    assert entry["subresource"] == "status"
    assert entry["fieldsV1"] == {
        "f:status": {
            "f:conditions": {'k:{"type":"Available"}': {".": {}, "f:status": {}, "f:type": {}}}
        }
    }


def test_a_status_applier_is_named_with_its_subresource_in_conflicts() -> None:
    live = apply(None, deployment(), "me").object
    config: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "nginx-deployment"},
        "status": {"replicas": 1},
    }
    live = apply(live, config, "ctl", T1, subresource="status").object
    config["status"]["replicas"] = 2
    with pytest.raises(ApplyConflict, match='conflict with "ctl" with subresource "status"'):
        apply(live, config, "other", T2, subresource="status")


def test_an_object_written_before_tracking_belongs_to_before_first_apply() -> None:
    untracked = deployment(replicas=3)
    with pytest.raises(
        ApplyConflict, match=re.escape('"before-first-apply" using apps/v1: .spec.replicas')
    ):
        apply(untracked, deployment(replicas=4), "me", T1)
    result = apply(untracked, deployment(replicas=3), "me", T1)
    assert {e["manager"] for e in result.managed_fields} == {"before-first-apply", "me"}


def test_kubectl_takes_over_from_client_side_apply_without_force() -> None:
    csa = deployment(replicas=3)
    last = copy.deepcopy(csa)
    csa["metadata"]["annotations"] = {
        "kubectl.kubernetes.io/last-applied-configuration": json.dumps(last)
    }
    live = create(csa, "kubectl-client-side-apply")
    result = apply(live, deployment(replicas=5), "kubectl", T1)
    assert result.object["spec"]["replicas"] == 5
    annotation = result.object["metadata"]["annotations"][
        "kubectl.kubernetes.io/last-applied-configuration"
    ]
    assert json.loads(annotation) == deployment(replicas=5)
    assert annotation.endswith("\n")
    with pytest.raises(ApplyConflict):
        apply(live, deployment(replicas=5), "not-kubectl", T1)


def test_custom_resource_list_keys_take_their_schema_default() -> None:
    schema = schema_for_crd(WIDGET_CRD, "v1")
    config: dict[str, Any] = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": "w"},
        "spec": {"ports": [{"port": 80}], "tags": ["a"]},
    }
    live = apply(None, config, "me", schema=schema).object
    assert entries_by_manager(live)["me", "Apply"] == {
        "f:spec": {
            "f:ports": {'k:{"port":80,"protocol":"TCP"}': {".": {}, "f:port": {}}},
            "f:tags": {},
        }
    }
    config["spec"]["tags"] = ["b"]
    with pytest.raises(ApplyConflict, match=r"\.spec\.tags"):
        apply(live, config, "other", T1, schema=schema)


BAD_CONFIGS = [
    (
        "managedFields in the configuration",
        {**configmap(), "metadata": {"name": "x", "managedFields": []}},
        BadPatch,
        "metadata.managedFields must be nil",
    ),
    (
        "another apiVersion",
        {**configmap(), "apiVersion": "v2"},
        BadPatch,
        "Specified patch version: v2, expected: v1",
    ),
    ("not an object", ["x"], BadPatch, "must be an object"),
]


@pytest.mark.parametrize(("_name", "config", "error", "message"), BAD_CONFIGS)
def test_bad_apply_configurations(_name: str, config: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        apply(None, config, "me", schema=CONFIGMAP)


@pytest.mark.parametrize(
    ("containers", "message"),
    [
        ([{"name": "a"}, {"name": "a"}], 'duplicate entries for key \\[name="a"\\]'),
        ([{"image": "a"}], "omits key field 'name'"),
        ({"name": "a"}, "expected list, got object"),
    ],
)
def test_apply_configurations_that_do_not_fit_the_schema(containers: Any, message: str) -> None:
    config = deployment()
    config["spec"]["template"]["spec"]["containers"] = containers
    with pytest.raises(InvalidApply, match=message) as raised:
        apply(None, config, "me")
    assert raised.value.code == 422
    assert ".spec.template.spec.containers" in raised.value.message


def test_apply_leaves_its_inputs_alone() -> None:
    live = apply(None, deployment(), "me").object
    config = deployment(replicas=7, image="x")
    before = copy.deepcopy((live, config))
    result = apply(live, config, "me", T1)
    result.object["spec"]["template"]["spec"]["containers"][0]["image"] = "mutated"
    assert (live, config) == before


def test_managed_fields_list_appliers_first_then_updaters_oldest_first() -> None:
    live = create(configmap({"u": "1"}), "zz-updater", T0, schema=CONFIGMAP)
    live = update(live, lambda o: o["data"].update(v="1"), "aa-updater", T2, schema=CONFIGMAP)
    live = apply(live, configmap({"w": "1"}), "applier", T3, schema=CONFIGMAP).object
    assert [(e["manager"], e["operation"]) for e in live["metadata"]["managedFields"]] == [
        ("applier", "Apply"),
        ("zz-updater", "Update"),
        ("aa-updater", "Update"),
    ]


def test_secret_data_entries_are_owned_one_by_one() -> None:
    schema = kind_schema("", "v1", "Secret")
    config = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"a": "YQ==", "b": "Yg=="},
    }
    result = apply(None, config, "me", schema=schema)
    assert result.managed_fields[0]["fieldsV1"] == {"f:data": {"f:a": {}, "f:b": {}}}

"""Properties of the patch and apply algorithms, checked on generated objects."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.sim.patching import (
    ApplyConflict,
    FieldSet,
    json_merge_patch,
    strategic_merge_patch,
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
    entries_by_manager,
)

FAST = settings(max_examples=60, deadline=None)

names = st.from_regex(r"[a-z][a-z0-9]{0,4}", fullmatch=True)
scalars = st.booleans() | st.integers(-5, 5) | st.text(max_size=4)
json_values = st.recursive(
    st.none() | scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=12,
)
json_objects = st.dictionaries(names, json_values, max_size=4)
data_maps = st.dictionaries(names, st.text(max_size=3), max_size=5)


@st.composite
def deployments(draw: Any) -> Any:
    """Deployments with uniquely named containers and env vars, no nulls."""
    container_names = draw(st.lists(names, min_size=1, max_size=3, unique=True))
    containers = []
    for name in container_names:
        env_names = draw(st.lists(names, max_size=3, unique=True))
        containers.append(
            {
                "name": name,
                "image": draw(names),
                "env": [{"name": n, "value": draw(names)} for n in env_names],
                "args": draw(st.lists(names, max_size=2)),
            }
        )
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "labels": draw(data_maps)},
        "spec": {
            "replicas": draw(st.integers(0, 5)),
            "selector": {"matchLabels": {"app": "x"}},
            "template": {"spec": {"containers": containers}},
        },
    }


@FAST
@given(json_objects, json_objects)
def test_a_merge_patch_applied_twice_equals_applied_once(obj: Any, patch: Any) -> None:
    once = json_merge_patch(obj, patch)
    assert json_merge_patch(once, patch) == once


@FAST
@given(json_objects)
def test_an_empty_merge_patch_is_identity(obj: Any) -> None:
    assert json_merge_patch(obj, {}) == obj


@FAST
@given(deployments())
def test_an_empty_strategic_merge_patch_is_identity(obj: Any) -> None:
    assert strategic_merge_patch(obj, {}, DEPLOYMENT) == obj


@FAST
@given(deployments())
def test_a_strategic_merge_patch_of_an_object_onto_itself_is_identity(obj: Any) -> None:
    assert strategic_merge_patch(obj, copy.deepcopy(obj), DEPLOYMENT) == obj


@FAST
@given(deployments())
def test_applying_the_same_configuration_twice_is_a_no_op(config: Any) -> None:
    first = apply(None, config, "me")
    second = apply(first.object, config, "me", T1)
    assert not second.changed
    assert second.object == first.object


@FAST
@given(data_maps, data_maps)
def test_a_sole_applier_gets_exactly_its_latest_configuration(old: Any, new: Any) -> None:
    live = apply(None, configmap(old), "me", schema=CONFIGMAP).object
    result = apply(live, configmap(new), "me", T1, schema=CONFIGMAP)
    assert result.object.get("data", {}) == new


@FAST
@given(data_maps, data_maps, data_maps)
def test_appliers_of_disjoint_keys_do_not_disturb_each_other(a1: Any, b: Any, a2: Any) -> None:
    b = {f"b{k}": v for k, v in b.items()}
    live = apply(None, configmap(a1), "a", schema=CONFIGMAP).object
    live = apply(live, configmap(b), "b", T1, schema=CONFIGMAP).object
    result = apply(live, configmap(a2), "a", T2, schema=CONFIGMAP)
    assert result.object.get("data", {}) == {**a2, **b}


@FAST
@given(data_maps, names, st.text(max_size=3))
def test_a_second_applier_conflicts_exactly_when_it_changes_an_owned_value(
    data: Any, key: str, value: str
) -> None:
    live = apply(None, configmap(data), "a", schema=CONFIGMAP).object
    clash = key in data and data[key] != value
    conflicts: list[str] = []
    try:
        apply(live, configmap({key: value}), "b", T1, schema=CONFIGMAP)
    except ApplyConflict as err:
        conflicts = [c.path for c in err.conflicts]
    assert conflicts == ([f".data.{key}"] if clash else [])


@FAST
@given(data_maps, data_maps)
def test_an_update_owns_what_it_changed_and_the_applier_keeps_the_rest(
    before: Any, after: Any
) -> None:
    live = apply(None, configmap(before), "applier", schema=CONFIGMAP).object
    new = copy.deepcopy(live)
    new["data"] = dict(after)
    entries = track_update(live, new, "updater", now=T1, schema=CONFIGMAP)
    owners = entries_by_manager({"metadata": {"managedFields": entries}})

    def keys(manager: tuple[str, str]) -> set[str]:
        fields = owners.get(manager, {}).get("f:data", {})
        return {k[2:] for k in fields if k != "."}

    assert keys(("updater", "Update")) == {k for k, v in after.items() if before.get(k) != v}
    assert keys(("applier", "Apply")) == {k for k, v in before.items() if after.get(k) == v}


paths = st.lists(
    st.lists(
        st.sampled_from(["f:a", "f:b", 'k:{"name":"x"}', 'v:"s"', "v:1", "i:0"]),
        min_size=1,
        max_size=4,
    ).map(tuple),
    max_size=8,
)


@FAST
@given(paths)
def test_field_sets_survive_a_fields_v1_round_trip(items: list[tuple[str, ...]]) -> None:
    owned = FieldSet.from_paths(items)
    assert FieldSet.from_fields_v1(owned.to_fields_v1()) == owned
    assert set(owned.paths()) == set(items)


@FAST
@given(paths, paths)
def test_field_set_algebra_agrees_with_sets_of_paths(a: Any, b: Any) -> None:
    left, right = FieldSet.from_paths(a), FieldSet.from_paths(b)
    assert set(left.union(right).paths()) == set(a) | set(b)
    assert set(left.intersection(right).paths()) == set(a) & set(b)
    assert set(left.difference(right).paths()) == set(a) - set(b)


def test_apply_at_t0_records_t0() -> None:
    assert (
        apply(None, configmap({"a": "b"}), "me", T0, schema=CONFIGMAP).managed_fields[0]["time"]
        == T0
    )

"""Local in-sync check: what fleet applied must still hold in the live object."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.engine.drift import live_matches, live_mismatch, quantity
from fleet.model.ignore_differences import IgnoreDifference
from fleet.model.refs import ObjectRef

REF = ObjectRef("apps", "Deployment", "web", "web")


def deployment(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "web", "labels": {"fleet.dev/app": "web"}},
        "spec": spec,
    }


def live_of(desired: dict[str, Any], **extra_spec: Any) -> dict[str, Any]:
    live = deployment(**{**desired["spec"], **extra_spec})
    live["metadata"].update(
        uid="u1", resourceVersion="7", generation=2, managedFields=[{"manager": "fleet"}]
    )
    live["status"] = {"replicas": 3}
    return live


CASES: list[tuple[str, dict[str, Any], dict[str, Any] | None, tuple[str, ...] | None]] = [
    (
        "identical objects are in sync",
        deployment(replicas=3),
        live_of(deployment(replicas=3)),
        None,
    ),
    (
        "fields added by the server are not drift",
        deployment(replicas=3),
        live_of(deployment(replicas=3), revisionHistoryLimit=10),
        None,
    ),
    (
        "a scaled replica count is drift",
        deployment(replicas=3),
        live_of(deployment(replicas=5)),
        ("/spec/replicas",),
    ),
    ("an absent object is out of sync", deployment(replicas=3), None, ("",)),
    (
        "a removed field is drift",
        deployment(replicas=3, paused=False),
        live_of(deployment(replicas=3)),
        ("/spec/paused",),
    ),
    (
        "quantities compare by value",
        deployment(cpu="0.5", mem="1Gi"),
        live_of(deployment(cpu="500m", mem="1073741824")),
        None,
    ),
    (
        "different quantities are drift",
        deployment(cpu="0.5"),
        live_of(deployment(cpu="600m")),
        ("/spec/cpu",),
    ),
    (
        "a list of another length is drift",
        deployment(args=["a", "b"]),
        live_of(deployment(args=["a"])),
        ("/spec/args",),
    ),
    (
        "list items compare as subsets",
        deployment(ports=[{"containerPort": 80}]),
        live_of(deployment(ports=[{"containerPort": 80, "protocol": "TCP"}])),
        None,
    ),
    (
        "booleans are not numbers",
        deployment(flag=True),
        live_of(deployment(flag=1)),
        ("/spec/flag",),
    ),
    (
        "a null in the applied config means absent",
        deployment(replicas=3, paused=None),
        live_of(deployment(replicas=3)),
        None,
    ),
    (
        "a map replaced by a scalar is drift",
        deployment(selector={"a": "b"}),
        live_of(deployment(selector="x")),
        ("/spec/selector",),
    ),
    (
        "keys with slashes are escaped in pointers",
        deployment(labels={"a/b": "1"}),
        live_of(deployment(labels={"a/b": "2"})),
        ("/spec/labels/a~1b",),
    ),
]


@pytest.mark.parametrize(
    ("behaviour", "applied", "live", "pointers"), CASES, ids=[c[0] for c in CASES]
)
def test_live_mismatch(
    behaviour: str,
    applied: dict[str, Any],
    live: dict[str, Any] | None,
    pointers: tuple[str, ...] | None,
) -> None:
    found = live_mismatch(REF, applied, live)
    assert (found.pointers if found else None) == pointers
    # The yes-or-no a sync asks agrees with the walk that names the pointers.
    assert live_matches(REF, applied, live) is (pointers is None)


def test_ignored_pointer_is_not_drift() -> None:
    rule = IgnoreDifference(group="apps", kind="Deployment", json_pointers=("/spec/replicas",))
    found = live_mismatch(REF, deployment(replicas=3), live_of(deployment(replicas=5)), [rule])
    assert found is None
    assert live_matches(REF, deployment(replicas=3), live_of(deployment(replicas=5)), [rule])
    assert not live_matches(REF, deployment(replicas=3), live_of(deployment(replicas=5)))


def test_secret_values_compare_by_digest() -> None:
    applied = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"password": "hunter2"},
    }
    live = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"password": "aHVudGVyMg=="},
    }
    ref = ObjectRef("", "Secret", "", "s")
    assert live_mismatch(ref, applied, live) is None
    assert live_matches(ref, applied, live)
    live["data"]["password"] = "b3RoZXI="
    assert live_mismatch(ref, applied, live) is not None
    assert not live_matches(ref, applied, live)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Decimal("0.5")),
        ("1Gi", Decimal(2**30)),
        ("2k", Decimal(2000)),
        ("1e3", Decimal(1000)),
        (3, Decimal(3)),
        ("abc", None),
        (True, None),
        (None, None),
    ],
)
def test_quantity(text: Any, value: Decimal | None) -> None:
    assert quantity(text) == value


def test_limit_stops_the_walk() -> None:
    applied = deployment(**{f"k{i}": i for i in range(30)})
    live = live_of(deployment(**{f"k{i}": i + 1 for i in range(30)}))
    found = live_mismatch(REF, applied, live, limit=5)
    assert found is not None
    assert len(found.pointers) == 5


_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-2, 2),
        st.sampled_from([0.5, 1.0, "1", "500m", "0.5", "a", ""]),
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(_values, _values)
def test_property_live_matches_is_an_empty_walk(spec: Any, live_spec: Any) -> None:
    applied = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": spec}
    live = {"apiVersion": "apps/v1", "kind": "Deployment", "spec": live_spec}
    for have in (live, applied):
        assert live_matches(REF, applied, have) is (live_mismatch(REF, applied, have) is None)

"""The shortcuts of a non-apply write's ``managedFields`` bookkeeping change nothing.

A write decodes every manager's ``fieldsV1``, compares the objects and encodes the sets
again. Three shortcuts make that cheaper: decoded sets are cached by their text (and a
set's encoding decodes back to the set itself), an update that owns nothing new keeps
its manager's set object (so its text is not made again), and a write through
``/status`` compares the statuses only. The table below runs a sequence of writes by
two managers three ways - caches warm, caches emptied before every write, and every
stored ``fieldsV1`` rewritten in another key order (so no text is recognised) - and
holds all three to the same ``managedFields``, which are also spelled out.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.sim.patching import FieldSet, render_path, reset_fields, track_update
from fleet.sim.patching import fieldsets as fs
from fleet.sim.patching import typedmerge as tm
from fleet.sim.patching.managers import Managed, manager_key
from fleet.sim.patching.ownership import record_update
from fleet.sim.patching.types import Type, child_type, item_type
from fleet.sim.patching.values import MISSING
from tests.sim.patching_objects import DEPLOYMENT, T0, T1, T2, T3, deployment

Obj = dict[str, Any]
ALICE, BOB = "alice", "bob"


def _status(replicas: int, ready: int) -> Obj:
    status: Obj = {"observedGeneration": 1, "replicas": replicas}
    if ready:
        status["readyReplicas"] = ready
    status["conditions"] = [{"type": "Available", "status": "True" if ready else "False"}]
    return status


def _with(*steps: Callable[[Obj], None]) -> Callable[[Obj], Obj]:
    """A change made of in-place steps, applied to a copy."""

    def change(obj: Obj) -> Obj:
        out = copy.deepcopy(obj)
        for step in steps:
            step(out)
        return out

    return change


def status(replicas: int, ready: int) -> Callable[[Obj], None]:
    return lambda o: o.__setitem__("status", _status(replicas, ready))


def replicas(n: int) -> Callable[[Obj], None]:
    return lambda o: o["spec"].__setitem__("replicas", n)


def label(name: str, value: str) -> Callable[[Obj], None]:
    return lambda o: o["metadata"].setdefault("labels", {}).__setitem__(name, value)


# (manager, subresource, time, change, expected owners: "manager[/sub]" -> paths)
STEPS: list[tuple[str, str, str, Callable[[Obj], Obj], dict[str, list[str]]]] = [
    (
        BOB,
        "status",
        T1,
        _with(status(1, 0)),
        {
            "bob/status": [
                ".status.conditions",
                ".status.observedGeneration",
                ".status.replicas",
                '.status.conditions[type="Available"]',
                '.status.conditions[type="Available"].status',
                '.status.conditions[type="Available"].type',
            ]
        },
    ),
    # Same fields, new values: the status manager owns nothing new.
    (BOB, "status", T1, _with(status(2, 0)), {}),
    # A field appears and one changes.
    (BOB, "status", T2, _with(status(2, 2)), {"bob/status": ["+.status.readyReplicas"]}),
    # A status field disappears: owned by no one any more.
    (BOB, "status", T2, _with(status(1, 0)), {"bob/status": ["-.status.readyReplicas"]}),
    # Bob changes alice's replicas through the main resource: the field moves to bob.
    (BOB, "", T3, _with(replicas(5)), {"alice": ["-.spec.replicas"], "bob": [".spec.replicas"]}),
    # Alice takes it back, and adds a label; bob, owning nothing else there, disappears.
    (
        ALICE,
        "",
        T3,
        _with(replicas(2), label("tier", "web")),
        {"alice": ["+.spec.replicas", "+.metadata.labels.tier"], "bob": None},
    ),
    # A main-resource write cannot change status; the status write cannot change spec.
    (ALICE, "", T3, _with(status(9, 9)), {}),
    (BOB, "status", T3, _with(replicas(7), status(1, 0)), {}),
]


def _owners(entries: list[Obj]) -> dict[str, list[str]]:
    out = {}
    for entry in entries:
        name = entry["manager"] + ("/" + entry["subresource"] if entry.get("subresource") else "")
        fields = FieldSet.from_fields_v1(entry["fieldsV1"])
        out[name] = sorted(render_path(p) for p in fields.paths())
    return out


def _expected(before: dict[str, list[str]], change: dict[str, list[str]]) -> dict[str, list[str]]:
    """``before`` with ``change`` applied: a list of ``+path``/``-path`` edits, a full
    list of paths, or ``None`` for a manager that is gone."""
    out = {name: list(paths) for name, paths in before.items()}
    for name, paths in change.items():
        if paths is None:
            out.pop(name, None)
        elif all(p[0] in "+-" for p in paths):
            current = set(out.get(name, []))
            current |= {p[1:] for p in paths if p[0] == "+"}
            current -= {p[1:] for p in paths if p[0] == "-"}
            out[name] = sorted(current)
        else:
            out[name] = sorted(paths)
    return out


def _shuffled(value: Any, rng: random.Random) -> Any:
    """The same ``fieldsV1`` with its keys in another order (``"."`` last)."""
    if not isinstance(value, dict):
        return value
    items = [(k, _shuffled(v, rng)) for k, v in value.items() if k != "."]
    rng.shuffle(items)
    out = dict(items)
    if "." in value:
        out["."] = {}
    return out


def _run(mode: str) -> list[list[Obj]]:
    """Every step's ``managedFields``: ``warm`` caches, caches ``cleared`` before each
    write, or the stored ``fieldsV1`` ``reordered`` before each write."""
    rng = random.Random(7)
    live = orjson.loads(orjson.dumps(deployment(replicas=3)))
    entries = track_update(None, live, ALICE, now=T0, schema=DEPLOYMENT)
    live["metadata"]["managedFields"] = entries
    out = [entries]
    for manager, sub, now, change, _ in STEPS:
        stored = orjson.loads(orjson.dumps(live))  # as the store keeps it
        if mode == "cleared":
            fs._PARSED.clear()
        if mode == "reordered":
            for entry in stored["metadata"].get("managedFields", []):
                entry["fieldsV1"] = _shuffled(entry["fieldsV1"], rng)
        body = change(stored)
        body["metadata"].pop("managedFields", None)
        new = reset_fields(stored, body, DEPLOYMENT, sub)
        new["metadata"].pop("managedFields", None)
        entries = track_update(stored, new, manager, now=now, schema=DEPLOYMENT, subresource=sub)
        new["metadata"]["managedFields"] = entries
        out.append(entries)
        live = new
    return out


def test_the_write_sequence_owns_what_the_table_says() -> None:
    runs = _run("warm")
    expected = _owners(runs[0])  # the create: alice owns what she set
    assert list(expected) == ["alice"]
    assert ".spec.replicas" in expected["alice"]
    for (manager, sub, _now, _change, change), entries in zip(STEPS, runs[1:], strict=True):
        expected = _expected(expected, change)
        assert _owners(entries) == expected, (manager, sub)


@pytest.mark.parametrize("mode", ["cleared", "reordered"])
def test_caches_change_no_managed_fields(mode: str) -> None:
    warm = _run("warm")
    assert _run(mode) == warm
    assert orjson.dumps(_run(mode)) == orjson.dumps(warm)  # the same order of keys too


def test_an_encoded_set_decodes_to_itself_and_a_reordered_one_is_encoded_afresh() -> None:
    owned = FieldSet.from_paths([("f:spec", "f:replicas"), ("f:metadata", "f:labels", "f:a")])
    written = owned.to_fields_v1()
    assert FieldSet.from_fields_v1(written) is owned
    fs._PARSED.clear()
    parsed = FieldSet.from_fields_v1(written)
    assert parsed is not owned
    assert parsed == owned
    assert parsed._fields_v1 == orjson.dumps(written)  # canonical: its text is its encoding
    reordered = {"f:spec": {"f:replicas": {}}, "f:metadata": {"f:labels": {"f:a": {}}}}
    other = FieldSet.from_fields_v1(reordered)
    assert other == owned
    assert other._fields_v1 is None
    assert orjson.dumps(other.to_fields_v1()) == orjson.dumps(written)


@pytest.mark.parametrize(
    "fields",
    [
        {".": {}, "f:a": {}},  # the root is never a member
        {"f:a": {".": {}}},  # a member without children is written {}
        {"f:a": {".": {}, "f:b": {}}, "f:0": {}},  # out of order
        {"f:a": {"f:b": {}, ".": {}}},  # "." not first
        {"f:a": {".": {"x": {}}, "f:b": {}}},  # "." is not {}
        {"i:01": {}, "i:1": {}},  # two spellings of one index
    ],
)
def test_fields_v1_not_written_as_encoded_is_not_taken_as_the_encoding(fields: Obj) -> None:
    fs._PARSED.clear()
    parsed = FieldSet.from_fields_v1(fields)
    assert parsed._fields_v1 is None
    again = parsed.to_fields_v1()
    assert FieldSet.from_fields_v1(again) == parsed


def test_the_parsed_set_cache_keeps_the_most_recently_used() -> None:
    cache = fs._ParsedSets(2)
    a, b, c = FieldSet(["f:a"]), FieldSet(["f:b"]), FieldSet(["f:c"])
    cache.put(b"a", a)
    cache.put(b"b", b)
    assert cache.get(b"a") is a  # now b is the oldest
    cache.put(b"c", c)
    assert len(cache) == 2
    assert cache.get(b"b") is None
    assert cache.get(b"a") is a
    assert cache.get(b"c") is c


def test_an_update_owning_nothing_new_keeps_its_managers_set() -> None:
    key = manager_key(BOB, "Update", "apps/v1", "status")
    old = {"status": {"replicas": 1, "conditions": [{"type": "A", "status": "False"}]}}
    new = {"status": {"replicas": 2, "conditions": [{"type": "A", "status": "True"}]}}
    managed = Managed()

    def write(before: Obj, after: Obj, now: str) -> None:
        record_update(
            before,
            after,
            managed,
            key,
            api_version="apps/v1",
            ignored=FieldSet(),
            node=DEPLOYMENT.root,
            now=now,
        )

    write({}, old, T0)
    first = managed.sets[key].fields
    write(old, new, T1)
    assert managed.sets[key].fields is first
    assert managed.times[key] == T1
    grown = {"status": {**new["status"], "readyReplicas": 2}}
    write(new, grown, T2)
    assert managed.sets[key].fields is not first
    assert managed.sets[key].fields.has(("f:status", "f:readyReplicas"))


LEFT = {
    "metadata": {"labels": {"a": "1", "b": "2"}, "annotations": {"x": "y"}},
    "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}},
    "status": {"replicas": 1},
}
RIGHT = {
    "metadata": {"labels": {"a": "9"}, "finalizers": ["f"]},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "d", "image": "j"}]}}},
    "status": {"replicas": 2, "readyReplicas": 1},
}


@pytest.mark.parametrize(
    "ignored",
    [
        [],
        [("f:status",)],
        [("f:metadata",), ("f:spec",)],
        [("f:metadata", "f:labels", "f:a")],
        [("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}')],
        [("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"d"}', "f:image")],
        [("f:metadata", "f:labels"), ("f:spec", "f:replicas"), ("f:status", "f:readyReplicas")],
    ],
)
def test_ignored_fields_are_not_walked_and_the_result_is_the_same(ignored: list[Any]) -> None:
    skip = FieldSet.from_paths(ignored)
    fast = tm.compare(LEFT, RIGHT, DEPLOYMENT.root, skip)
    slow = tm.compare(LEFT, RIGHT, DEPLOYMENT.root).excluding(skip)
    for name in ("added", "modified", "removed"):
        assert getattr(fast, name) == getattr(slow, name), name


def _paired(value: Any, node: Type) -> FieldSet | None:
    """What the pairwise walk records below ``value`` paired with nothing, written out
    with the walk's own steps (what :func:`typedmerge._one_side` must reproduce)."""
    value = tm._with_zero(node, value)
    kind = tm._walk_kind(node, MISSING, value)
    if kind == "leaf":
        return None
    out = FieldSet()
    if kind == "map":
        children = [(fs.field_element(n), v, child_type(node, n)[0]) for n, v in value.items()]
    else:
        order, items = tm._index(node, value)
        children = [(e, items[e][0], item_type(node)) for e in order]
    for element, child, child_node in children:
        out.members.add(element)
        below = _paired(child, child_node)
        if below is not None and not below.empty():
            out.children[element] = below
    return out


names = st.sampled_from(["name", "image", "ports", "env", "spec", "x", "containerPort", "type"])
scalars = st.none() | st.booleans() | st.integers(-2, 2) | st.sampled_from(["a", "web", ""])
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=15,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["metadata", "spec", "status", "other"]), json_values))
def test_a_value_on_one_side_only_is_walked_as_the_pairwise_walk_does(obj: Obj) -> None:
    fast = tm._one_side(obj, DEPLOYMENT.root, None)
    slow = _paired(obj, DEPLOYMENT.root)
    assert (fast is None) == (slow is None)
    if fast is not None and slow is not None:
        assert fast == slow

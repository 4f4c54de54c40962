"""An app's objects on one cluster as a tree, by owner references.

The app's own objects (what Git declares, and hooks) are the roots; objects the cluster
made from them (a Deployment's ReplicaSets, their Pods, a CronJob's Jobs) hang below
the object named in their ``ownerReferences``, matched by uid. Only live objects have a
uid, so a missing root has no children. The result is flat, in display order (each node
followed by its children, depth first) with each child naming its parent, which is what
both a table on a page and a JSON answer want.

Pure: the runtime gathers the objects (fleet.runtime.resource_tree), this arranges them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fleet.engine.health import CustomHealth, assess
from fleet.model.health_rules import HealthRuleSet
from fleet.model.refs import ObjectRef

Obj = Mapping[str, Any]

#: Deeper chains than this are cut (Deployment -> ReplicaSet -> Pod is three).
MAX_DEPTH = 4
#: Children shown under one object; the rest are counted in its ``hidden`` field.
MAX_CHILDREN = 50


@dataclass(frozen=True, slots=True)
class Root:
    """One of the app's own objects: desired, or a hook, with what status knows of it."""

    ref: ObjectRef
    live: Obj | None
    #: Synced, OutOfSync or Unknown (the cluster cannot be reached).
    sync: str
    #: The hook phase (PreSync, Sync, PostSync...) when the object is a hook.
    hook: str = ""
    #: Said before the health message (an object no longer in Git: "not in Git").
    note: str = ""


@dataclass(frozen=True, slots=True)
class TreeNode:
    ref: ObjectRef
    depth: int
    #: ``Kind/namespace/name`` of the owner, "" for a root.
    parent: str
    #: "" for an object the app does not declare (it has no sync status of its own).
    sync: str
    health: str
    message: str
    hook: str = ""
    #: Children left out beyond MAX_CHILDREN.
    hidden: int = 0

    @property
    def key(self) -> str:
        return node_key(self.ref)

    def as_json(self) -> dict[str, Any]:
        return {
            "group": self.ref.group,
            "kind": self.ref.kind,
            "namespace": self.ref.namespace,
            "name": self.ref.name,
            "key": self.key,
            "depth": self.depth,
            "parent": self.parent,
            "sync": self.sync,
            "health": self.health,
            "message": self.message,
            "hook": self.hook,
            "hidden": self.hidden,
        }


def node_key(ref: ObjectRef) -> str:
    """What a child's ``parent`` names: ``Kind/namespace/name``."""
    return f"{ref.kind}/{ref.namespace}/{ref.name}"


def build_tree(
    roots: Sequence[Root],
    owned: Sequence[Obj],
    rule_sets: tuple[HealthRuleSet, ...] = (),
    custom: CustomHealth | None = None,
) -> list[TreeNode]:
    """Roots sorted (noted ones after the others, hooks last), each followed by what it
    owns; health judged as status judges it (``custom``: the fleet-wide Lua checks)."""
    children: dict[str, list[Obj]] = {}
    for obj in owned:
        for owner in _owner_uids(obj):
            children.setdefault(owner, []).append(obj)
    for found in children.values():
        found.sort(key=lambda o: ObjectRef.of(dict(o)))
    out: list[TreeNode] = []
    ordered = sorted(roots, key=lambda r: (bool(r.hook), bool(r.note), r.ref))
    for root in ordered:
        health, message = _health(root.live, rule_sets, custom)
        if root.note:
            message = f"{root.note}; {message}" if message else root.note
        siblings = children.get(_uid(root.live), [])
        out.append(
            TreeNode(
                root.ref,
                0,
                "",
                root.sync,
                health,
                message,
                root.hook,
                hidden=max(0, len(siblings) - MAX_CHILDREN),
            )
        )
        _descend(root.ref, root.live, 1, children, (rule_sets, custom), out, {_uid(root.live)})
    return out


def _descend(
    parent: ObjectRef,
    live: Obj | None,
    depth: int,
    children: Mapping[str, list[Obj]],
    checks: tuple[tuple[HealthRuleSet, ...], CustomHealth | None],
    out: list[TreeNode],
    seen: set[str],
) -> None:
    if depth >= MAX_DEPTH or live is None:
        return
    for child in children.get(_uid(live), [])[:MAX_CHILDREN]:
        uid = _uid(child)
        if uid in seen:  # an owner-reference cycle: show each object once
            continue
        seen.add(uid)
        ref = ObjectRef.of(dict(child))
        health, message = _health(child, *checks)
        grandchildren = children.get(uid, [])
        out.append(
            TreeNode(
                ref,
                depth,
                node_key(parent),
                "",
                health,
                message,
                hidden=max(0, len(grandchildren) - MAX_CHILDREN),
            )
        )
        _descend(ref, child, depth + 1, children, checks, out, seen)


def _health(
    live: Obj | None, rule_sets: tuple[HealthRuleSet, ...], custom: CustomHealth | None
) -> tuple[str, str]:
    if live is None:
        return "Missing", "does not exist on the cluster"
    health = assess(live, rule_sets, custom)
    return str(health.status), health.message


def _uid(obj: Obj | None) -> str:
    if obj is None:
        return ""
    return str((obj.get("metadata") or {}).get("uid") or "")


def _owner_uids(obj: Obj) -> list[str]:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(r.get("uid")) for r in refs if isinstance(r, Mapping) and r.get("uid")]

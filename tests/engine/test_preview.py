"""``fleet plan``'s pure half: what a sync would do, told before it does it.

Each case builds a cluster, plans a sync against it (the dry-runs answered by the fake
cluster, nothing written), and checks the plan's lines. The last table then runs the sync
for real on the same cluster and checks that it did exactly what the plan said.
"""

from __future__ import annotations

import base64
import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from fleet.engine import ApiError, DryRun, PlanMemo, Progress, Reason, SyncInput, SyncOptions
from fleet.engine.bounds import KindPattern, ProjectBounds
from fleet.engine.preview import ClusterPreview, DryRunAnswer, dry_runs, preview
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef
from fleet.model.tracking import APP_LABEL, TRACKING_ANNOTATION, tracking_id
from tests.engine.cluster import FakeCluster, body, manifests, run_sync

Obj = dict[str, Any]


def config(name: str, value: str | None = None, **annotations: str) -> Obj:
    return body("ConfigMap", name, annotations=annotations or None, data={"k": value or name})


def deployment(name: str = "api", replicas: int = 1) -> Obj:
    return body("Deployment", name, spec={"replicas": replicas, "template": {}})


def hook(name: str, phase: str, wave: int = 0, generate: bool = False) -> Obj:
    annotations = {"argocd.argoproj.io/hook": phase, "argocd.argoproj.io/sync-wave": str(wave)}
    out = body("Job", "" if generate else name, annotations=annotations, spec={"template": {}})
    if generate:
        out["metadata"]["generateName"] = name
    return out


def secret(name: str, password: str) -> Obj:
    data = {"password": base64.b64encode(password.encode()).decode()}
    return body("Secret", name, data=data)


def owned(cluster: FakeCluster, obj: Obj, app: str = "web") -> ObjectRef:
    """Put an object on the cluster as an earlier sync of ``app`` left it."""
    ref = ObjectRef.of(obj)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("labels", {})[APP_LABEL] = app
    meta.setdefault("annotations", {})[TRACKING_ANNOTATION] = tracking_id(app, ref)
    return cluster.add(obj)


def answer(cluster: FakeCluster, action: DryRun) -> DryRunAnswer:
    """The fake cluster's answer, with the object a server-side apply dry-run returns."""
    result = cluster.execute(action)
    assert result is not None
    returned = None
    if result.ok and action.mode != "create":
        returned = copy.deepcopy(dict(action.body))
        live = cluster.live.get(action.ref)
        if live is not None:
            returned["metadata"] = {**live["metadata"], **returned["metadata"]}
            returned["status"] = live.get("status", {})
    return DryRunAnswer(action.ref, result, returned)


def sync_input(
    desired: list[Manifest],
    cluster: FakeCluster,
    options: SyncOptions | None = None,
    inventory: frozenset[ObjectRef] = frozenset(),
    render_error: str | None = None,
) -> SyncInput:
    return SyncInput(
        "web",
        "abc1234def",
        desired,
        cluster.visible(),
        inventory,
        options or SyncOptions(),
        Progress.start(1_000.0),
        1_000.0,
        render_error,
        memo=PlanMemo(),
    )


def plan(
    desired: list[Manifest],
    cluster: FakeCluster,
    options: SyncOptions | None = None,
    inventory: frozenset[ObjectRef] = frozenset(),
    render_error: str | None = None,
    **kwargs: Any,
) -> ClusterPreview:
    """Plan a sync; the cluster must be left exactly as it was."""
    before = copy.deepcopy(cluster.live)
    inp = sync_input(desired, cluster, options, inventory, render_error)
    actions, _ = dry_runs(inp)
    answers = {a.id: answer(cluster, a) for a in actions}
    assert cluster.live == before, "a plan wrote to the cluster"
    assert cluster.writes == []
    return preview(inp, answers, **kwargs)


def lines(found: ClusterPreview) -> list[str]:
    return [
        f"{o.action} {o.phase}/{o.wave} {o.ref.kind}/{o.ref.name}"
        + (f" ({o.detail})" if o.detail else "")
        for o in found.objects
    ]


def with_namespace(*objects: Obj) -> FakeCluster:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "web", None))
    for obj in objects:
        owned(cluster, obj)
    return cluster


# -- what each object would get ----------------------------------------------------------


@dataclass
class Case:
    desired: list[Obj]
    #: Objects an earlier sync left (owned by the app, in its inventory).
    live: list[Obj] = field(default_factory=list)
    expected: list[str] = field(default_factory=list)
    unchanged: int = 0
    options: SyncOptions = field(default_factory=SyncOptions)
    hooks_without_changes: bool = False


CASES = {
    "new objects are created, in sync order": Case(
        [deployment("api"), config("a", **{"argocd.argoproj.io/sync-wave": "-1"})],
        expected=["create Sync/-1 ConfigMap/a", "create Sync/0 Deployment/api"],
    ),
    "an object in sync is counted, not listed": Case(
        [config("a"), config("b", "new")],
        live=[config("a"), config("b", "old")],
        expected=["change Sync/0 ConfigMap/b (/data/k)"],
        unchanged=1,
    ),
    "a change names the fields that differ": Case(
        [deployment("api", replicas=3)],
        live=[deployment("api", replicas=1)],
        expected=["change Sync/0 Deployment/api (/spec/replicas)"],
    ),
    "an object that left Git is pruned": Case(
        [config("a"), config("b")],
        live=[config("a"), config("b"), config("old")],
        expected=["prune Sync/0 ConfigMap/old"],
        unchanged=2,
    ),
    "a protected object that left Git is kept": Case(
        [config("a"), config("b")],
        live=[config("a"), config("b"), config("old", **{"fleet.dev/prune": "disabled"})],
        expected=["keep Sync/0 ConfigMap/old (left Git: protected by a prune annotation)"],
        unchanged=2,
    ),
    "pruning off keeps what left Git": Case(
        [config("a"), config("b")],
        live=[config("a"), config("b"), config("old")],
        options=SyncOptions(prune=False),
        expected=["keep Sync/0 ConfigMap/old (left Git: pruning is off for this app)"],
        unchanged=2,
    ),
    "a stale object outside the app's project is kept, not pruned": Case(
        [config("a")],
        live=[config("a"), deployment("old")],
        options=SyncOptions(
            bounds=ProjectBounds(
                "team-a", namespaces=("web",), allow_kinds=(KindPattern.parse("ConfigMap"),)
            )
        ),
        expected=[
            "keep Sync/0 Deployment/old (left Git: kind apps/Deployment is not in the "
            "kinds.allow of project 'team-a')"
        ],
        unchanged=1,
    ),
    "hooks run in their phases and waves when the sync runs": Case(
        [
            hook("migrate", "PreSync", wave=-2),
            config("a", "new"),
            hook("smoke", "PostSync"),
            hook("page", "SyncFail"),
            hook("notify-", "PostSync", wave=1, generate=True),
        ],
        live=[config("a", "old")],
        expected=[
            "hook PreSync/-2 Job/migrate (delete policy BeforeHookCreation)",
            "change Sync/0 ConfigMap/a (/data/k)",
            "hook PostSync/0 Job/smoke (delete policy BeforeHookCreation)",
            "hook PostSync/1 Job/notify- (generateName: a new name each sync; "
            "delete policy BeforeHookCreation)",
            "hook SyncFail/0 Job/page (runs only if the sync fails; "
            "delete policy BeforeHookCreation)",
        ],
    ),
    "hooks do not run when an automated sync has nothing to change": Case(
        [hook("migrate", "PreSync"), config("a")],
        live=[config("a")],
        unchanged=1,
    ),
    "a manual sync runs the hooks even with nothing to change": Case(
        [hook("migrate", "PreSync"), config("a")],
        live=[config("a")],
        hooks_without_changes=True,
        expected=["hook PreSync/0 Job/migrate (delete policy BeforeHookCreation)"],
        unchanged=1,
    ),
    "objects in sync are written anyway without ApplyOutOfSyncOnly": Case(
        [config("a")],
        live=[config("a")],
        options=SyncOptions(apply_out_of_sync_only=False),
        expected=[
            "reapply Sync/0 ConfigMap/a (in sync, applied anyway (ApplyOutOfSyncOnly=false))"
        ],
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_each_object_is_planned_as_the_sync_would_treat_it(case: Case) -> None:
    cluster = with_namespace(*case.live)
    inventory = frozenset(ObjectRef.of(obj) for obj in case.live)
    found = plan(
        manifests(*case.desired),
        cluster,
        case.options,
        inventory,
        hooks_without_changes=case.hooks_without_changes,
    )
    assert lines(found) == case.expected
    assert found.unchanged == case.unchanged
    assert found.refusals == ()
    changes = any(line.startswith(("create", "change", "prune")) for line in case.expected)
    assert found.changes is changes


def test_create_namespace_is_planned_as_an_untracked_create() -> None:
    options = SyncOptions(create_namespace=True, namespace="web")
    found = plan(manifests(config("a")), FakeCluster(), options)
    assert lines(found) == [
        "create Sync/0 Namespace/web (CreateNamespace: created for the app, not tracked, "
        "never pruned)",
        "create Sync/0 ConfigMap/a (not dry-run: its namespace or CRD comes with this sync)",
    ]


# -- refusals ----------------------------------------------------------------------------


def refused(found: ClusterPreview) -> list[tuple[str, str]]:
    return [(r.reason, r.ref.name if r.ref else "") for r in found.refusals]


def test_a_render_error_is_a_refusal_and_plans_nothing() -> None:
    cluster = with_namespace(config("a"))
    found = plan(
        manifests(config("b")),
        cluster,
        inventory=frozenset({ObjectRef.of(config("a"))}),
        render_error="kustomize: missing.yaml: no such file",
    )
    assert refused(found) == [(Reason.RENDER_FAILED, "")]
    assert "missing.yaml" in found.refusals[0].message
    assert found.objects == ()
    assert found.syncs  # recorded as a failed sync, as the worker does


def test_the_prune_guard_refusal_lists_what_it_would_have_deleted() -> None:
    stale = [config(f"old-{i}") for i in range(4)]
    cluster = with_namespace(config("keep"), *stale)
    inventory = frozenset(ObjectRef.of(o) for o in [config("keep"), *stale])
    found = plan(manifests(config("keep")), cluster, inventory=inventory)
    assert refused(found) == [(Reason.PRUNE_REFUSED, "")]
    assert "delete 4 of the app's 5 objects" in found.refusals[0].message
    assert [(o.action, o.ref.name) for o in found.objects] == [
        ("prune", f"old-{i}") for i in range(4)
    ]
    assert all("prune guard" in o.detail for o in found.objects)
    confirmed = plan(manifests(config("keep")), cluster, SyncOptions(confirm_prune=True), inventory)
    assert confirmed.refusals == ()
    assert [o.action for o in confirmed.objects] == ["prune"] * 4


def test_a_failed_dry_run_is_a_refusal_naming_the_object() -> None:
    cluster = with_namespace()
    cluster.dry_run_errors["api"] = [ApiError(422, "Invalid", "spec.replicas: Invalid value")]
    found = plan(manifests(config("a"), deployment("api")), cluster)
    assert refused(found) == [(Reason.DRY_RUN_FAILED, "api")]
    assert "spec.replicas" in found.refusals[0].message
    assert ("create", "api") in [(o.action, o.ref.name) for o in found.objects]


def test_an_object_another_app_tracks_is_a_refusal() -> None:
    cluster = with_namespace()
    owned(cluster, config("shared"), app="shop")
    found = plan(manifests(config("shared"), config("mine")), cluster)
    assert refused(found) == [(Reason.SHARED_RESOURCE, "shared")]


def test_an_object_outside_the_project_is_a_refusal() -> None:
    bounds = ProjectBounds(
        "team-a", namespaces=("web",), allow_kinds=(KindPattern.parse("ConfigMap"),)
    )
    found = plan(
        manifests(config("a"), deployment("api")), with_namespace(), SyncOptions(bounds=bounds)
    )
    assert refused(found) == [(Reason.OUT_OF_PROJECT, "api")]
    assert "team-a" in found.refusals[0].message


# -- diffs -------------------------------------------------------------------------------


def test_diffs_show_changes_creates_and_prunes_only_when_asked() -> None:
    cluster = with_namespace(config("a", "old"), config("gone"))
    inventory = frozenset(ObjectRef.of(o) for o in [config("a"), config("gone")])
    desired = manifests(config("a", "new"), config("b"))
    quiet = plan(desired, cluster, inventory=inventory)
    assert all(o.diff == "" for o in quiet.objects)
    loud = plan(desired, cluster, inventory=inventory, with_diff=True)
    diffs = {o.ref.name: o.diff for o in loud.objects}
    assert "-  k: old\n" in diffs["a"]
    assert "+  k: new\n" in diffs["a"]
    assert diffs["b"].startswith("--- live/ConfigMap/web/b")
    assert "+  k: b\n" in diffs["b"]
    assert "-  k: gone\n" in diffs["gone"]


def test_secret_values_never_appear_in_a_diff() -> None:
    cluster = with_namespace(secret("db", "old-hunter2"))
    desired = manifests(secret("db", "new-hunter2"), secret("api", "fresh-s3cret"))
    found = plan(desired, cluster, SyncOptions(secret_digest_key=b"k"), with_diff=True)
    text = "".join(o.diff for o in found.objects)
    assert [(o.action, o.ref.name) for o in found.objects] == [
        ("create", "api"),
        ("change", "db"),
    ]
    assert "/data/password" in found.objects[1].detail
    for value in ("old-hunter2", "new-hunter2", "fresh-s3cret"):
        assert value not in text
        assert base64.b64encode(value.encode()).decode() not in text
    assert re.search(r"password: .*sha256", text), text


# -- the plan and the sync that follows --------------------------------------------------


def _sync_actions(cluster: FakeCluster, trace_lines: list[str]) -> set[tuple[str, str, str]]:
    """(action, kind, name) of each write a sync made, as the plan names them."""
    verbs = {"Apply": "apply", "Prune": "prune", "CreateHook": "hook"}
    found = set()
    for line in trace_lines:
        _, _, actions = line.partition(": ")
        for action in actions.split("; "):
            verb, _, what = action.partition(" ")
            if verb in verbs:
                kind, _, name = what.partition("/")
                found.add((verbs[verb], kind, name))
    return found


Arrange = Callable[[], tuple[FakeCluster, list[Obj], frozenset[ObjectRef]]]


def _rollout() -> tuple[FakeCluster, list[Obj], frozenset[ObjectRef]]:
    live = [config("a", "old"), config("same"), deployment("api"), config("gone")]
    cluster = with_namespace(*live)
    desired = [
        hook("migrate", "PreSync"),
        config("a", "new"),
        config("same"),
        deployment("api", replicas=2),
        config("new"),
        hook("smoke", "PostSync"),
    ]
    return cluster, desired, frozenset(ObjectRef.of(o) for o in live)


def _first_sync() -> tuple[FakeCluster, list[Obj], frozenset[ObjectRef]]:
    desired = [body("Namespace", "web", None), config("a"), deployment("api")]
    return FakeCluster(), desired, frozenset()


def _nothing_to_do() -> tuple[FakeCluster, list[Obj], frozenset[ObjectRef]]:
    live = [config("a"), deployment("api")]
    return with_namespace(*live), live, frozenset(ObjectRef.of(o) for o in live)


@pytest.mark.parametrize(
    "arrange", [_rollout, _first_sync, _nothing_to_do], ids=lambda f: f.__name__.strip("_")
)
def test_the_sync_that_follows_does_what_the_plan_said(arrange: Arrange) -> None:
    cluster, desired, inventory = arrange()
    found = plan(manifests(*desired), cluster, inventory=inventory)
    planned = {
        ("apply" if o.action in ("create", "change") else str(o.action), o.ref.kind, o.ref.name)
        for o in found.objects
        if o.action != "keep" and o.phase != "SyncFail"
    }
    trace = run_sync(manifests(*desired), cluster, inventory=inventory)
    done = _sync_actions(cluster, trace.lines)
    if not found.syncs:
        # An automated rollout records such a revision in sync and runs nothing at all;
        # a sync run anyway writes nothing but its hooks.
        assert planned == set()
        assert {a for a, _, _ in done} <= {"hook"}
    else:
        assert planned == done

"""Realistic apps and the exact sequence of steps a sync takes for each.

Each line is one batch the engine returned: ``phase/wave: actions``. The fake cluster's
controllers make Deployments ready and Jobs complete one tick after they are written, so
a line ``Wait[...]`` means the engine waited for them.
"""

from __future__ import annotations

from typing import Any

from fleet.engine import Failed, Reason, Succeeded, SyncOptions, Timeouts
from fleet.model.health_rules import HealthRuleSet
from fleet.model.refs import ObjectRef
from tests.engine.cluster import FakeCluster, body, manifests, never_ready_deployment, run_sync

REVISION = "9f8e7d6c5b4a"
START = 1_700_000_000


def job(
    name: str, namespace: str = "shop", generate: bool = False, **annotations: str
) -> dict[str, Any]:
    out = body(
        "Job",
        "" if generate else name,
        namespace,
        annotations=annotations,
        spec={"template": {"spec": {"restartPolicy": "Never"}}},
    )
    if generate:
        out["metadata"]["generateName"] = name
    return out


def web_app(image: str = "shop:1.0") -> list[Any]:
    """Namespace, a PreSync migration, config in wave -1, the app in wave 0, its Ingress in
    wave 1 and a PostSync smoke test: Argo CD annotations, as teams have them today."""
    return manifests(
        body("Namespace", "shop", None),
        job(
            "migrate-",
            generate=True,
            **{
                "argocd.argoproj.io/hook": "PreSync",
                "argocd.argoproj.io/hook-delete-policy": "HookSucceeded",
            },
        ),
        body(
            "ConfigMap",
            "settings",
            "shop",
            data={"mode": "prod"},
            annotations={"argocd.argoproj.io/sync-wave": "-1"},
        ),
        body(
            "Secret",
            "db-credentials",
            "shop",
            stringData={"password": "s3cret"},
            annotations={"argocd.argoproj.io/sync-wave": "-1"},
        ),
        body("Deployment", "web", "shop", spec={"replicas": 3, "template": {"image": image}}),
        body("Service", "web", "shop", spec={"ports": [{"port": 80}]}),
        body(
            "Ingress",
            "web",
            "shop",
            spec={"rules": []},
            annotations={"argocd.argoproj.io/sync-wave": "1"},
        ),
        job("smoke-test", **{"argocd.argoproj.io/hook": "PostSync"}),
    )


def ingress_gets_an_address(obj: dict[str, Any], ticks: int) -> dict[str, Any]:
    return {"loadBalancer": {"ingress": [{"ip": "10.0.0.1"}]}} if ticks >= 1 else {}


def test_web_app_first_sync() -> None:
    cluster = FakeCluster()
    cluster.controllers["Ingress"] = ingress_gets_an_address
    trace = run_sync(web_app(), cluster, revision=REVISION, start=START)
    assert trace.lines == [
        # Everything else lives in the namespace this sync creates: nothing else can be
        # dry-run before it exists.
        "DryRun: DryRun Namespace/shop",
        # The namespace moves ahead of the migration Job that needs it, into PreSync.
        "PreSync/0: Apply Namespace/shop",
        "PreSync/0: CreateHook Job/migrate-9f8e7d6-presync-1700000000",
        "PreSync/0: Wait[wait-hooks] Job/migrate-9f8e7d6-presync-1700000000",
        # Wave -1: Secret before ConfigMap (kind order), one run each.
        "Sync/-1: Apply Secret/db-credentials",
        "Sync/-1: Apply ConfigMap/settings",
        "Sync/0: Apply Service/web",
        "Sync/0: Apply Deployment/web",
        "Sync/0: Wait[wait-health] Deployment/web",
        "Sync/1: Apply Ingress/web",
        "Sync/1: Wait[wait-health] Ingress/web",
        "PostSync/0: CreateHook Job/smoke-test",
        "PostSync/0: Wait[wait-hooks] Job/smoke-test",
        # The migration asked to be deleted once it succeeded; the smoke test is kept
        # (BeforeHookCreation, the default) and only released from fleet's finalizer.
        "Cleanup: DeleteHook Job/migrate-9f8e7d6-presync-1700000000; ReleaseHook Job/smoke-test",
    ]
    verdict = trace.verdict
    assert isinstance(verdict, Succeeded)
    assert {ref.name for ref in verdict.inventory} == {"shop", "settings", "db-credentials", "web"}
    assert len(verdict.inventory) == 6, "hooks are not in the inventory"


def test_web_app_upgrade_applies_only_what_changed() -> None:
    cluster = FakeCluster()
    cluster.controllers["Ingress"] = ingress_gets_an_address
    first = run_sync(web_app(), cluster, revision=REVISION, start=START)
    assert isinstance(first.verdict, Succeeded)
    cluster.writes.clear()
    trace = run_sync(
        web_app(image="shop:1.1"),
        cluster,
        revision="0a1b2c3d4e",
        start=START + 3600,
        inventory=first.verdict.inventory,
    )
    assert trace.lines == [
        "DryRun: DryRun Namespace/shop; DryRun Job/migrate-0a1b2c3-presync-1700003600;"
        " DryRun Secret/db-credentials; DryRun ConfigMap/settings; DryRun Service/web;"
        " DryRun Deployment/web; DryRun Ingress/web; DryRun Job/smoke-test",
        "PreSync/0: CreateHook Job/migrate-0a1b2c3-presync-1700003600",
        "PreSync/0: Wait[wait-hooks] Job/migrate-0a1b2c3-presync-1700003600",
        "Sync/0: Apply Deployment/web",
        "Sync/0: Wait[wait-health] Deployment/web",
        # The smoke test of the last sync is deleted before it is created again.
        "PostSync/0: DeleteHook Job/smoke-test",
        "PostSync/0: CreateHook Job/smoke-test",
        "PostSync/0: Wait[wait-hooks] Job/smoke-test",
        "Cleanup: DeleteHook Job/migrate-0a1b2c3-presync-1700003600; ReleaseHook Job/smoke-test",
    ]
    assert cluster.writes == [
        "create Job/migrate-0a1b2c3-presync-1700003600",
        "apply Deployment/web",
        "delete Job/smoke-test",
        "create Job/smoke-test",
        "delete Job/migrate-0a1b2c3-presync-1700003600",
    ]


def helm_chart() -> list[Any]:
    """What ``helm template`` gives for a typical chart: hooks with weights, a test."""
    helm = {"app.kubernetes.io/managed-by": "Helm"}

    def hooked(
        kind: str, name: str, hook: str, weight: str, policy: str, **fields: Any
    ) -> dict[str, Any]:
        out = body(
            kind,
            name,
            "shop",
            annotations={
                "helm.sh/hook": hook,
                "helm.sh/hook-weight": weight,
                "helm.sh/hook-delete-policy": policy,
            },
            **fields,
        )
        out["metadata"]["labels"] = helm
        return out

    return manifests(
        hooked(
            "ServiceAccount", "shop-hooks", "pre-install,pre-upgrade", "-10", "before-hook-creation"
        ),
        hooked(
            "Job",
            "shop-db-init",
            "pre-install,pre-upgrade",
            "-5",
            "before-hook-creation,hook-succeeded",
            spec={"template": {}},
        ),
        body("ConfigMap", "shop-config", "shop", data={"a": "1"}),
        body("Service", "shop", "shop", spec={"ports": [{"port": 8080}]}),
        body("Deployment", "shop", "shop", spec={"replicas": 2}),
        hooked(
            "Job",
            "shop-notify",
            "post-install,post-upgrade",
            "0",
            "hook-succeeded",
            spec={"template": {}},
        ),
        hooked(
            "Pod",
            "shop-test-connection",
            "test",
            "0",
            "before-hook-creation",
            spec={"containers": []},
        ),
    )


def test_helm_chart_hooks() -> None:
    cluster = FakeCluster()
    cluster.add(body("Namespace", "shop", None))
    trace = run_sync(helm_chart(), cluster, revision=REVISION, start=START)
    assert trace.lines == [
        "DryRun: DryRun ServiceAccount/shop-hooks; DryRun Job/shop-db-init;"
        " DryRun ConfigMap/shop-config; DryRun Service/shop; DryRun Deployment/shop;"
        " DryRun Job/shop-notify",
        # hook-weight is the wave: the ServiceAccount (-10) before the Job (-5).
        "PreSync/-10: CreateHook ServiceAccount/shop-hooks",
        "PreSync/-5: CreateHook Job/shop-db-init",
        "PreSync/-5: Wait[wait-hooks] Job/shop-db-init",
        "Sync/0: Apply ConfigMap/shop-config",
        "Sync/0: Apply Service/shop",
        "Sync/0: Apply Deployment/shop",
        "Sync/0: Wait[wait-health] Deployment/shop",
        "PostSync/0: CreateHook Job/shop-notify",
        "PostSync/0: Wait[wait-hooks] Job/shop-notify",
        "Cleanup: ReleaseHook ServiceAccount/shop-hooks; DeleteHook Job/shop-db-init;"
        " DeleteHook Job/shop-notify",
    ]
    assert ObjectRef("", "Pod", "shop", "shop-test-connection") not in cluster.live
    assert isinstance(trace.verdict, Succeeded)


DATABASE_HEALTH = HealthRuleSet.model_validate(
    {
        "group": "db.example.com",
        "kind": "Database",
        "rules": [
            {"when": [{"field": "/status/phase", "equals": "Ready"}], "health": "Healthy"},
            {
                "when": [{"field": "/status/phase", "equals": "Failed"}],
                "health": "Degraded",
                "message": "{/status/message}",
            },
        ],
        "default": {"health": "Progressing", "message": "provisioning"},
    }
)


def operator_app() -> list[Any]:
    """A CRD, its operator, and two custom resources, all in one sync."""
    return manifests(
        body("Namespace", "databases", None),
        body(
            "CustomResourceDefinition",
            "databases.db.example.com",
            None,
            spec={"group": "db.example.com", "names": {"kind": "Database", "plural": "databases"}},
        ),
        body("ServiceAccount", "operator", "databases"),
        body("ClusterRole", "db-operator", None, rules=[]),
        body(
            "ClusterRoleBinding",
            "db-operator",
            None,
            api_version="rbac.authorization.k8s.io/v1",
            roleRef={"name": "db-operator"},
        ),
        body("Deployment", "operator", "databases", spec={"replicas": 1}),
        # The resources are in wave -1 in this repository; their CRD and namespace must
        # still come first.
        body(
            "Database",
            "orders",
            "databases",
            api_version="db.example.com/v1",
            annotations={"fleet.dev/sync-wave": "-1"},
            spec={"size": "small"},
        ),
        body(
            "Database",
            "users",
            "databases",
            api_version="db.example.com/v1",
            annotations={"fleet.dev/sync-wave": "-1"},
            spec={"size": "large"},
        ),
    )


def database_comes_up(obj: dict[str, Any], ticks: int) -> dict[str, Any]:
    return {"phase": "Ready" if ticks >= 2 else "Creating"}


def test_crd_operator_and_custom_resources_in_one_sync() -> None:
    cluster = FakeCluster(unserved={"Database"})
    cluster.controllers["Database"] = database_comes_up
    trace = run_sync(
        operator_app(),
        cluster,
        SyncOptions(health_rules=(DATABASE_HEALTH,)),
        revision=REVISION,
        start=START,
    )
    assert trace.lines == [
        # Cluster-scoped objects can be dry-run; the rest waits for its namespace, and the
        # Databases for their CRD.
        "DryRun: DryRun Namespace/databases;"
        " DryRun CustomResourceDefinition/databases.db.example.com;"
        " DryRun ClusterRole/db-operator; DryRun ClusterRoleBinding/db-operator",
        # Wave -1 holds the Databases, so their Namespace and CRD move there, ahead of them.
        "Sync/-1: Apply Namespace/databases",
        "Sync/-1: Apply CustomResourceDefinition/databases.db.example.com",
        "Sync/-1: Apply Database/orders; Apply Database/users",
        "Sync/-1: Wait[wait-health] Database/orders, Database/users",
        "Sync/-1: Wait[wait-health] Database/orders, Database/users",
        "Sync/0: Apply ServiceAccount/operator",
        "Sync/0: Apply ClusterRole/db-operator",
        "Sync/0: Apply ClusterRoleBinding/db-operator",
        "Sync/0: Apply Deployment/operator",
        "Sync/0: Wait[wait-health] Deployment/operator",
    ]
    assert isinstance(trace.verdict, Succeeded)


def test_a_deployment_that_never_becomes_healthy() -> None:
    cluster = FakeCluster(by_name={"web": never_ready_deployment})
    cluster.add(body("Namespace", "shop", None))
    desired = manifests(
        body("Deployment", "web", "shop", spec={"replicas": 1}),
        body("Ingress", "web", "shop", spec={}, annotations={"fleet.dev/sync-wave": "1"}),
        job("smoke-test", **{"fleet.dev/hook": "PostSync"}),
        job(
            "page-oncall-",
            generate=True,
            **{"fleet.dev/hook": "SyncFail", "fleet.dev/hook-delete-policy": "HookSucceeded"},
        ),
    )
    options = SyncOptions(timeouts=Timeouts(health=30, hook=60))
    trace = run_sync(desired, cluster, options, revision=REVISION, start=START)
    assert trace.lines == [
        "DryRun: DryRun Deployment/web; DryRun Ingress/web; DryRun Job/smoke-test;"
        " DryRun Job/page-oncall-9f8e7d6-syncfail-1700000000",
        "Sync/0: Apply Deployment/web",
        "Sync/0: Wait[wait-health] Deployment/web",
        "Sync/0: Wait[wait-health] Deployment/web",
        "Sync/0: Wait[wait-health] Deployment/web",
        # 30 s later the wait ends: the Ingress and the smoke test never run; SyncFail does.
        "SyncFail/0: CreateHook Job/page-oncall-9f8e7d6-syncfail-1700000000",
        "SyncFail/0: Wait[wait-hooks] Job/page-oncall-9f8e7d6-syncfail-1700000000",
        "Cleanup: DeleteHook Job/page-oncall-9f8e7d6-syncfail-1700000000",
    ]
    verdict = trace.verdict
    assert isinstance(verdict, Failed)
    assert [(f.reason, str(f.ref), f.message) for f in verdict.failures] == [
        (
            Reason.TIMEOUT,
            "Deployment.apps shop/web",
            "not healthy after 30s; last: Progressing: 0 of 1 updated replicas available",
        ),
    ]
    assert "apply Ingress/web" not in cluster.writes

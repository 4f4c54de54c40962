"""The Argo CD -> fleet mapping, field by field (fleet.config.argocd), as tables."""

from __future__ import annotations

import copy
import json
from io import StringIO
from typing import Any

import pytest
from ruamel.yaml import YAML

from fleet.cli.import_argocd import parse_embedded_yaml
from fleet.config.argocd import ArgoImportError, ArgoObject, ImportResult, convert

REPO = "https://github.com/argoproj/argocd-example-apps.git"


def application(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": "guestbook"},
        "spec": {
            "source": {"repoURL": REPO, "targetRevision": "main", "path": "guestbook"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
        },
    }
    for key, value in spec.items():
        if key == "metadata":
            body["metadata"].update(value)
        elif key in body["spec"] and isinstance(value, dict):
            body["spec"][key] = {**body["spec"][key], **value}
        else:
            body["spec"][key] = value
    return body


def run(*bodies: dict[str, Any], credentials_dir: str | None = None) -> ImportResult:
    objects = [ArgoObject("argo.yaml", index + 1, body) for index, body in enumerate(bodies)]
    return convert(objects, parse_embedded_yaml, credentials_dir)


def data(result: ImportResult) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(result.document))
    return plain


def app_of(*bodies: dict[str, Any]) -> dict[str, Any]:
    apps: list[dict[str, Any]] = data(run(*bodies))["apps"]
    return apps[0]


def dumped(result: ImportResult) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = StringIO()
    yaml.dump(result.document, out)
    return out.getvalue()


# -- applications ------------------------------------------------------------------------

APP_FIELDS: list[tuple[str, dict[str, Any], str, Any]] = [
    ("path and namespace", {}, "path", "guestbook"),
    ("an empty path is the root", {"source": {"path": ""}}, "path", "."),
    ("destination namespace", {}, "namespace", "web"),
    ("in-cluster destination", {}, "clusters", {"names": ["in-cluster"]}),
    ("no automated: manual", {}, "syncPolicy", None),
    (
        "automated with prune and selfHeal",
        {"syncPolicy": {"automated": {"prune": True, "selfHeal": True}}},
        "syncPolicy",
        {"automated": True, "prune": True, "selfHeal": True},
    ),
    (
        "automated: {} is on, without prune",
        {"syncPolicy": {"automated": {}}},
        "syncPolicy",
        {"automated": True},
    ),
    (
        "automated enabled: false is off",
        {"syncPolicy": {"automated": {"enabled": False, "prune": True}}},
        "syncPolicy",
        None,
    ),
    (
        "allowEmpty",
        {"syncPolicy": {"automated": {"allowEmpty": True}}},
        "syncPolicy",
        {"automated": True, "allowEmpty": True},
    ),
    (
        "sync options fleet has at app level",
        {
            "syncPolicy": {
                "syncOptions": [
                    "CreateNamespace=true",
                    "PruneLast=true",
                    "RespectIgnoreDifferences=true",
                    "ApplyOutOfSyncOnly=false",
                    "PrunePropagationPolicy=orphan",
                    "ServerSideApply=true",
                ]
            }
        },
        "syncPolicy",
        {
            "createNamespace": True,
            "pruneLast": True,
            "respectIgnoreDifferences": True,
            "applyOutOfSyncOnly": False,
            "prunePropagation": "Orphan",
        },
    ),
    (
        "retry: limit and backoff; a number of seconds is a duration",
        {
            "syncPolicy": {
                "retry": {
                    "limit": 3,
                    "backoff": {"duration": 10, "factor": 3, "maxDuration": "3m0s"},
                }
            }
        },
        "syncPolicy",
        {"retry": {"limit": 3, "backoff": {"duration": "10s", "maxDuration": "3m0s", "factor": 3}}},
    ),
    (
        "ignoreDifferences: a missing group is the core group",
        {
            "ignoreDifferences": [
                {"kind": "ConfigMap", "name": "x", "jsonPointers": ["/data/a"]},
                {"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["hpa"]},
            ]
        },
        "ignoreDifferences",
        [
            {"group": "", "kind": "ConfigMap", "name": "x", "jsonPointers": ["/data/a"]},
            {"group": "apps", "kind": "Deployment", "managedFieldsManagers": ["hpa"]},
        ],
    ),
    (
        "resources finalizer: the app's objects go with it",
        {"metadata": {"finalizers": ["resources-finalizer.argocd.argoproj.io/background"]}},
        "deletionPolicy",
        "delete",
    ),
    ("no finalizer: fleet's default (keep)", {}, "deletionPolicy", None),
    ("project default: Argo CD's open project", {"project": "default"}, "project", "default"),
    ("Kustomize source", {"source": {"kustomize": {}}}, "renderer", "kustomize"),
    ("directory source", {"source": {"directory": {"recurse": True}}}, "renderer", "plain"),
    ("no hint: fleet detects the renderer", {}, "renderer", None),
]


@pytest.mark.parametrize(
    ("spec", "key", "expected"),
    [(s, k, e) for _, s, k, e in APP_FIELDS],
    ids=[row[0] for row in APP_FIELDS],
)
def test_application_fields(spec: dict[str, Any], key: str, expected: Any) -> None:
    assert app_of(application(**spec)).get(key) == expected


HELM: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "values text, valuesObject over it, parameters over both",
        {
            "values": "a: 1\nb: {c: x}\n",
            "valuesObject": {"a": 2},
            "parameters": [{"name": "b.c", "value": "y"}],
        },
        {"values": {"a": 2, "b": {"c": "y"}}},
    ),
    (
        "parameters are typed as helm --set types them, unless forceString",
        {
            "parameters": [
                {"name": "replicas", "value": "3"},
                {"name": "debug", "value": "true"},
                {"name": "tag", "value": "1.10"},
                {"name": "port", "value": "8080", "forceString": True},
                {"name": "a\\.b", "value": "dotted"},
            ]
        },
        {"values": {"replicas": 3, "debug": True, "tag": "1.10", "port": "8080", "a.b": "dotted"}},
    ),
    (
        "values files in the repository only, release name",
        {"valueFiles": ["values-prod.yaml", "$values/other.yaml"], "releaseName": "rel"},
        {"releaseName": "rel", "valuesFiles": ["values-prod.yaml"]},
    ),
]


@pytest.mark.parametrize(
    ("helm", "expected"), [(h, e) for _, h, e in HELM], ids=[row[0] for row in HELM]
)
def test_helm_source(helm: dict[str, Any], expected: dict[str, Any]) -> None:
    app = app_of(application(source={"helm": helm}))
    assert app["renderer"] == "helm"
    assert app["helm"] == expected


REVISIONS: list[tuple[str, dict[str, str]]] = [
    ("HEAD", {"branch": "main"}),
    ("", {"branch": "main"}),
    ("release-1.x-fixes", {"branch": "release-1.x-fixes"}),
    ("refs/heads/dev", {"branch": "dev"}),
    ("refs/tags/v1", {"tag": "v1"}),
    ("v1.2.3", {"tag": "v1.2.3"}),
    ("2" * 40, {"commit": "2" * 40}),
]


@pytest.mark.parametrize(("revision", "ref"), REVISIONS, ids=[r or "empty" for r, _ in REVISIONS])
def test_target_revision(revision: str, ref: dict[str, str]) -> None:
    (source,) = data(run(application(source={"targetRevision": revision})))["sources"]
    assert {k: v for k, v in source.items() if k in ("branch", "tag", "commit")} == ref


def test_apps_on_one_repository_share_a_source_per_revision() -> None:
    other = application(metadata={"name": "other"}, source={"targetRevision": "v2.0.0"})
    third = application(metadata={"name": "third"})
    sources = data(run(application(), other, third))["sources"]
    assert [(s["name"], s.get("branch") or s.get("tag")) for s in sources] == [
        ("argocd-example-apps", "main"),
        ("argocd-example-apps-v2.0.0", "v2.0.0"),
    ]


def test_ssh_repository_names_its_key_files() -> None:
    (source,) = data(run(application(source={"repoURL": "git@github.com:org/repo.git"})))["sources"]
    assert source["auth"] == {
        "sshKeyFile": "/etc/fleet/keys/repo",
        "knownHostsFile": "/etc/fleet/known_hosts",
    }


# -- what is not carried: comments, and objects left out ---------------------------------

NOT_CARRIED: list[tuple[str, dict[str, Any], str]] = [
    (
        "Replace at app level",
        {"syncPolicy": {"automated": {}, "syncOptions": ["Replace=true"]}},
        "# syncOptions Replace=true: not carried",
    ),
    ("Validate=false", {"syncPolicy": {"syncOptions": ["Validate=false"]}}, "Validate=false"),
    (
        "jq expressions",
        {"ignoreDifferences": [{"kind": "X", "jqPathExpressions": [".a"]}]},
        "ignoreDifferences[0].jqPathExpressions: not carried",
    ),
    ("retry forever", {"syncPolicy": {"retry": {"limit": -1}}}, "retry.limit -1: not carried"),
    (
        "Kustomize options",
        {"source": {"kustomize": {"namePrefix": "p-"}}},
        "source.kustomize.namePrefix: not carried",
    ),
    (
        "Helm options",
        {"source": {"helm": {"skipCrds": True}}},
        "source.helm.skipCrds: not carried",
    ),
    (
        "an unknown spec field",
        {"revisionHistoryLimit": 3},
        "spec.revisionHistoryLimit: not carried",
    ),
    ("labels", {"metadata": {"labels": {"team": "a"}}}, "metadata.labels.team: not carried"),
    (
        "managed namespace metadata",
        {"syncPolicy": {"managedNamespaceMetadata": {"labels": {"a": "b"}}}},
        "syncPolicy.managedNamespaceMetadata: not carried",
    ),
    (
        "a second source",
        {"sources": [{"repoURL": REPO, "path": "a"}, {"repoURL": REPO, "ref": "values"}]},
        "spec.sources: " + REPO + " (ref values) not carried",
    ),
]


@pytest.mark.parametrize(
    ("spec", "comment"), [(s, c) for _, s, c in NOT_CARRIED], ids=[r[0] for r in NOT_CARRIED]
)
def test_fields_not_carried_become_comments(spec: dict[str, Any], comment: str) -> None:
    body = application(**spec)
    if "sources" in spec:
        del body["spec"]["source"]
    text = dumped(run(body))
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("#")]
    assert any(comment.removeprefix("# ") in line for line in lines), text


def test_a_comment_sits_above_the_key_it_is_about() -> None:
    text = dumped(run(application(syncPolicy={"automated": {}, "syncOptions": ["Replace=true"]})))
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if "syncOptions Replace=true" in line)
    assert lines[at].startswith("    # ")
    assert lines[at + 2].strip() == "syncPolicy:" or lines[at + 1].strip() == "syncPolicy:"


LEFT_OUT: list[tuple[str, dict[str, Any], str]] = [
    (
        "a Helm chart from a chart repository",
        application(source={"chart": "redis", "repoURL": "https://charts.example.com"}),
        "fleet renders charts kept in Git",
    ),
    (
        "a version range",
        application(source={"targetRevision": "1.2.*"}),
        "is a version range",
    ),
    (
        "an OCI repository",
        application(source={"repoURL": "oci://registry.example.com/charts/app"}),
        "fleet fetches Git over",
    ),
    (
        "a repository Secret",
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": "repo",
                "labels": {"argocd.argoproj.io/secret-type": "repository"},
            },
        },
        "repository credentials",
    ),
    (
        "a matrix generator",
        {
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "ApplicationSet",
            "metadata": {"name": "m"},
            "spec": {"generators": [{"matrix": {}}], "template": {}},
        },
        "generator matrix",
    ),
    (
        "a Deployment",
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"}},
        "not an Argo CD",
    ),
]


@pytest.mark.parametrize(
    ("body", "why"), [(b, w) for _, b, w in LEFT_OUT], ids=[r[0] for r in LEFT_OUT]
)
def test_objects_left_out_are_listed_at_the_top(body: dict[str, Any], why: str) -> None:
    result = run(body)
    assert len(result.skipped) == 1
    assert why in result.skipped[0]
    assert "argo.yaml:1" in result.skipped[0]
    header = dumped(result).split("\n" + "apps:")[0]
    assert why.split()[0] in header
    assert not data(result).get("apps")


# -- ApplicationSets ---------------------------------------------------------------------


def appset(generator: dict[str, Any], **template_spec: Any) -> dict[str, Any]:
    spec = copy.deepcopy(application()["spec"])
    spec.update(template_spec)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "ApplicationSet",
        "metadata": {"name": "set"},
        "spec": {
            "generators": [generator],
            "template": {"metadata": {"name": "{{name}}-app"}, "spec": spec},
        },
    }


def test_list_generator_with_go_template_and_nested_values() -> None:
    body = appset(
        {
            "list": {
                "elements": [
                    {"name": "a", "values": {"dir": "x"}},
                    {"name": "b", "values": {"dir": "y"}},
                ]
            }
        },
        source={"repoURL": REPO, "targetRevision": "main", "path": "apps/{{ .values.dir }}"},
    )
    body["spec"]["goTemplate"] = True
    body["spec"]["template"]["metadata"]["name"] = "{{.name}}-app"
    apps = data(run(body))["apps"]
    assert [(a["name"], a["path"]) for a in apps] == [("a-app", "apps/x"), ("b-app", "apps/y")]


def test_list_element_missing_a_placeholder_is_left_out() -> None:
    result = run(appset({"list": {"elements": [{"other": "a"}]}}))
    assert "{{name}} not given by the element" in result.skipped[0]


def test_cluster_generator_is_one_app_with_a_selector() -> None:
    body = appset(
        {
            "clusters": {
                "selector": {
                    "matchLabels": {"env": "prod"},
                    "matchExpressions": [{"key": "region", "operator": "In", "values": ["eu"]}],
                },
                "values": {"tier": "gold"},
            }
        },
        source={
            "repoURL": REPO,
            "targetRevision": "main",
            "path": "{{metadata.labels.region}}/{{values.tier}}",
        },
        destination={"server": "{{server}}", "namespace": "web"},
    )
    (app,) = data(run(body))["apps"]
    assert app["name"] == "set"
    assert app["path"] == "{cluster.labels.region}/gold"
    assert app["clusters"] == {
        "matchLabels": {"env": "prod"},
        "matchExpressions": [
            {"key": "region", "operator": "In", "values": ["eu"]},
            {"key": "region", "operator": "Exists"},  # the path needs it on every cluster
        ],
    }


def test_cluster_generator_placeholder_without_equivalent_is_left_out() -> None:
    body = appset({"clusters": {}}, source={"repoURL": REPO, "path": "{{server}}"})
    result = run(body)
    assert "{{server}} has no fleet equivalent" in result.skipped[0]


# -- projects ----------------------------------------------------------------------------


def project(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AppProject",
        "metadata": {"name": "team"},
        "spec": spec,
    }


PROJECTS: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "source globs match imported sources; destinations give clusters and namespaces",
        {
            "sourceRepos": ["https://github.com/argoproj/*"],
            "destinations": [{"server": "https://kubernetes.default.svc", "namespace": "web-*"}],
        },
        {
            "sources": ["argocd-example-apps"],
            "clusters": {"names": ["in-cluster"]},
            "namespaces": ["web-*"],
        },
    ),
    (
        "every source, every cluster",
        {"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]},
        {"sources": ["*"], "namespaces": ["*"]},
    ),
    (
        "white- and blacklists",
        {
            "sourceRepos": ["*"],
            "destinations": [{"name": "in-cluster", "namespace": "web"}],
            "clusterResourceWhitelist": [{"group": "", "kind": "Namespace"}],
            "namespaceResourceWhitelist": [{"group": "apps", "kind": "*"}],
            "namespaceResourceBlacklist": [{"group": "", "kind": "ResourceQuota"}],
            "clusterResourceBlacklist": [{"group": "rbac.authorization.k8s.io", "kind": "*"}],
        },
        {
            "sources": ["*"],
            "clusters": {"names": ["in-cluster"]},
            "namespaces": ["web"],
            "kinds": {
                "allow": ["apps/*"],
                "deny": ["/ResourceQuota", "rbac.authorization.k8s.io/*"],
            },
            "clusterKinds": ["/Namespace"],
        },
    ),
]


@pytest.mark.parametrize(
    ("spec", "expected"), [(s, e) for _, s, e in PROJECTS], ids=[r[0] for r in PROJECTS]
)
def test_app_project(spec: dict[str, Any], expected: dict[str, Any]) -> None:
    result = data(run(application(project="team"), project(**spec)))
    (team,) = result["projects"]
    assert team == {"name": "team", **expected}
    assert result["apps"][0]["project"] == "team"


def test_default_project_is_written_open_when_not_imported() -> None:
    (default,) = data(run(application(project="default")))["projects"]
    assert default == {
        "name": "default",
        "sources": ["*"],
        "namespaces": ["*"],
        "clusterKinds": ["*"],
    }


# -- cluster Secrets ---------------------------------------------------------------------


def cluster_secret(name: str, config: dict[str, Any], **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"{name}-secret",
            "labels": {"argocd.argoproj.io/secret-type": "cluster", **labels},
        },
        "stringData": {
            "name": name,
            "server": f"https://{name}.example.com",
            "config": json.dumps(config),
        },
    }


def test_cluster_with_a_token_and_no_credentials_dir_names_where_it_goes() -> None:
    result = run(cluster_secret("prod", {"bearerToken": "s3cr3t"}, env="prod"))
    (cluster,) = data(result)["clusters"]
    assert cluster == {
        "name": "prod",
        "labels": {"env": "prod"},
        "server": "https://prod.example.com",
        "tokenFile": "/etc/fleet/clusters/prod/token",
    }
    assert result.credentials == []
    text = dumped(result)
    assert "s3cr3t" not in text
    assert "write config.bearerToken of this Secret to /etc/fleet/clusters/prod/token" in " ".join(
        line.strip("# ") for line in text.splitlines()
    )


def test_cluster_credentials_go_to_files_when_asked() -> None:
    result = run(
        cluster_secret("prod", {"bearerToken": "s3cr3t", "tlsClientConfig": {"caData": "Y2E="}}),
        credentials_dir="creds",
    )
    (cluster,) = data(result)["clusters"]
    assert (cluster["tokenFile"], cluster["caFile"]) == ("creds/prod.token", "creds/prod.ca.crt")
    assert {f.name: f.content for f in result.credentials} == {
        "prod.ca.crt": b"ca",
        "prod.token": b"s3cr3t",
    }


def test_client_certificates_and_exec_become_a_kubeconfig() -> None:
    config = {
        "tlsClientConfig": {"certData": "Y2VydA==", "keyData": "a2V5"},
        "execProviderConfig": {
            "command": "argocd-k8s-auth",
            "args": ["gcp"],
            "apiVersion": "client.authentication.k8s.io/v1beta1",
        },
    }
    result = run(cluster_secret("gke", config), credentials_dir="creds")
    (cluster,) = data(result)["clusters"]
    assert (cluster["kubeconfig"], cluster["context"]) == ("creds/gke.kubeconfig", "gke")
    (file,) = result.credentials
    kubeconfig = json.loads(file.content)
    assert kubeconfig["users"][0]["user"]["client-key-data"] == "a2V5"
    assert kubeconfig["users"][0]["user"]["exec"]["command"] == "argocd-k8s-auth"
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://gke.example.com"


def test_invalid_labels_are_noted_not_carried() -> None:
    result = run(cluster_secret("c", {"bearerToken": "t"}, **{"bad key!": "x"}))
    assert "labels" not in data(result)["clusters"][0]
    assert "label bad key!=x: not carried" in dumped(result)


def test_destination_by_name_finds_the_secret_and_unknown_servers_get_a_cluster() -> None:
    secret = cluster_secret("prod", {"bearerToken": "t"})
    by_name = application(destination={"name": "prod", "server": ""})
    unknown = application(metadata={"name": "b"}, destination={"server": "https://10.0.0.1:6443"})
    result = data(run(secret, by_name, unknown))
    assert [a["clusters"] for a in result["apps"]] == [{"names": ["prod"]}, {"names": ["10.0.0.1"]}]
    assert result["clusters"][1] == {
        "name": "10.0.0.1",
        "server": "https://10.0.0.1:6443",
        "tokenFile": "/etc/fleet/clusters/10.0.0.1/token",
    }


# -- bad input ---------------------------------------------------------------------------

BAD: list[tuple[str, dict[str, Any], str]] = [
    (
        "Secret data not base64",
        {**cluster_secret("c", {}), "data": {"server": "***"}},
        "Secret c-secret (argo.yaml:1): data.server is not base64",
    ),
    (
        "cluster config not JSON",
        {**cluster_secret("c", {}), "stringData": {"server": "https://c", "config": "{"}},
        "Secret c-secret (argo.yaml:1): config is not JSON",
    ),
    (
        "Helm values text that is not a mapping",
        application(source={"helm": {"values": "- a\n- b\n"}}),
        "Application guestbook (argo.yaml:1): spec.source.helm.values is not a mapping",
    ),
    (
        "an Application without a name",
        application(metadata={"name": ""}),
        "metadata.name is missing",
    ),
]


@pytest.mark.parametrize(("body", "message"), [(b, m) for _, b, m in BAD], ids=[r[0] for r in BAD])
def test_bad_input_is_an_error_naming_the_object(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ArgoImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        run(body)


def test_git_directories_need_fleet_generators() -> None:
    body = appset(
        {"git": {"repoURL": REPO, "revision": "HEAD", "directories": [{"path": "apps/*"}]}},
        source={"repoURL": REPO, "targetRevision": "HEAD", "path": "{{path}}"},
    )
    body["spec"]["template"]["metadata"]["name"] = "{{path.basename}}"
    objects = [ArgoObject("argo.yaml", 1, body)]
    with_generators = data(convert(objects, parse_embedded_yaml))
    assert with_generators["generators"][0]["gitDirectories"]["include"] == ["apps/*"]
    without = convert(objects, parse_embedded_yaml, generators_supported=False)
    assert "generators" not in data(without)
    assert "needs fleet's generators" in without.skipped[0]


WINDOWS: list[tuple[str, dict[str, Any], list[dict[str, Any]]]] = [
    (
        "one selector: one window naming the project's matching apps",
        {"kind": "deny", "schedule": "0 22 * * *", "duration": "1h", "applications": ["g*"]},
        [
            {
                "name": "team-0",
                "kind": "deny",
                "schedule": "0 22 * * *",
                "duration": "1h",
                "applications": ["guestbook"],
            }
        ],
    ),
    (
        "selectors Argo CD ORs: one window each, clusters by fleet name",
        {
            "kind": "allow",
            "schedule": "0 1 * * *",
            "duration": "2h",
            "manualSync": True,
            "namespaces": ["web"],
            "clusters": ["https://kubernetes.default.svc"],
        },
        [
            {
                "name": "team-0-clusters",
                "kind": "allow",
                "schedule": "0 1 * * *",
                "duration": "2h",
                "manualSync": True,
                "applications": ["guestbook", "other"],
                "clusters": ["in-cluster"],
            },
            {
                "name": "team-0-namespaces",
                "kind": "allow",
                "schedule": "0 1 * * *",
                "duration": "2h",
                "manualSync": True,
                "applications": ["guestbook", "other"],
                "namespaces": ["web"],
            },
        ],
    ),
    (
        "andOperator: one window with every selector",
        {
            "kind": "deny",
            "schedule": "0 1 * * *",
            "duration": "1h",
            "timeZone": "Europe/Berlin",
            "andOperator": True,
            "applications": ["other"],
            "namespaces": ["web"],
        },
        [
            {
                "name": "team-0",
                "kind": "deny",
                "schedule": "0 1 * * *",
                "duration": "1h",
                "timeZone": "Europe/Berlin",
                "applications": ["other"],
                "namespaces": ["web"],
            }
        ],
    ),
    (
        "no app of the project matches: no window",
        {"kind": "deny", "schedule": "0 1 * * *", "duration": "1h", "applications": ["x*"]},
        [],
    ),
]


@pytest.mark.parametrize(
    ("window", "expected"), [(w, e) for _, w, e in WINDOWS], ids=[r[0] for r in WINDOWS]
)
def test_project_sync_windows(window: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    apps = [
        application(project="team"),
        application(project="team", metadata={"name": "other"}),
        application(project="default", metadata={"name": "outside"}),
    ]
    body = project(sourceRepos=["*"], destinations=[{"server": "*"}], syncWindows=[window])
    result = data(run(*apps, body))
    assert result.get("syncWindows", []) == expected


def test_a_git_generator_on_a_version_range_is_left_out() -> None:
    git = {"repoURL": REPO, "revision": ">=1.0.0", "directories": [{"path": "apps/*"}]}
    body = appset({"git": git}, source={"repoURL": REPO, "path": "{{path}}"})
    body["spec"]["template"]["metadata"]["name"] = "{{path.basename}}"
    result = run(body)
    assert "is a version range" in result.skipped[0]
    assert "generators" not in data(result)

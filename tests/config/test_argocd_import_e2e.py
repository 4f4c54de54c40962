"""``fleet import argocd`` on manifests written from Argo CD's documented examples, then
``fleet validate`` and ``fleet render`` on what it wrote, against a real Git repository
(file://) holding the paths those manifests name."""

from __future__ import annotations

import json
import stat
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from fleet.cli import main
from tests.support.gitrepos import WorkRepo, init_bare


def _kustomize_missing() -> str | None:
    from fleet.adapters.render import RendererUnavailableError, find_backend

    try:
        find_backend("auto")
    except RendererUnavailableError as exc:
        return str(exc)
    return None


# The examples include a Kustomize app; without a Kustomize backend it cannot render.
pytestmark = pytest.mark.skipif(
    _kustomize_missing() is not None, reason=f"no Kustomize: {_kustomize_missing()}"
)
MANIFESTS = Path(__file__).parent / "argocd_manifests"
EXAMPLE_REPO = "https://github.com/argoproj/argocd-example-apps.git"


def _deployment(name: str, image: str = "nginx:1.27") -> str:
    return f"""
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: {name}}}
        spec:
          replicas: 1
          selector: {{matchLabels: {{app: {name}}}}}
          template:
            metadata: {{labels: {{app: {name}}}}}
            spec: {{containers: [{{name: {name}, image: "{image}"}}]}}
    """


REPOSITORY = {
    "guestbook/deployment.yaml": _deployment("guestbook-ui"),
    "guestbook/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata: {name: guestbook-ui}
        spec: {selector: {app: guestbook-ui}, ports: [{port: 80}]}
    """,
    "helm-guestbook/Chart.yaml": "apiVersion: v2\nname: helm-guestbook\nversion: 0.1.0\n",
    "helm-guestbook/values.yaml": """
        replicaCount: 1
        image: {repository: gcr.io/heptio-images/ks-guestbook-demo, tag: "0.1"}
        service: {type: LoadBalancer}
    """,
    "helm-guestbook/values-production.yaml": "service: {type: NodePort}\n",
    "helm-guestbook/templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}
          labels: {service-type: {{ .Values.service.type }}}
        spec:
          replicas: {{ .Values.replicaCount }}
          selector: {matchLabels: {app: guestbook}}
          template:
            metadata: {labels: {app: guestbook}}
            spec:
              containers:
                - name: guestbook
                  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
    """,
    "kustomize-guestbook/kustomization.yaml": "resources: [deployment.yaml]\n",
    "kustomize-guestbook/deployment.yaml": _deployment("kustomize-guestbook-ui"),
    "list-generator/engineering-dev/app.yaml": _deployment("list-dev"),
    "list-generator/engineering-prod/app.yaml": _deployment("list-prod"),
    "cluster-generator/dev/Chart.yaml": "apiVersion: v2\nname: per-cluster\nversion: 0.1.0\n",
    "cluster-generator/dev/templates/configmap.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: cluster-info}
        data: {cluster: "{{ .Values.clusterName }}"}
    """,
    "addons/metrics/deployment.yaml": _deployment("metrics"),
    "addons/logging/deployment.yaml": _deployment("logging"),
    "addons/exclude-this/deployment.yaml": _deployment("excluded"),
}


@pytest.fixture
def imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    for name in ("FLEET_SETTINGS", "FLEET_STATE_DIR", "FLEET_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    bare = init_bare(tmp_path / "git" / "argocd-example-apps.git")
    work = WorkRepo(tmp_path / "work", bare)
    for path, content in REPOSITORY.items():
        work.write(path, textwrap.dedent(content).lstrip())
    work.commit("the example apps")
    work.push()
    manifests = tmp_path / "argocd"
    manifests.mkdir()
    for source in MANIFESTS.glob("*.yaml"):
        text = source.read_text().replace(EXAMPLE_REPO, f"file://{bare}")
        (manifests / source.name).write_text(text)
    out = tmp_path / "etc" / "fleet.yaml"
    creds = tmp_path / "etc" / "credentials"
    code = main(
        ["import", "argocd", str(manifests), "--out", str(out), "--credentials-dir", str(creds)]
    )
    assert code == 0
    return {"config": out, "credentials": creds, "state": tmp_path / "state"}


def fleet(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_imported_config_is_valid(
    imported: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(imported["config"])
    code, out, _ = fleet(capsys, "validate", "--config", config, "--json")
    report = json.loads(out)
    # Only Argo CD's own cluster lacks its files: they exist in a pod of that cluster.
    missing = [i for i in report["issues"] if "file not found" in i["message"]]
    assert {i["path"].split(".")[0] for i in missing} == {"clusters[2]"}
    assert code == 1
    assert not [i for i in report["issues"] if i not in missing]
    code, out, _ = fleet(capsys, "validate", "--config", config, "--allow-missing-files")
    assert code == 0, out
    assert "valid: 3 clusters, 1 source, 6 apps" in out


def test_credentials_are_files_of_their_own_never_in_the_config(
    imported: dict[str, Path],
) -> None:
    text = imported["config"].read_text()
    assert "token-not-a-real-one" not in text
    assert "BEGIN CERTIFICATE" not in text
    creds = imported["credentials"]
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    files = {p.name: p for p in creds.iterdir()}
    assert sorted(files) == [
        "engineering-dev.ca.crt",
        "engineering-dev.token",
        "engineering-prod.token",
    ]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files.values())
    assert files["engineering-dev.token"].read_text() == "dev-token-not-a-real-one"
    config = yaml.safe_load(text)
    dev = next(c for c in config["clusters"] if c["name"] == "engineering-dev")
    assert dev["tokenFile"] == "credentials/engineering-dev.token"  # relative to fleet.yaml
    assert dev["labels"] == {"env": "dev", "staging": "true"}


def render(
    capsys: pytest.CaptureFixture[str], paths: dict[str, Path], app: str, cluster: str
) -> list[Any]:
    code, out, err = fleet(
        capsys,
        "render",
        app,
        "--cluster",
        cluster,
        "--config",
        str(paths["config"]),
        "--state-dir",
        str(paths["state"]),
        "--json",
    )
    assert code == 0, err
    objects: list[Any] = json.loads(out)
    return objects


RENDERS = [
    ("guestbook", "in-cluster", ["Service/guestbook-ui", "Deployment/guestbook-ui"]),
    ("kustomize-guestbook", "engineering-prod", ["Deployment/kustomize-guestbook-ui"]),
    ("engineering-dev-guestbook", "engineering-dev", ["Deployment/list-dev"]),
    ("engineering-prod-guestbook", "engineering-prod", ["Deployment/list-prod"]),
    ("guestbook-clusters", "engineering-dev", ["ConfigMap/cluster-info"]),
    ("helm-guestbook", "engineering-dev", ["Deployment/guestbook-prod"]),
]


@pytest.mark.parametrize(("app", "cluster", "objects"), RENDERS, ids=[r[0] for r in RENDERS])
def test_every_imported_app_renders(
    imported: dict[str, Path],
    capsys: pytest.CaptureFixture[str],
    app: str,
    cluster: str,
    objects: list[str],
) -> None:
    rendered = render(capsys, imported, app, cluster)
    assert [f"{o['kind']}/{o['metadata']['name']}" for o in rendered] == objects


def test_helm_values_and_parameters_reach_the_chart(
    imported: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (deployment,) = render(capsys, imported, "helm-guestbook", "engineering-dev")
    assert deployment["spec"]["replicas"] == 2  # parameter replicaCount=2, typed
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image.endswith(":0.2")  # parameter image.tag, forceString
    assert deployment["metadata"]["labels"]["service-type"] == "ClusterIP"  # values over file


def test_cluster_generator_values_name_each_cluster(
    imported: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    (configmap,) = render(capsys, imported, "guestbook-clusters", "engineering-dev")
    assert configmap["data"] == {"cluster": "engineering-dev"}
    assert configmap["metadata"]["namespace"] == "guestbook"


def test_git_directory_generator_becomes_a_fleet_generator(
    imported: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = yaml.safe_load(imported["config"].read_text())
    (generator,) = config["generators"]
    assert generator["gitDirectories"] == {
        "source": "argocd-example-apps",
        "include": ["addons/*"],
        "exclude": ["addons/exclude-this"],
    }
    assert generator["template"]["name"] == "{path.basename}"
    assert generator["template"]["path"] == "{path}"
    assert generator["template"]["namespace"] == "{path.basename}"


def test_the_generator_makes_one_app_per_matching_directory(imported: dict[str, Path]) -> None:
    from fleet.config import load_fleet_config
    from fleet.config.expansion import expand_generator

    config = load_fleet_config(imported["config"], missing_files="warning")
    directories = sorted({path.rsplit("/", 1)[0] for path in REPOSITORY})
    expanded = expand_generator(config.generators[0], 0, directories)
    assert not expanded.issues
    apps = {name: (app.path, app.namespace) for name, app in expanded.apps.items()}
    assert apps == {
        "logging": ("addons/logging", "logging"),
        "metrics": ("addons/metrics", "metrics"),
    }

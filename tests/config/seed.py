"""The seed repository of the desired-state tests, written into a real Git repository.

``apps/web``: a Kustomize base (Deployment, Service) with dev, staging and prod overlays
that differ in replicas and resource limits; ``charts/api``: a Helm chart with values
per environment and a pre-install hook Job; ``apps/plain``: plain manifests.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from tests.support.gitrepos import WorkRepo, init_bare

REPLICAS = {"dev": 1, "staging": 2, "prod": 3}
MEMORY = {"dev": "64Mi", "staging": "128Mi", "prod": "256Mi"}


def _files() -> dict[str, str]:
    files = {
        "apps/web/base/kustomization.yaml": """
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources: [deployment.yaml, service.yaml]
        """,
        "apps/web/base/deployment.yaml": """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 1
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec:
                  containers:
                    - name: web
                      image: nginx:1.27
                      resources: {limits: {memory: 32Mi}}
        """,
        "apps/web/base/service.yaml": """
            apiVersion: v1
            kind: Service
            metadata: {name: web}
            spec:
              selector: {app: web}
              ports: [{port: 80}]
        """,
        "charts/api/Chart.yaml": """
            apiVersion: v2
            name: api
            version: 0.1.0
        """,
        "charts/api/values.yaml": """
            replicas: 1
            region: none
        """,
        "charts/api/values-dev.yaml": "replicas: 1\n",
        "charts/api/values-staging.yaml": "replicas: 2\n",
        "charts/api/values-prod.yaml": "replicas: 4\n",
        "charts/api/templates/deployment.yaml": """
            apiVersion: apps/v1
            kind: Deployment
            metadata:
              name: {{ .Release.Name }}
              labels: {region: {{ .Values.region | quote }}}
            spec:
              replicas: {{ .Values.replicas }}
              selector: {matchLabels: {app: api}}
              template:
                metadata: {labels: {app: api}}
                spec:
                  containers: [{name: api, image: "api:1"}]
        """,
        "charts/api/templates/migrate.yaml": """
            apiVersion: batch/v1
            kind: Job
            metadata:
              name: {{ .Release.Name }}-migrate
              annotations:
                helm.sh/hook: pre-install
            spec:
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: migrate, image: "api:1"}]
        """,
        "apps/plain/config.yaml": """
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: plain}
            data: {greeting: hello}
            ---
            apiVersion: v1
            kind: Namespace
            metadata: {name: plain}
        """,
        "apps/plain/README.md": "not a manifest\n",
    }
    for env, replicas in REPLICAS.items():
        files[f"apps/web/overlays/{env}/kustomization.yaml"] = """
            apiVersion: kustomize.config.k8s.io/v1beta1
            kind: Kustomization
            resources: [../../base]
            patches:
              - path: replicas.yaml
        """
        files[f"apps/web/overlays/{env}/replicas.yaml"] = f"""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {{name: web}}
            spec:
              replicas: {replicas}
              template:
                spec:
                  containers:
                    - name: web
                      resources: {{limits: {{memory: {MEMORY[env]}}}}}
        """
    return files


def seed_repository(tmp_path: Path) -> tuple[WorkRepo, Path]:
    """A bare repository holding the seed layout on ``main``, and its working copy."""
    bare = init_bare(tmp_path / "git" / "platform.git")
    work = WorkRepo(tmp_path / "work", bare)
    for relative, text in _files().items():
        work.write(relative, textwrap.dedent(text).lstrip("\n"))
    work.commit("seed: web overlays, api chart, plain manifests")
    work.push()
    return work, bare


FLEET_CONFIG = """\
clusters:
  - {{name: dev-1, server: "https://127.0.0.1:6443", tokenFile: token, labels: {{env: dev}}}}
  - {{name: staging-1, server: "https://127.0.0.1:6444", tokenFile: token,
     labels: {{env: staging}}}}
  - {{name: prod-eu-1, server: "https://127.0.0.1:6445", tokenFile: token,
     labels: {{env: prod, region: eu}}}}
sources:
  - name: platform
    url: {url}
    branch: main
apps:
  - name: web
    source: platform
    path: apps/web/overlays/{{cluster.labels.env}}
    namespace: web
  - name: api
    source: platform
    path: charts/api
    renderer: helm
    namespace: api
    helm:
      valuesFiles: ["values-{{cluster.labels.env}}.yaml"]
      valuesByLabel: {{region: {{eu: {{region: eu}}}}}}
  - name: plain
    source: platform
    path: apps/plain
    namespace: plain
    clusters: {{matchLabels: {{env: prod}}}}
"""


def write_fleet_config(directory: Path, bare: Path) -> Path:
    """``fleet.yaml`` for the seed repository, with its token file, in ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "token").write_text("not-a-real-token\n")
    (directory / "token").chmod(0o600)
    path = directory / "fleet.yaml"
    path.write_text(FLEET_CONFIG.format(url=bare.as_uri()))
    return path

"""The seed repository layout, written into tmp_path, and the Kustomize backends to test."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from fleet.adapters.render import Renderer, RendererUnavailableError, find_backend


def write(root: Path, rel: str, text: str) -> Path:
    """Write dedented ``text`` at ``root/rel``, creating directories."""
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(text).lstrip("\n"))
    return target


BASE = {
    "apps/web/base/kustomization.yaml": """
        apiVersion: kustomize.config.k8s.io/v1beta1
        kind: Kustomization
        resources:
          - deployment.yaml
          - service.yaml
        labels:
          - pairs: {app: web}
    """,
    "apps/web/base/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: 1
          selector:
            matchLabels: {app: web}
          template:
            metadata:
              labels: {app: web}
            spec:
              containers:
                - name: web
                  image: nginx:1.27
                  resources:
                    limits: {cpu: 100m, memory: 64Mi}
    """,
    "apps/web/base/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          selector: {app: web}
          ports:
            - port: 80
    """,
}

OVERLAY = """
    apiVersion: kustomize.config.k8s.io/v1beta1
    kind: Kustomization
    resources:
      - ../../base
    namePrefix: {env}-
    patches:
      - target: {{kind: Deployment, name: web}}
        patch: |-
          - op: replace
            path: /spec/replicas
            value: {replicas}
          - op: replace
            path: /spec/template/spec/containers/0/resources/limits/cpu
            value: {cpu}
    configMapGenerator:
      - name: settings
        literals: [ENV={env}]
"""

#: env -> (replicas, cpu limit)
ENVIRONMENTS = {"dev": (1, "100m"), "staging": (2, "250m"), "prod": (5, "1500m")}

CHART = {
    "apps/api/chart/Chart.yaml": """
        apiVersion: v2
        name: api
        version: 0.1.0
    """,
    "apps/api/chart/values.yaml": """
        replicas: 1
        image: {repository: api, tag: "1.0"}
        resources: {limits: {cpu: 100m}}
    """,
    "apps/api/chart/templates/_helpers.tpl": """
        {{- define "api.fullname" -}}{{ .Release.Name }}-api{{- end -}}
    """,
    "apps/api/chart/templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ include "api.fullname" . }}
        spec:
          replicas: {{ .Values.replicas }}
          template:
            spec:
              containers:
                - name: api
                  image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
                  resources: {{ toJson .Values.resources }}
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: {{ include "api.fullname" . }}
          namespace: {{ .Release.Namespace }}
        spec:
          ports: [{port: 80}]
    """,
    "apps/api/chart/templates/migrate-job.yaml": """
        apiVersion: batch/v1
        kind: Job
        metadata:
          name: {{ include "api.fullname" . }}-migrate
          annotations:
            helm.sh/hook: pre-install
            helm.sh/hook-weight: "-5"
            helm.sh/hook-delete-policy: before-hook-creation
        spec:
          template:
            spec:
              restartPolicy: Never
              containers: [{name: migrate, image: "api:{{ .Values.image.tag }}"}]
    """,
    "apps/api/chart/templates/optional.yaml": """
        {{- if .Values.extra }}
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: extra}
        {{- end }}
    """,
    "apps/api/chart/templates/NOTES.txt": """
        Installed {{ .Release.Name }}.
    """,
    "apps/api/chart/crds/widgets.yaml": """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.example.com
        spec:
          group: example.com
          scope: Namespaced
          names: {kind: Widget, plural: widgets}
    """,
    "apps/api/values/dev.yaml": """
        replicas: 1
        image: {tag: "1.1-dev"}
    """,
    "apps/api/values/prod.yaml": """
        replicas: 4
        resources: {limits: {cpu: "2"}}
    """,
}

PLAIN = {
    "apps/plain/namespace.yaml": """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: tools
    """,
    "apps/plain/config/configmaps.yaml": """
        # two config maps and an empty document
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: first
        data:
          since: 2024-01-01
        ---
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: second
    """,
    "apps/plain/role.json": """
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
         "metadata": {"name": "reader"}, "rules": []}
    """,
    "apps/plain/list.yml": """
        apiVersion: v1
        kind: List
        items:
          - apiVersion: v1
            kind: ServiceAccount
            metadata: {name: robot}
          - apiVersion: v1
            kind: Secret
            metadata: {name: token, namespace: vault}
    """,
    "apps/plain/values.yaml": """
        replicas: 3
        image: nginx
    """,
    "apps/plain/README.md": "# not a manifest\n",
    "apps/plain/.github/workflow.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: hidden}
    """,
    # Present to prove that a plain render never applies it (renderer="plain" is explicit).
    "apps/plain/kustomization.yaml": """
        resources: [namespace.yaml]
    """,
}


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    """A repository root at one commit with the seed layout."""
    root = tmp_path / "repo"
    for files in (BASE, CHART, PLAIN):
        for rel, text in files.items():
            write(root, rel, text)
    for env, (replicas, cpu) in ENVIRONMENTS.items():
        text = OVERLAY.format(env=env, replicas=replicas, cpu=cpu)
        write(root, f"apps/web/overlays/{env}/kustomization.yaml", text)
    return root


KUSTOMIZE_BACKENDS: list[Any] = [
    "pykustomize",
    pytest.param("kubectl", marks=pytest.mark.kubectl),
    "kustomize",
]


def backend_or_skip(name: str) -> Renderer:
    """A renderer using the named Kustomize backend, or a skip when it is not installed."""
    if name != "pykustomize" and shutil.which(name) is None:
        pytest.skip(f"{name} is not installed")
    try:
        find_backend(name)  # type: ignore[arg-type]
    except RendererUnavailableError:
        pytest.skip(f"{name} is not available on this host")
    return Renderer(kustomize_backend=name)  # type: ignore[arg-type]

"""Workloads using a Secret of the app get a keyed checksum of its data on their pod
template, which changes with the data and only with it."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from fleet.engine.secret_checksums import ANNOTATION, with_secret_checksums
from fleet.model.manifests import Manifest

KEY = b"k" * 32


def secret(name: str, value: str, namespace: str = "web") -> Manifest:
    body = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"token": base64.b64encode(value.encode()).decode()},
    }
    return Manifest.from_body(body)


def pod_spec(use: str, name: str) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "app", "image": "app:1"}
    spec: dict[str, Any] = {"containers": [container]}
    if use == "envFrom":
        container["envFrom"] = [{"secretRef": {"name": name}}]
    elif use == "env":
        container["env"] = [
            {"name": "T", "valueFrom": {"secretKeyRef": {"name": name, "key": "token"}}}
        ]
    elif use == "initContainer env":
        spec["initContainers"] = [{"name": "init", "envFrom": [{"secretRef": {"name": name}}]}]
    elif use == "volume":
        spec["volumes"] = [{"name": "v", "secret": {"secretName": name}}]
    elif use == "projected":
        spec["volumes"] = [{"name": "v", "projected": {"sources": [{"secret": {"name": name}}]}}]
    return spec


def workload(kind: str, spec: dict[str, Any], namespace: str = "web") -> Manifest:
    template = {"metadata": {"labels": {"app": "a"}}, "spec": spec}
    body: dict[str, Any] = {
        "apiVersion": "batch/v1" if kind in ("Job", "CronJob") else "apps/v1",
        "kind": kind,
        "metadata": {"name": "app", "namespace": namespace},
    }
    if kind == "CronJob":
        body["spec"] = {"schedule": "* * * * *", "jobTemplate": {"spec": {"template": template}}}
    else:
        body["spec"] = {"template": template}
    return Manifest.from_body(body)


def checksum(manifest: Manifest) -> str | None:
    spec = manifest.body["spec"]
    if manifest.ref.kind == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    annotations = spec["template"]["metadata"].get("annotations") or {}
    value = annotations.get(ANNOTATION)
    return None if value is None else str(value)


@pytest.mark.parametrize(
    "kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob"]
)
@pytest.mark.parametrize("use", ["envFrom", "env", "initContainer env", "volume", "projected"])
def test_every_way_of_using_a_secret_is_seen(kind: str, use: str) -> None:
    app = workload(kind, pod_spec(use, "db"))
    first = with_secret_checksums([secret("db", "one"), app], KEY)[1]
    again = with_secret_checksums([secret("db", "one"), app], KEY)[1]
    rotated = with_secret_checksums([secret("db", "two"), app], KEY)[1]
    assert str(checksum(first)).startswith("hmac-sha256:")
    assert checksum(first) == checksum(again)
    assert checksum(first) != checksum(rotated)
    assert checksum(app) is None  # the input is not changed


@pytest.mark.parametrize(
    ("manifests", "annotated"),
    [
        pytest.param(
            [secret("db", "x"), workload("Deployment", pod_spec("env", "other"))],
            False,
            id="another secret",
        ),
        pytest.param(
            [secret("db", "x", "elsewhere"), workload("Deployment", pod_spec("env", "db"))],
            False,
            id="same name in another namespace",
        ),
        pytest.param([workload("Deployment", pod_spec("env", "db"))], False, id="no secrets"),
        pytest.param(
            [secret("db", "x"), workload("Deployment", pod_spec("none", "db"))],
            False,
            id="uses nothing",
        ),
    ],
)
def test_only_workloads_using_the_apps_secrets(manifests: list[Manifest], annotated: bool) -> None:
    out = with_secret_checksums(manifests, KEY)
    assert (checksum(out[-1]) is not None) == annotated
    assert out[-1] is manifests[-1]


def test_keyed_and_leaks_nothing() -> None:
    app = workload("Deployment", pod_spec("envFrom", "db"))
    one = with_secret_checksums([secret("db", "hunter2"), app], KEY)[1]
    other_key = with_secret_checksums([secret("db", "hunter2"), app], b"other")[1]
    assert checksum(one) != checksum(other_key)
    assert "hunter2" not in repr(one.body)

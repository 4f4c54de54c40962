"""The benchmark's app: N plain-YAML objects in a real Git repository (file://).

The objects are a Namespace, then Deployments, Services and ConfigMaps in equal shares
(50 objects: 1 + 17 + 16 + 16). A new version changes an environment variable of every
Deployment's pod template and the data of every ConfigMap, so every Deployment rolls
out new pods and the time to healthy includes the simulated readiness delay.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

_GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "fleet bench",
    "GIT_AUTHOR_EMAIL": "bench@fleet.dev",
    "GIT_COMMITTER_NAME": "fleet bench",
    "GIT_COMMITTER_EMAIL": "bench@fleet.dev",
}


@dataclass(frozen=True, slots=True)
class Mix:
    """How many objects of each kind an app of ``total`` objects holds."""

    deployments: int
    services: int
    config_maps: int

    @classmethod
    def of(cls, total: int, deployments: int | None = None) -> Mix:
        """A Namespace, ``deployments`` (default: a third), the rest Services and ConfigMaps."""
        if total < 4:
            raise ValueError("--objects must be at least 4 (a Namespace and one of each kind)")
        rest = total - 1
        if deployments is None:
            deployments = -(-rest // 3)
        if not 0 <= deployments <= rest - 2:
            raise ValueError(f"--deployments must be between 0 and {rest - 2} for {total} objects")
        services = (rest - deployments) // 2
        return cls(deployments, services, rest - deployments - services)

    @property
    def total(self) -> int:
        return 1 + self.deployments + self.services + self.config_maps

    def __str__(self) -> str:
        return (
            f"{self.total} objects (1 Namespace, {self.deployments} Deployments, "
            f"{self.services} Services, {self.config_maps} ConfigMaps)"
        )


def manifests(mix: Mix, version: int, namespace: str, replicas: int = 1) -> dict[str, str]:
    """File name -> YAML text of every object of the app at ``version``."""
    files = {
        "00-namespace.yaml": _dump(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )
    }
    for i in range(mix.deployments):
        labels = {"app": f"web-{i}"}
        files[f"deployment-{i:03}.yaml"] = _dump(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {
                    "name": f"web-{i}",
                    "namespace": namespace,
                    "labels": {"bench": "yes", **labels},
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [
                                {
                                    "name": "web",
                                    "image": "nginx:1.27",
                                    "ports": [{"containerPort": 80}],
                                    "env": [{"name": "VERSION", "value": str(version)}],
                                }
                            ]
                        },
                    },
                },
            }
        )
    for i in range(mix.services):
        files[f"service-{i:03}.yaml"] = _dump(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"web-{i}", "namespace": namespace},
                "spec": {
                    "selector": {"app": f"web-{i}"},
                    "ports": [{"port": 80, "targetPort": 80}],
                },
            }
        )
    for i in range(mix.config_maps):
        files[f"configmap-{i:03}.yaml"] = _dump(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": f"settings-{i}", "namespace": namespace},
                "data": {"version": str(version), "greeting": f"hello from settings {i}"},
            }
        )
    return files


def _dump(obj: dict[str, object]) -> str:
    return yaml.safe_dump(obj, sort_keys=False)


def write_manifests(directory: Path, files: dict[str, str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.yaml"):
        if old.name not in files:
            old.unlink()
    for name, text in files.items():
        (directory / name).write_text(text)


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_IDENTITY},
        check=True,
        capture_output=True,
        text=True,
    )
    return result.stdout.strip()


class GitRepo:
    """A bare repository served over file://, and a clone that commits and pushes to it."""

    def __init__(self, directory: Path, app_path: str) -> None:
        self.bare = directory / "platform.git"
        self.work = directory / "platform"
        self.app_path = app_path
        directory.mkdir(parents=True, exist_ok=True)
        git(directory, "init", "--quiet", "--bare", "-b", "main", str(self.bare))
        git(directory, "clone", "--quiet", str(self.bare), str(self.work))
        git(self.work, "checkout", "--quiet", "-B", "main")

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(self, files: dict[str, str], message: str) -> str:
        """Replace the app's files, commit, push; return the new commit id."""
        write_manifests(self.work / self.app_path, files)
        git(self.work, "add", "-A")
        git(self.work, "commit", "--quiet", "-m", message)
        git(self.work, "push", "--quiet", "origin", "main")
        return git(self.work, "rev-parse", "HEAD")

"""An app: what to render from which source, for which clusters, and how to sync it.

The defaults are the cautious ones: nothing syncs by itself (``automated: false``),
nothing is pruned, drift is reported but not undone, and removing an app from the config
keeps its objects on the clusters. Each is one line to turn on.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Self

from pydantic import Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.clusters import Cluster
from fleet.config.decryption import Decryption
from fleet.config.rollouts import Rollout
from fleet.config.secret_refs import SecretRef
from fleet.config.selectors import ClusterSelector
from fleet.config.templates import TemplateError, check_relative_path, expand, placeholders
from fleet.config.types import LabelKey, LabelValue, Name, PositiveDuration, Share
from fleet.model.health_rules import HealthRuleSet
from fleet.model.ignore_differences import IgnoreDifference

Renderer = Literal["auto", "plain", "kustomize", "helm"]
DeletionPolicy = Literal["keep", "delete"]

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def _template(value: str, what: str) -> str:
    try:
        placeholders(value)
        return check_relative_path(value, what)
    except TemplateError as exc:
        raise PydanticCustomError("template", str(exc)) from None


class ValuesFrom(ConfigModel):
    """A values file from another Git source, read at that source's latest revision.

    As in Argo CD's multi-source apps: a chart from a registry with its values in Git.
    ``path`` is a repository path and may use ``{cluster.name}`` and
    ``{cluster.labels.KEY}``. The app's revision then names both revisions.
    """

    source: Name
    path: str

    @field_validator("path")
    @classmethod
    def _path_template(cls, value: str) -> str:
        return _template(value, "path")


class HelmSettings(ConfigModel):
    """Values files (relative to the chart, i.e. the app path), then inline values.

    Merged in this order, later winning: each values file, each ``valuesFrom`` file
    (another source's), ``values``, then
    ``valuesByLabel`` (for each label key in the order written, the entry for the
    cluster's value of that label), then ``valuesByCluster`` for the cluster's name.
    """

    release_name: str | None = None
    values_files: list[str] = Field(default_factory=list)
    values_from: list[ValuesFrom] = Field(default_factory=list)
    values: dict[str, Any] = Field(default_factory=dict)
    values_by_label: dict[LabelKey, dict[LabelValue, dict[str, Any]]] = Field(default_factory=dict)
    values_by_cluster: dict[Name, dict[str, Any]] = Field(default_factory=dict)

    @field_validator("release_name")
    @classmethod
    def _release_name(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 53 or not _DNS_LABEL.match(value)):
            raise PydanticCustomError(
                "name",
                "invalid release name {shown}: at most 53 lowercase letters, digits and '-'",
                {"shown": repr(value)},
            )
        return value

    @field_validator("values_files")
    @classmethod
    def _values_file_templates(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                placeholders(item)
            except TemplateError as exc:
                raise PydanticCustomError("template", str(exc)) from None
        return value

    def values_for(self, cluster: Cluster) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        layers = [self.values]
        for key, by_value in self.values_by_label.items():
            label = cluster.labels.get(key)
            if label is not None and label in by_value:
                layers.append(by_value[label])
        if cluster.name in self.values_by_cluster:
            layers.append(self.values_by_cluster[cluster.name])
        for layer in layers:
            merged = deep_merge(merged, layer)
        return merged


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's rule: mappings merge key by key, anything else is replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True, slots=True)
class HelmInputs:
    """Helm options for one cluster: repository-relative values files and merged values."""

    release_name: str
    values_files: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    #: (source, repository path) of each ``valuesFrom`` file, templates filled in.
    values_from: list[tuple[str, str]] = field(default_factory=list)


class PruneGuard(ConfigModel):
    """A sync may delete at most ``maxShare`` of the app's objects (when that is at least
    ``minObjects`` objects) unless the sync is confirmed."""

    max_share: Share = 0.5
    min_objects: int = Field(default=3, ge=0)


class Timeouts(ConfigModel):
    #: A step's (phase and wave's) resources becoming healthy.
    wave: PositiveDuration = timedelta(minutes=5)
    #: A step's hooks completing.
    hook: PositiveDuration = timedelta(minutes=10)
    #: Pruned objects being gone.
    prune: PositiveDuration = timedelta(minutes=2)


class Backoff(ConfigModel):
    duration: PositiveDuration = timedelta(seconds=1)
    factor: float = Field(default=2.0, ge=1.0)
    max_duration: PositiveDuration = timedelta(minutes=1)


class Retry(ConfigModel):
    limit: int = Field(default=5, ge=0)
    backoff: Backoff = Field(default_factory=Backoff)


class SyncPolicy(ConfigModel):
    automated: bool = False
    prune: bool = False
    self_heal: bool = False
    allow_empty: bool = False
    #: Prune after the last wave instead of in mirrored wave order.
    prune_last: bool = False
    #: How pruned objects' dependents go: Background, Foreground or Orphan.
    prune_propagation: Literal["Background", "Foreground", "Orphan"] = "Background"
    #: Create the app's namespace when it does not exist (it is never pruned).
    create_namespace: bool = False
    #: Take over live objects fleet did not create for this app (fleet.engine.adoption).
    adopt: bool = False
    #: Apply only objects the dry-run shows out of sync.
    apply_out_of_sync_only: bool = True
    #: Leave ignored fields (ignoreDifferences) out of what is applied too.
    respect_ignore_differences: bool = False
    prune_guard: PruneGuard = Field(default_factory=PruneGuard)
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retry: Retry = Field(default_factory=Retry)


class App(ConfigModel):
    name: Name
    source: Name
    path: str
    renderer: Renderer = "auto"
    helm: HelmSettings | None = None
    namespace: str | None = None
    #: Which clusters get the app; left out, every cluster of the fleet.
    clusters: ClusterSelector = Field(default_factory=ClusterSelector)
    sync_policy: SyncPolicy = Field(default_factory=SyncPolicy)
    ignore_differences: list[IgnoreDifference] = Field(default_factory=list)
    #: Health rules for kinds fleet has no built-in rule for (see fleet.model.health_rules).
    health: list[HealthRuleSet] = Field(default_factory=list)
    depends_on: list[Name] = Field(default_factory=list)
    deletion_policy: DeletionPolicy = "keep"
    rollout: Rollout | None = None
    #: The project bounding what the app may write (fleet.config.projects); None: unbounded.
    project: Name | None = None
    #: SOPS decryption of rendered Secrets with host-side age keys (fleet.config.decryption).
    decryption: Decryption | None = None
    #: Secrets built on the management host from its files (fleet.config.secret_refs).
    secret_refs: list[SecretRef] = Field(default_factory=list)
    #: Roll workloads whose pod template uses a Secret of the app when its data changes.
    secret_checksums: bool = False

    @field_validator("path")
    @classmethod
    def _path_template(cls, value: str) -> str:
        return _template(value, "path")

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str | None) -> str | None:
        if value is not None and (len(value) > 63 or not _DNS_LABEL.match(value)):
            raise PydanticCustomError(
                "name",
                "invalid namespace {shown}: at most 63 lowercase letters, digits and '-'",
                {"shown": repr(value)},
            )
        return value

    @model_validator(mode="after")
    def _secret_refs_placed(self) -> Self:
        seen: set[tuple[str, str]] = set()
        for index, ref in enumerate(self.secret_refs):
            namespace = ref.namespace or self.namespace
            if namespace is None:
                raise PydanticCustomError(
                    "conflict",
                    "secretRefs[{index}] ({name}) needs a namespace (the app sets none)",
                    {"name": ref.name, "index": index, "at": "secretRefs"},
                )
            if (namespace, ref.name) in seen:
                raise PydanticCustomError(
                    "duplicate",
                    "secretRefs[{index}]: secret {namespace}/{name} is listed twice",
                    {"namespace": namespace, "name": ref.name, "index": index, "at": "secretRefs"},
                )
            seen.add((namespace, ref.name))
        return self

    @model_validator(mode="after")
    def _helm_needs_helm(self) -> Self:
        if self.helm is not None and self.renderer not in ("auto", "helm"):
            raise PydanticCustomError(
                "conflict",
                "helm settings given, but the renderer is {renderer}",
                {"renderer": self.renderer, "at": "helm"},
            )
        return self

    def path_for(self, cluster: Cluster) -> str:
        """The app's repository path for ``cluster`` (templates filled in)."""
        return expand(self.path, cluster.name, cluster.labels)

    def helm_for(self, cluster: Cluster) -> HelmInputs:
        """Helm options for ``cluster``: values files made repository-relative."""
        helm = self.helm or HelmSettings()
        chart = self.path_for(cluster)
        files = [
            repository_path(chart, expand(item, cluster.name, cluster.labels))
            for item in helm.values_files
        ]
        return HelmInputs(
            release_name=helm.release_name or self.name,
            values_files=files,
            values=helm.values_for(cluster),
            values_from=[
                (item.source, expand(item.path, cluster.name, cluster.labels))
                for item in helm.values_from
            ],
        )

    def values_sources(self) -> list[str]:
        """The other sources this app's values come from (``helm.valuesFrom``)."""
        names = [item.source for item in self.helm.values_from] if self.helm else []
        return list(dict.fromkeys(name for name in names if name != self.source))


def repository_path(chart: str, relative: str) -> str:
    """``relative`` (a values file) taken from the chart folder, as a repository path."""
    joined = posixpath.normpath(posixpath.join(chart, relative))
    if joined.startswith(("../", "/")) or joined == "..":
        raise TemplateError(f"values file '{relative}' leaves the repository")
    return joined

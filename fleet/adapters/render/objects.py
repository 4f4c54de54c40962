"""From YAML documents to manifests: which documents are objects, and what an object needs.

Rules (documented for users in docs/render.md):

- A document is an object when it is a mapping with ``kind``. It must then have a
  string ``apiVersion`` and ``metadata.name`` (``metadata.generateName`` is enough for a
  hook, whose name the sync makes up).
- A ``*List`` kind with ``items`` is expanded into its items, each checked as above.
- Kustomization and Component files are configuration for Kustomize, never objects.
- Two objects with the same group, kind, namespace and name in one render are an error
  naming both places.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fleet.adapters.render.errors import DuplicateObjectError, InvalidManifestError
from fleet.adapters.render.yamldocs import Document, child_node, item_lines
from fleet.model.manifests import Manifest, Origin
from fleet.model.refs import ObjectRef
from fleet.model.tracking import PREFIX

KUSTOMIZE_API_GROUP = "kustomize.config.k8s.io"

#: Annotations that make an object a hook, which may be named by generateName alone.
HOOK_ANNOTATIONS = ("helm.sh/hook", "argocd.argoproj.io/hook", PREFIX + "hook")


def is_object_like(value: Any) -> bool:
    """A mapping that declares a kind: meant to be a Kubernetes object."""
    return isinstance(value, Mapping) and "kind" in value


def is_kustomization(value: Any) -> bool:
    """A Kustomization or Component document (Kustomize input, never applied)."""
    if not isinstance(value, Mapping):
        return False
    api_version = str(value.get("apiVersion") or "")
    return api_version.startswith(KUSTOMIZE_API_GROUP + "/") or (
        not api_version and value.get("kind") in ("Kustomization", "Component")
    )


def manifests_from(documents: Iterable[Document], origin: Origin) -> list[Manifest]:
    """The objects of a file's documents, Lists expanded; ``origin`` gives path and renderer."""
    manifests: list[Manifest] = []
    for document in documents:
        where = Origin(origin.path, document.line, origin.renderer)
        body = document.value
        if is_kustomization(body):
            continue
        if _is_list(body):
            items_node = child_node(document.node, "items")
            lines = list(item_lines(items_node)) or [document.line] * len(body["items"])
            for item, line in zip(body["items"], lines, strict=False):
                manifests.append(checked_manifest(item, Origin(origin.path, line, origin.renderer)))
        else:
            manifests.append(checked_manifest(body, where))
    return manifests


def _is_list(body: Any) -> bool:
    return (
        isinstance(body, Mapping)
        and str(body.get("kind", "")).endswith("List")
        and isinstance(body.get("items"), list)
    )


def checked_manifest(body: Any, origin: Origin) -> Manifest:
    """A manifest from one object body, or an error saying what it lacks."""

    def fail(reason: str) -> InvalidManifestError:
        return InvalidManifestError(reason, path=origin.path, line=origin.line)

    if not isinstance(body, Mapping):
        raise fail(f"expected a Kubernetes object (a mapping), found {type(body).__name__}")
    kind = body.get("kind")
    if not isinstance(kind, str) or not kind:
        raise fail("document has no kind (every document of a manifest file must be an object)")
    api_version = body.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        raise fail(f"{kind} has no apiVersion")
    metadata = body.get("metadata")
    if not isinstance(metadata, Mapping):
        raise fail(f"{kind} has no metadata")
    name = metadata.get("name")
    if name is not None and not isinstance(name, str):
        raise fail(f"{kind} metadata.name must be a string, found {type(name).__name__}")
    if not name:
        annotations = metadata.get("annotations") or {}
        is_hook = isinstance(annotations, Mapping) and any(
            key in annotations for key in HOOK_ANNOTATIONS
        )
        if not (is_hook and isinstance(metadata.get("generateName"), str)):
            raise fail(f"{kind} has no metadata.name (generateName is allowed on hooks only)")
    namespace = metadata.get("namespace")
    if namespace is not None and not isinstance(namespace, str):
        raise fail(f"{kind} {name} metadata.namespace must be a string")
    return Manifest(ref=ObjectRef.of(dict(body)), body=body, origin=origin)


def reject_duplicates(manifests: Iterable[Manifest]) -> None:
    """Raise on the first object that appears twice, naming both origins."""
    first_seen: dict[ObjectRef, Manifest] = {}
    for manifest in manifests:
        if not manifest.ref.name:
            continue  # generateName hooks get a fresh name at every sync
        earlier = first_seen.setdefault(manifest.ref, manifest)
        if earlier is not manifest:
            raise DuplicateObjectError(
                f"{manifest.ref} is defined twice: here and at {earlier.origin}",
                path=manifest.origin.path,
                line=manifest.origin.line,
            )

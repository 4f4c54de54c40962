"""What a render is asked to do, and what it gives back.

The request is everything a render depends on besides the files themselves: the directory
holding the repository at one commit, the app's path in it, the renderer and its options,
and the values that come from the cluster (namespace, Helm values per cluster label).
Two requests that agree on these and on the content of the files they read produce the
same objects, which is what the render cache relies on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

RendererName = Literal["auto", "plain", "kustomize", "helm"]

#: Gives the content address (a Git tree or blob id) of a repository-relative path.
ContentAddresser = Callable[[str], str]


@dataclass(frozen=True)
class HelmOptions:
    """Helm inputs: values files (repository-relative) then inline values, merged in order."""

    values_files: list[str] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    release_name: str = "release-name"


@dataclass(frozen=True)
class RenderRequest:
    """One app rendered for one cluster.

    ``content_key`` lets the caller vouch for the content instead of having fleet hash
    the files on every render:

    - a string identifies *everything under root* (for example the commit's root tree
      id); a render with the same key and options is served from the cache without
      touching the disk;
    - a callable maps a repository-relative path to its content address (the Git tree
      id of a directory, the blob id of a file); fleet asks it for each input it found
      (for Kustomize, every directory the overlay reaches), so a change elsewhere in the
      repository does not invalidate the render;
    - ``None``: fleet hashes the input files itself.
    """

    root: Path
    path: str
    renderer: RendererName = "auto"
    namespace: str | None = None
    helm: HelmOptions = field(default_factory=HelmOptions)
    content_key: str | ContentAddresser | None = None


@dataclass(frozen=True)
class RenderResult:
    """The objects of one render, in render order, and how they were obtained.

    ``unscoped`` lists objects left without a namespace because their kind is neither a
    built-in nor declared by a CRD in this render, so fleet cannot tell whether it is
    namespaced; the caller may default them with API discovery
    (see :func:`fleet.adapters.render.scopes.default_namespaces`).
    """

    manifests: list[Manifest]
    renderer: Literal["plain", "kustomize", "helm"]
    cache_hit: bool
    cache_key: str
    inputs: tuple[str, ...] = ()
    unscoped: tuple[ObjectRef, ...] = ()

"""One render from start to end, as a render process runs it: plan, render, settle.

Everything here reads the repository and runs the renderers (PyYAML, Helm's and
Kustomize's Go libraries), so it runs in a render process under the limits of
``limits.py`` (see ``isolation.py``); the parent only keys and caches. A
:class:`RenderJob` is what the parent sends: the request (without its content key, which
may be a callable), the plan if the parent made one, and either the name of the
Kustomize backend to build with or the output of a build the parent ran itself (a
backend object given to the :class:`~fleet.adapters.render.Renderer`, as tests do).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from fleet.adapters.render import helm
from fleet.adapters.render.errors import KustomizeBuildError
from fleet.adapters.render.kustomization import (
    KustomizeInputs,
    find_kustomization,
    scan_kustomizations,
)
from fleet.adapters.render.kustomize import (
    BackendName,
    KustomizeBackend,
    find_backend,
    parse_build,
)
from fleet.adapters.render.limits import RenderLimits, applied
from fleet.adapters.render.memtree import memory_tree
from fleet.adapters.render.objects import reject_duplicates
from fleet.adapters.render.plain import manifest_files, render_plain
from fleet.adapters.render.request import RenderRequest
from fleet.adapters.render.sandbox import app_directory
from fleet.adapters.render.scopes import default_namespaces
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

ResolvedRenderer = Literal["plain", "kustomize", "helm"]


@dataclass(frozen=True, slots=True)
class Plan:
    """What a render will do and read, found before it runs (and keys the cache)."""

    renderer: ResolvedRenderer
    directory: str
    inputs: tuple[str, ...]
    kustomize: KustomizeInputs | None = None
    values_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Rendered:
    """A render's objects, namespaces settled, and what it read."""

    renderer: ResolvedRenderer
    manifests: tuple[Manifest, ...]
    inputs: tuple[str, ...]
    unscoped: tuple[ObjectRef, ...]


@dataclass(frozen=True, slots=True)
class RenderJob:
    """A render as sent to a render process."""

    request: RenderRequest
    limits: RenderLimits
    plan: Plan | None = None
    backend: BackendName = "auto"
    #: The output of a Kustomize build the parent ran with a backend object, if any.
    built: str | None = None
    #: Input files to read as these bytes instead (decrypted secrets): never cached,
    #: never written but to a memory-only copy of the tree (``memtree.py``).
    replacements: Mapping[str, bytes] = field(default_factory=dict)


def plan(request: RenderRequest) -> Plan:
    """Find the app directory and the renderer; list (and check) what the render reads."""
    root = request.root
    directory = app_directory(root, request.path)
    renderer = request.renderer
    if renderer == "auto":
        if find_kustomization(root, directory) is not None:
            renderer = "kustomize"
        elif (root / directory / "Chart.yaml").is_file():
            renderer = "helm"
        else:
            renderer = "plain"
    if renderer == "kustomize":
        inputs = scan_kustomizations(root, directory)
        return Plan("kustomize", directory, tuple(inputs.directories), kustomize=inputs)
    if renderer == "helm":
        helm.check_chart(root, directory)
        values_files = tuple(helm.values_file_paths(root, request.helm))
        return Plan("helm", directory, (directory, *values_files), values_files=values_files)
    return Plan("plain", directory, tuple(manifest_files(root, directory)))


def run_job(job: RenderJob) -> Rendered:
    """The objects of ``job``, within its limits (the process limits are set by the caller)."""
    with applied(job.limits):
        request = job.request
        found = job.plan or plan(request)
        root = request.root
        if found.renderer == "plain":
            manifests = render_plain(root, found.directory)
        elif found.renderer == "helm":
            values = helm.merged_values(
                root, list(found.values_files), request.helm.values, job.replacements
            )
            manifests = helm.render_chart(
                root, found.directory, values, request.helm.release_name, request.namespace
            )
        else:
            assert found.kustomize is not None
            if job.built is not None:  # built by the parent (on its own copy, if any)
                manifests = parse_build(job.built, found.kustomize, root)
            else:
                with kustomize_root(root, found.kustomize, job.replacements) as tree:
                    output = build(backend_named(job.backend), tree, found.directory)
                    manifests = parse_build(output, found.kustomize, tree)
        defaulted = default_namespaces(manifests, request.namespace)
        reject_duplicates(defaulted.manifests)
        return Rendered(
            found.renderer, tuple(defaulted.manifests), found.inputs, defaulted.unscoped
        )


@contextmanager
def kustomize_root(
    root: Path, inputs: KustomizeInputs, replacements: Mapping[str, bytes]
) -> Iterator[Path]:
    """The tree a build reads: ``root`` itself, or with replacements a memory-only copy."""
    if not replacements:
        yield root
        return
    reads = [*inputs.directories, *inputs.resource_files, *inputs.secret_files]
    with memory_tree(root, reads, replacements) as tree:
        yield tree


_backends: dict[str, KustomizeBackend] = {}


def backend_named(name: BackendName) -> KustomizeBackend:
    """The Kustomize backend called ``name`` in this process, found once."""
    if name not in _backends:
        _backends[name] = find_backend(name)
    return _backends[name]


def build(backend: KustomizeBackend, root: Path, directory: str) -> str:
    """Run a Kustomize build to its end in this thread; errors name the overlay."""
    overlay = find_kustomization(root, directory) or directory
    try:
        return _loop().run(backend.build(root / directory))
    except KustomizeBuildError as error:
        raise KustomizeBuildError(relative(error.reason, root), path=overlay) from None


_runner: asyncio.Runner | None = None


def _loop() -> asyncio.Runner:
    """One event loop per render process for async backends (a new loop costs ~4 ms)."""
    global _runner
    if _runner is None:
        _runner = asyncio.Runner()
    return _runner


def relative(message: str, root: Path) -> str:
    """Kustomize names files by absolute path; users know them by repository path."""
    for prefix in {str(root), os.path.realpath(root)}:
        message = message.replace(prefix.rstrip("/") + "/", "")
    return message

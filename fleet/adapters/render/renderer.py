"""The render pipeline: plan the inputs, key them, render once, settle namespaces.

1. Plan: find the app directory, pick the renderer (``auto``: a kustomization file means
   Kustomize, a Chart.yaml means Helm, anything else is plain), and list the paths the
   render will read, refusing unsafe input on the way.
2. Key: the request's options plus the content of those paths (see ``fingerprint.py``).
   With a root content key from the caller, a cached render needs no disk access at all.
3. Render once per key (``cache.py``), in worker threads or a subprocess so the event loop
   stays free, at most ``max_concurrent_renders`` at a time.
4. Settle: apply the default namespace (``scopes.py``) and refuse duplicate objects.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar, TypeVarTuple

import anyio
import anyio.to_thread

from fleet.adapters.render import helm
from fleet.adapters.render.cache import SingleFlight, SingleFlightCache
from fleet.adapters.render.errors import KustomizeBuildError, PathNotFoundError
from fleet.adapters.render.fingerprint import key_for_inputs, key_for_root, options_digest
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
from fleet.adapters.render.objects import reject_duplicates
from fleet.adapters.render.plain import manifest_files, render_plain
from fleet.adapters.render.request import RenderRequest, RenderResult
from fleet.adapters.render.sandbox import app_directory, normalize_app_path
from fleet.adapters.render.scopes import default_namespaces
from fleet.model.manifests import Manifest
from fleet.model.refs import ObjectRef

ResolvedRenderer = Literal["plain", "kustomize", "helm"]
T = TypeVar("T")
Args = TypeVarTuple("Args")


@dataclass(frozen=True, slots=True)
class _Plan:
    renderer: ResolvedRenderer
    directory: str
    inputs: tuple[str, ...]
    kustomize: KustomizeInputs | None = None
    values_files: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class _Rendered:
    renderer: ResolvedRenderer
    manifests: tuple[Manifest, ...]
    inputs: tuple[str, ...]
    unscoped: tuple[ObjectRef, ...]


class Renderer:
    """Renders requests, with a cache shared by every request it serves.

    ``kustomize_backend`` picks the Kustomize implementation ("auto" tries pykustomize,
    then a ``kustomize`` binary, then ``kubectl kustomize``); ``build_timeout`` bounds a
    Kustomize build run as a subprocess.
    """

    def __init__(
        self,
        *,
        cache_size: int = 256,
        max_concurrent_renders: int | None = None,
        kustomize_backend: BackendName | KustomizeBackend = "auto",
        build_timeout: float = 120.0,
    ) -> None:
        self.cache: SingleFlightCache[_Rendered] = SingleFlightCache(cache_size)
        self._keying: SingleFlight[tuple[_Plan, str]] = SingleFlight()
        self._limiter = anyio.CapacityLimiter(max_concurrent_renders or os.cpu_count() or 2)
        self._backend_choice = kustomize_backend
        self._backend: KustomizeBackend | None = None
        self._build_timeout = build_timeout

    @property
    def kustomize_backend(self) -> KustomizeBackend:
        """The Kustomize backend, found on first use."""
        if self._backend is None:
            choice = self._backend_choice
            self._backend = find_backend(choice) if isinstance(choice, str) else choice
        return self._backend

    async def render(self, request: RenderRequest) -> RenderResult:
        """The objects of ``request``, from the cache when its inputs were rendered before."""
        if not request.root.is_dir():
            raise PathNotFoundError(f"repository root {request.root} is not a directory")
        path = normalize_app_path(request.path)
        plan: _Plan | None = None
        if isinstance(request.content_key, str):
            key = key_for_root(request, path, request.content_key)
        else:
            # Identical requests arriving together (one overlay, many clusters) plan and
            # hash once; a later request hashes again, since files may have changed.
            identity = f"{request.root}\0{options_digest(request, path)}\0{id(request.content_key)}"
            (plan, key), _ = await self._keying.run(
                identity, lambda: self._in_thread(self._plan_and_key, request)
            )

        async def compute() -> _Rendered:
            return await self._render_fresh(request, plan)

        rendered, hit = await self.cache.get_or_compute(key, compute)
        return RenderResult(
            manifests=list(rendered.manifests),
            renderer=rendered.renderer,
            cache_hit=hit,
            cache_key=key,
            inputs=rendered.inputs,
            unscoped=rendered.unscoped,
        )

    def _plan_and_key(self, request: RenderRequest) -> tuple[_Plan, str]:
        plan = _plan(request)
        addresser = request.content_key if callable(request.content_key) else None
        path = normalize_app_path(request.path)
        return plan, key_for_inputs(request, path, plan.inputs, addresser)

    async def _render_fresh(self, request: RenderRequest, plan: _Plan | None) -> _Rendered:
        if plan is None:
            plan = await self._in_thread(_plan, request)
        root = request.root
        if plan.renderer == "plain":
            manifests = await self._in_thread(render_plain, root, plan.directory)
        elif plan.renderer == "helm":
            manifests = await self._in_thread(_render_helm, request, plan)
        else:
            assert plan.kustomize is not None
            output = await self._build(root, plan.directory)
            manifests = await self._in_thread(parse_build, output, plan.kustomize, root)
        defaulted = default_namespaces(manifests, request.namespace)
        reject_duplicates(defaulted.manifests)
        return _Rendered(plan.renderer, tuple(defaulted.manifests), plan.inputs, defaulted.unscoped)

    async def _build(self, root: Path, directory: str) -> str:
        backend = self.kustomize_backend
        overlay = find_kustomization(root, directory) or directory
        async with self._limiter:
            try:
                with anyio.fail_after(self._build_timeout):
                    return await backend.build(root / directory)
            except TimeoutError:
                raise KustomizeBuildError(
                    f"{backend.name} took longer than {self._build_timeout:g}s", path=overlay
                ) from None
            except KustomizeBuildError as error:
                raise KustomizeBuildError(_relative(error.reason, root), path=overlay) from None

    async def _in_thread(self, function: Callable[[*Args], T], *args: *Args) -> T:
        """Blocking work (file reads, YAML, Helm) off the event loop, within the limit."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)


def _plan(request: RenderRequest) -> _Plan:
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
        return _Plan("kustomize", directory, tuple(inputs.directories), kustomize=inputs)
    if renderer == "helm":
        helm.check_chart(root, directory)
        values_files = tuple(helm.values_file_paths(root, request.helm))
        return _Plan("helm", directory, (directory, *values_files), values_files=values_files)
    return _Plan("plain", directory, tuple(manifest_files(root, directory)))


def _render_helm(request: RenderRequest, plan: _Plan) -> list[Manifest]:
    values = helm.merged_values(request.root, list(plan.values_files), request.helm.values)
    return helm.render_chart(
        request.root, plan.directory, values, request.helm.release_name, request.namespace
    )


def _relative(message: str, root: Path) -> str:
    """Kustomize names files by absolute path; users know them by repository path."""
    for prefix in {str(root), os.path.realpath(root)}:
        message = message.replace(prefix.rstrip("/") + "/", "")
    return message

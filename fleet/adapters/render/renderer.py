"""The render pipeline: plan the inputs, key them, render once, settle namespaces.

1. Plan: find the app directory, pick the renderer (``auto``: a kustomization file means
   Kustomize, a Chart.yaml means Helm, anything else is plain), and list the paths the
   render will read, refusing unsafe input on the way.
2. Key: the request's options plus the content of those paths (see ``fingerprint.py``).
   With a root content key from the caller, a cached render needs no disk access at all.
3. Render once per key (``cache.py``), in a render process under the render limits
   (``isolation.py``, ``limits.py``), so that neither the event loop nor the daemon's
   memory is at the mercy of the repository; at most ``max_concurrent_renders`` at a time.
4. Settle (in the render process too): apply the default namespace (``scopes.py``) and
   refuse duplicate objects.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TypeVar, TypeVarTuple

import anyio
import anyio.to_thread

from fleet.adapters.render import helm
from fleet.adapters.render.cache import SingleFlight, SingleFlightCache
from fleet.adapters.render.errors import KustomizeBuildError, PathNotFoundError
from fleet.adapters.render.fingerprint import key_for_inputs, key_for_root, options_digest
from fleet.adapters.render.isolation import RenderPool, shared_pool
from fleet.adapters.render.kustomization import find_kustomization
from fleet.adapters.render.kustomize import BackendName, KustomizeBackend
from fleet.adapters.render.limits import RenderLimits, applied
from fleet.adapters.render.request import RenderRequest, RenderResult
from fleet.adapters.render.sandbox import normalize_app_path
from fleet.adapters.render.work import (
    Plan,
    Rendered,
    RenderJob,
    kustomize_root,
    plan,
    relative,
)

T = TypeVar("T")
Args = TypeVarTuple("Args")

#: Given an input's repository path and content: its replacement, or None to keep it.
InputOpener = Callable[[str, bytes], bytes | None]

#: The largest secret input read (a values or env file is small).
_MAX_SECRET_INPUT = 4 * 1024 * 1024


class Renderer:
    """Renders requests, with a cache shared by every request it serves.

    ``kustomize_backend`` picks the Kustomize implementation ("auto" tries pykustomize,
    then a ``kustomize`` binary, then ``kubectl kustomize``), found and run in the render
    process; a backend *object* (tests) builds in this process instead, bounded by
    ``build_timeout``, and only its output is parsed in the render process. ``limits``
    bound each render; ``pool`` runs them (the process-wide pool when not given).
    """

    def __init__(
        self,
        *,
        cache_size: int = 256,
        max_concurrent_renders: int | None = None,
        kustomize_backend: BackendName | KustomizeBackend = "auto",
        build_timeout: float = 120.0,
        limits: RenderLimits | None = None,
        pool: RenderPool | None = None,
    ) -> None:
        self.cache: SingleFlightCache[Rendered] = SingleFlightCache(cache_size)
        self._keying: SingleFlight[tuple[Plan, str]] = SingleFlight()
        self.pool = pool or shared_pool()
        self.limits = limits or RenderLimits()
        self._limiter = anyio.CapacityLimiter(max_concurrent_renders or self.pool.size)
        self._backend_choice = kustomize_backend
        self._build_timeout = build_timeout

    async def render(self, request: RenderRequest) -> RenderResult:
        """The objects of ``request``, from the cache when its inputs were rendered before."""
        if not request.root.is_dir():
            raise PathNotFoundError(f"repository root {request.root} is not a directory")
        path = normalize_app_path(request.path)
        found: Plan | None = None
        if isinstance(request.content_key, str):
            key = key_for_root(request, path, request.content_key)
        else:
            # Identical requests arriving together (one overlay, many clusters) plan and
            # hash once; a later request hashes again, since files may have changed.
            identity = f"{request.root}\0{options_digest(request, path)}\0{id(request.content_key)}"
            (found, key), _ = await self._keying.run(
                identity, lambda: self._in_thread(self._plan_and_key, request)
            )

        async def compute() -> Rendered:
            return await self._render_fresh(request, found)

        rendered, hit = await self.cache.get_or_compute(key, compute)
        return RenderResult(
            manifests=list(rendered.manifests),
            renderer=rendered.renderer,
            cache_hit=hit,
            cache_key=key,
            inputs=rendered.inputs,
            unscoped=rendered.unscoped,
        )

    async def render_replacing(
        self, request: RenderRequest, opener: InputOpener
    ) -> RenderResult | None:
        """The render of ``request`` with some inputs replaced, or None if none is.

        Each input that may hold secrets (a Helm values file of the request, a file a
        Kustomize secretGenerator reads) is read and handed to ``opener`` (in a thread),
        which returns its replacement (the decrypted file) or None. A render with
        replacements bypasses the cache: its objects hold the replaced content. Give the
        request its resolved renderer: a Helm request is then planned in the render
        process only (the daemon never loads Helm's library).
        """
        found = (
            None if request.renderer == "helm" else await self._in_thread(self._plan_only, request)
        )
        replacements = await self._in_thread(_replacements, request, found, opener)
        if not replacements:
            return None
        job = RenderJob(
            dataclasses.replace(request, content_key=None),
            self.limits,
            found,
            replacements=replacements,
        )
        backend = self._backend_choice
        if isinstance(backend, str):
            job = dataclasses.replace(job, backend=backend)
        elif found is not None and found.renderer == "kustomize":
            assert found.kustomize is not None
            with kustomize_root(request.root, found.kustomize, replacements) as tree:
                built = await self._build(
                    backend, dataclasses.replace(request, root=tree), found.directory
                )
            job = dataclasses.replace(job, built=built)
        rendered = await self._in_process(job)
        return RenderResult(
            manifests=list(rendered.manifests),
            renderer=rendered.renderer,
            cache_hit=False,
            cache_key="",
            inputs=rendered.inputs,
            unscoped=rendered.unscoped,
        )

    def _plan_and_key(self, request: RenderRequest) -> tuple[Plan, str]:
        with applied(self.limits):
            found = plan(request)
        addresser = request.content_key if callable(request.content_key) else None
        path = normalize_app_path(request.path)
        return found, key_for_inputs(request, path, found.inputs, addresser)

    async def _render_fresh(self, request: RenderRequest, found: Plan | None) -> Rendered:
        # The content key may be a callable, which no process boundary carries.
        job = RenderJob(dataclasses.replace(request, content_key=None), self.limits, found)
        backend = self._backend_choice
        if isinstance(backend, str):
            job = dataclasses.replace(job, backend=backend)
        else:
            if found is None:
                found = await self._in_thread(self._plan_only, request)
            if found.renderer == "kustomize":
                built = await self._build(backend, request, found.directory)
                job = dataclasses.replace(job, plan=found, built=built)
        return await self._in_process(job)

    async def _in_process(self, job: RenderJob) -> Rendered:
        """The job in a render process; a cancelled caller stops the process at once."""
        abandoned = threading.Event()
        try:
            return await anyio.to_thread.run_sync(
                self.pool.run, job, abandoned, abandon_on_cancel=True, limiter=self._limiter
            )
        except anyio.get_cancelled_exc_class():
            abandoned.set()
            raise

    def _plan_only(self, request: RenderRequest) -> Plan:
        with applied(self.limits):
            return plan(request)

    async def _build(
        self, backend: KustomizeBackend, request: RenderRequest, directory: str
    ) -> str:
        root = request.root
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
                raise KustomizeBuildError(relative(error.reason, root), path=overlay) from None

    async def _in_thread(self, function: Callable[[*Args], T], *args: *Args) -> T:
        """Blocking work (file reads, waiting for a render process) off the event loop."""
        return await anyio.to_thread.run_sync(function, *args, limiter=self._limiter)


def _replacements(
    request: RenderRequest, found: Plan | None, opener: InputOpener
) -> dict[str, bytes]:
    """The replaced inputs of a render (see :meth:`Renderer.render_replacing`)."""
    if found is None:
        candidates: tuple[str, ...] = tuple(helm.values_file_paths(request.root, request.helm))
    elif found.renderer == "helm":
        candidates = found.values_files
    elif found.renderer == "kustomize" and found.kustomize is not None:
        candidates = tuple(found.kustomize.secret_files)
    else:
        return {}
    replaced: dict[str, bytes] = {}
    for relative_path in candidates:
        with (request.root / relative_path).open("rb") as handle:
            data = handle.read(_MAX_SECRET_INPUT + 1)
        if len(data) > _MAX_SECRET_INPUT:
            continue  # the render's own file limits refuse it
        replacement = opener(relative_path, data)
        if replacement is not None:
            replaced[relative_path] = replacement
    return replaced

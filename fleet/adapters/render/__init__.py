"""Rendering desired state: a directory at one commit plus an app path -> manifests.

Plain YAML, Kustomize and Helm, offline and confined to the repository, cached by the
content of what they read, run in render processes within :class:`RenderLimits`. Use
:func:`render` (a process-wide :class:`Renderer` and its cache) or a :class:`Renderer` of
your own (tests, a bounded cache per daemon). See docs/render.md for the rules users see.
"""

from __future__ import annotations

from fleet.adapters.render.cache import CacheStats
from fleet.adapters.render.errors import (
    DuplicateObjectError,
    HelmTemplateError,
    InvalidManifestError,
    InvalidYamlError,
    KustomizeBuildError,
    PathNotFoundError,
    RenderError,
    RendererUnavailableError,
    UnsafeInputError,
)
from fleet.adapters.render.isolation import RenderPool
from fleet.adapters.render.kustomize import BackendName, KustomizeBackend, find_backend
from fleet.adapters.render.limits import LimitExceededError, RenderLimits
from fleet.adapters.render.renderer import InputOpener, Renderer
from fleet.adapters.render.request import (
    ContentAddresser,
    HelmOptions,
    RendererName,
    RenderRequest,
    RenderResult,
)
from fleet.adapters.render.scopes import BUILTIN_SCOPES, Scopes, default_namespaces

_default: Renderer | None = None


def default_renderer() -> Renderer:
    """The process-wide renderer behind :func:`render`."""
    global _default
    if _default is None:
        _default = Renderer()
    return _default


async def render(request: RenderRequest) -> RenderResult:
    """Render ``request`` with the process-wide renderer and its cache."""
    return await default_renderer().render(request)


__all__ = [
    "BUILTIN_SCOPES",
    "BackendName",
    "CacheStats",
    "ContentAddresser",
    "DuplicateObjectError",
    "HelmOptions",
    "HelmTemplateError",
    "InputOpener",
    "InvalidManifestError",
    "InvalidYamlError",
    "KustomizeBackend",
    "KustomizeBuildError",
    "LimitExceededError",
    "PathNotFoundError",
    "RenderError",
    "RenderLimits",
    "RenderPool",
    "RenderRequest",
    "RenderResult",
    "Renderer",
    "RendererName",
    "RendererUnavailableError",
    "Scopes",
    "UnsafeInputError",
    "default_namespaces",
    "default_renderer",
    "find_backend",
    "render",
]

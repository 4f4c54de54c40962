"""Why a render failed, said so that the user can go straight to the file and line.

Every error carries the repository-relative ``path`` (and ``line`` when one is known) of
the input at fault, and its message starts with ``path:line:`` the way compilers print
errors, so that ``fleet validate --render`` output is clickable in an editor. Subclasses
let callers tell a broken input (fix the repository) from a missing tool (fix the host).
"""

from __future__ import annotations


class RenderError(Exception):
    """A render could not produce the desired objects; nothing may be applied or pruned."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        where = path or ""
        if path and line:
            where = f"{path}:{line}"
        super().__init__(f"{where}: {message}" if where else message)
        self.path = path
        self.line = line
        self.reason = message

    def __reduce__(self) -> tuple[object, ...]:
        # Exceptions pickle and copy through their args; ours carry keywords as well.
        return (_rebuild, (type(self), self.reason, self.path, self.line))


def _rebuild(
    cls: type[RenderError], reason: str, path: str | None, line: int | None
) -> RenderError:
    return cls(reason, path=path, line=line)


class PathNotFoundError(RenderError):
    """The app path, a values file, or a file a kustomization names does not exist."""


class InvalidYamlError(RenderError):
    """A file (or a renderer's output) is not valid YAML."""


class InvalidManifestError(RenderError):
    """A document looks like a Kubernetes object but lacks apiVersion, kind or a name."""


class DuplicateObjectError(RenderError):
    """Two documents of one render describe the same object."""


class UnsafeInputError(RenderError):
    """The input would make the renderer reach the network or read outside the repository."""


class HelmTemplateError(RenderError):
    """Helm could not load the chart or render a template."""


class KustomizeBuildError(RenderError):
    """Kustomize rejected the kustomization."""


class RendererUnavailableError(RenderError):
    """No tool that can do this render is installed on this host."""

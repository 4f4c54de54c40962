"""Apps whose Helm values come from another source (``helm.valuesFrom``), like Argo CD's
multi-source apps: a chart from a registry, its values files in a Git repository.

Such an app's revision is the pair: :class:`ComposedRevision` joins the app's own
revision (a commit or ``chart@version@digest``) and the revision of each values
source into one id, ``<own>~<source>@<commit>...``, so a new commit of the values
repository rolls out exactly like a new chart version (same waves, same history), and
a rollback or a restart brings back both halves. ``~`` appears in no commit id, chart
name, version or source name, so the id splits back without ambiguity.

The values files are read from the values source's mirror at the composed commit
(no work tree), within the render limit on file size, as plain YAML mappings (aliases
bounded as in renders, parsed off the event loop). They
merge after the chart's own ``valuesFiles`` and before the inline ``values``. A
SOPS-encrypted values file is refused here (decryption covers files of the app's own
source), with an error naming the source and the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from anyio import to_thread

from fleet.adapters.git import GitError, Revision
from fleet.adapters.render import RenderError
from fleet.adapters.render.yamldocs import load_one
from fleet.config import App, Cluster, FleetConfig
from fleet.config.apps import deep_merge

if TYPE_CHECKING:
    from fleet.runtime.desired import DesiredStateBuilder

SEPARATOR = "~"


@dataclass(frozen=True, slots=True)
class ComposedRevision(Revision):
    """The app's own revision and those of its values sources, as one revision."""

    own: Revision | None = None
    values: tuple[tuple[str, Revision], ...] = ()

    @property
    def short_sha(self) -> str:
        assert self.own is not None
        parts = [f"{name}@{revision.short_sha}" for name, revision in self.values]
        return SEPARATOR.join([self.own.short_sha, *parts])


def compose(own: Revision, values: list[tuple[str, Revision]]) -> Revision:
    """``own`` alone when there are no values sources, else the composed revision."""
    if not values:
        return own
    sha = SEPARATOR.join([own.sha, *(f"{name}@{rev.sha}" for name, rev in values)])
    trees = SEPARATOR.join([own.tree, *(f"{name}@{rev.tree}" for name, rev in values)])
    ref = " + ".join([own.ref, *(f"{name} {rev.ref}" for name, rev in values)])
    return ComposedRevision(
        sha=sha,
        tree="composed-" + hashlib.sha256(trees.encode()).hexdigest(),
        ref=ref,
        message=own.message,
        author=own.author,
        committed_at=max([own.committed_at, *(rev.committed_at for _, rev in values)]),
        signed_by=own.signed_by,
        own=own,
        values=tuple(values),
    )


def split(revision: Revision) -> tuple[Revision, dict[str, Revision]]:
    """The app's own revision and the values sources' revisions it was composed with."""
    if isinstance(revision, ComposedRevision) and revision.own is not None:
        return revision.own, dict(revision.values)
    return revision, {}


def latest(app: App, revisions: Mapping[str, Revision | None]) -> Revision | None:
    """The app's revision from each source's latest revision; None until all are known."""
    own = revisions.get(app.source)
    values = [(name, revisions.get(name)) for name in app.values_sources()]
    if own is None or any(rev is None for _, rev in values):
        return None
    return compose(own, [(name, rev) for name, rev in values if rev is not None])


async def resolve(
    builder: DesiredStateBuilder, config: FleetConfig, app: App, spec: str
) -> Revision:
    """The revision ``spec`` names for ``app``, composed or not (a rollback, a restart)."""
    own_spec, *parts = spec.split(SEPARATOR)
    own = await builder.resolve(config.source_of(app), own_spec)
    values: list[tuple[str, Revision]] = []
    for part in parts:
        name, _, sha = part.partition("@")
        values.append((name, await builder.resolve(config.source(name), sha)))
    if not parts:  # an id from before valuesFrom was added: today's values
        for name in app.values_sources():
            fetched = builder.latest.get(name)
            if fetched is not None:
                values.append((name, fetched))
    return compose(own, values)


class ValuesFromError(Exception):
    def __init__(self, message: str, file: str) -> None:
        super().__init__(message)
        self.file = file


async def merged_values(
    builder: DesiredStateBuilder,
    app: App,
    cluster: Cluster,
    revision: Revision,
    inline: Mapping[str, Any],
) -> dict[str, Any]:
    """The valuesFrom files (in order), then ``inline`` on top; raises ValuesFromError."""
    files = app.helm_for(cluster).values_from
    if not files:
        return dict(inline)
    _, pinned = split(revision)
    merged: dict[str, Any] = {}
    for name, path in files:
        shown = f"{name}:{path}"
        at = pinned.get(name) or builder.latest.get(name)
        if at is None:
            raise ValuesFromError(f"helm.valuesFrom: source {name} is not fetched yet", shown)
        try:
            data = await builder.mirror(builder.config.source(name)).read_file(at.sha, path)
        except (GitError, KeyError) as error:
            raise ValuesFromError(f"helm.valuesFrom: {error}", shown) from None
        limit = builder.renderer.limits.max_file_bytes
        if len(data) > limit:
            raise ValuesFromError(
                f"helm.valuesFrom: {len(data)} bytes, more than {limit} (render.maxFileSize)",
                shown,
            )
        merged = deep_merge(merged, await to_thread.run_sync(_values, data, shown))
    return deep_merge(merged, inline)


def _values(data: bytes, shown: str) -> dict[str, Any]:
    """The mapping in ``data``: aliases bounded as for any rendered YAML."""
    try:
        document = load_one(data.decode("utf-8"), shown)
    except UnicodeDecodeError:
        raise ValuesFromError("helm.valuesFrom: not UTF-8 text", shown) from None
    except RenderError as error:
        raise ValuesFromError(f"helm.valuesFrom: {error}", shown) from None
    if document is None:
        return {}
    loaded = document.value
    if not isinstance(loaded, dict):
        raise ValuesFromError("helm.valuesFrom: a values file must be a mapping", shown)
    if "sops" in loaded:
        raise ValuesFromError(
            "helm.valuesFrom: SOPS-encrypted values files are read only from the app's own "
            "source (see docs/secrets.md)",
            shown,
        )
    return loaded

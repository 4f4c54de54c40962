"""Argo CD's ``repoURL`` + ``targetRevision`` pairs as fleet sources.

One fleet source per repository and revision. A revision becomes the ref fleet follows:
a full commit id is a ``commit``, ``refs/tags/X`` and version-looking names are tags,
``HEAD`` (Argo CD's default: the repository's default branch) is taken as ``main`` with
a note, and anything else is a branch. A semver range has no Git equivalent in fleet and
is refused for the app that uses it.
"""

from __future__ import annotations

import re

from fleet.config.argocd.entries import Entry, Origin, fleet_name, unique
from fleet.config.sources import transport_of

_COMMIT = re.compile(r"^([0-9a-f]{40}|[0-9a-f]{64})$")
_VERSION = re.compile(r"^v?\d+(\.\d+){1,2}([-+][0-9A-Za-z.-]+)?$")
_RANGE = re.compile(r"[*<>=~^|, ]|\.x$")
_USERINFO = re.compile(r"^(https?://)[^/@]*@")


class RevisionError(ValueError):
    """A source fleet cannot follow: a semver range, a repository that is not Git."""


def revision_ref(revision: str) -> tuple[str, str, str | None]:
    """(``branch``/``tag``/``commit``, the name, a note) for an Argo CD targetRevision."""
    revision = revision.strip()
    if revision in ("", "HEAD"):
        return (
            "branch",
            "main",
            (
                "targetRevision HEAD (the repository's default branch) is taken as branch "
                "main: change it if the default branch has another name"
            ),
        )
    if revision.startswith("refs/heads/"):
        return "branch", revision.removeprefix("refs/heads/"), None
    if revision.startswith("refs/tags/"):
        return "tag", revision.removeprefix("refs/tags/"), None
    if _COMMIT.match(revision):
        return "commit", revision, None
    if _VERSION.match(revision):
        return "tag", revision, f"targetRevision {revision} is read as a tag"
    if _RANGE.search(revision):
        raise RevisionError(
            f"targetRevision {revision!r} is a version range: fleet follows one branch, tag "
            "or commit"
        )
    return "branch", revision, None


class SourceRegistry:
    """The fleet sources of an import, one per (repository URL, revision)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str], Entry] = {}
        self._taken: set[str] = set()

    def source_for(self, repo_url: str, revision: str, origin: Origin) -> str:
        """The name of the source for ``repo_url`` at ``revision``, made on first use."""
        url = repo_url.strip().rstrip("/")
        key = (url, revision.strip() or "HEAD")
        found = self.entries.get(key)
        if found is not None:
            return str(found.data["name"])
        if transport_of(url) is None:
            raise RevisionError(
                f"repoURL {url!r}: fleet fetches Git over file, https, http, ssh or git"
            )
        kind, ref, note = revision_ref(revision)
        base = url.rsplit("/", 1)[-1].rsplit(":", 1)[-1].removesuffix(".git") or "repo"
        if any(u == url for u, _ in self.entries):
            base = f"{base}-{ref}"
        name = unique(fleet_name(base), self._taken)
        entry = Entry({"name": name}, origin)
        if _USERINFO.match(url):
            url = _USERINFO.sub(r"\1", url)
            entry.note("repoURL held credentials: removed (fleet takes auth files)", "url")
        entry.data["url"] = url
        entry.data[kind] = ref
        if note is not None:
            entry.note(note, kind)
        if url.startswith(("ssh://", "git@")) or ("@" in url and "://" not in url):
            entry.data["auth"] = {
                "sshKeyFile": f"/etc/fleet/keys/{name}",
                "knownHostsFile": "/etc/fleet/known_hosts",
            }
            entry.note(
                "SSH: put the deploy key Argo CD uses for this repository (its repository "
                "Secret's sshPrivateKey) in sshKeyFile, mode 0600, and the host's key in "
                "knownHostsFile",
                "auth",
            )
        self.entries[key] = entry
        return name

    def urls(self) -> dict[str, list[str]]:
        """Repository URL -> names of its sources."""
        out: dict[str, list[str]] = {}
        for (url, _), entry in self.entries.items():
            out.setdefault(url, []).append(str(entry.data["name"]))
        return out

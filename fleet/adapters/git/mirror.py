"""One source's bare mirror: fetch it, resolve refs to commits, read files at a commit.

The mirror lives in ``<state_dir>/git/<source-name>-<hash of the URL>``, holding every
branch and tag of the remote (pruned as the remote prunes them) and the remote's default
branch as ``HEAD``. A fetch is the only network step: resolving, reading and exporting
are local and fast, so a render never waits on a server. This is the synchronous core,
safe to call from several threads (fetches are serialised, and so are reads);
:mod:`.asyncmirror` runs it in worker threads for the daemon.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import re
import string
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pygit2
from pygit2.enums import FetchPrune

from fleet.adapters.git.callbacks import FetchCallbacks, apply_timeouts
from fleet.adapters.git.errors import (
    GitError,
    GitPathError,
    GitRefNotFound,
    GitSetupError,
    HostKeyUnknown,
    RepositoryNotFound,
    UntrustedCommit,
)
from fleet.adapters.git.exports import TreeLease, TreeStore
from fleet.adapters.git.failures import translate
from fleet.adapters.git.known_hosts import KnownHostKeys, KnownHostsSyntaxError, keys_for_host
from fleet.adapters.git.listing import Listing, list_directories
from fleet.adapters.git.signatures import SignatureRejected, SignatureVerifier
from fleet.adapters.git.specs import GitSourceSpec, GitTimeouts, Revision
from fleet.adapters.git.sshhome import SshHomeLease, prepare_ssh_home
from fleet.adapters.git.tagranges import highest_tag
from fleet.adapters.git.trees import (
    UnsafeTreeError,
    is_symlink_entry,
    normalize_path,
    object_at,
    write_tree,
)
from fleet.adapters.git.urls import mirror_key, parse_remote, redact_url
from fleet.engine.semver import is_range

#: Every branch and tag, force-updated: the mirror follows the remote, rewrites included.
REFSPECS = ["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"]

_HEX = re.compile(r"^[0-9a-fA-F]{4,40}$")
_SAFE_NAME_CHARS = frozenset(string.ascii_letters + string.digits + "._-")


def mirror_dir(state_dir: Path, spec: GitSourceSpec) -> Path:
    """``<state_dir>/git/<name>-<12 hex of the URL>``: a new URL gets a new mirror."""
    name = "".join(c if c in _SAFE_NAME_CHARS else "_" for c in spec.name) or "source"
    digest = hashlib.sha256(mirror_key(spec.url).encode()).hexdigest()[:12]
    return state_dir / "git" / f"{name}-{digest}"


class GitMirror:
    """The bare mirror of one source, and everything fleet reads from it."""

    def __init__(
        self, spec: GitSourceSpec, state_dir: Path, timeouts: GitTimeouts | None = None
    ) -> None:
        self.spec = spec
        self.shown_url = redact_url(spec.url)
        self.timeouts = timeouts or GitTimeouts()
        self.path = mirror_dir(state_dir, spec)
        self.trees = TreeStore(state_dir / "trees")
        self.trees_dir = self.trees.root
        try:
            self.remote = parse_remote(spec.url)
        except ValueError as error:
            raise self._setup_error(str(error)) from None
        if self.remote.has_password:
            raise self._setup_error(
                "the URL holds a password; reference credentials by file (auth.tokenFile or "
                "auth.passwordFile) instead"
            )
        self._verifier = (
            SignatureVerifier(spec.trust, self.path / "verify") if spec.trust is not None else None
        )
        self._fetch_lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._reader: pygit2.Repository | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    # -- network ---------------------------------------------------------------------------

    def fetch(self) -> Revision:
        """Bring the mirror up to date with the remote; the source's ref as it is now."""
        with self._fetch_lock:
            self._fetch()
        return self.resolve()

    def _fetch(self) -> None:
        repo = self._open()
        try:
            url = self._libgit2_url()
            host_keys = self._host_keys() if self.remote.transport == "ssh" else None
            lease = (
                SshHomeLease(prepare_ssh_home(self.path / "ssh-home", host_keys))
                if host_keys is not None
                else None
            )
            callbacks = FetchCallbacks(
                self.name, self.shown_url, self.remote, self.spec.auth, host_keys, lease
            )
            apply_timeouts(self.timeouts)
            remote = repo.remotes.create_anonymous(url)
            try:
                if lease is not None:
                    with lease:
                        remote.fetch(REFSPECS, callbacks=callbacks, prune=FetchPrune.PRUNE)
                else:
                    remote.fetch(REFSPECS, callbacks=callbacks, prune=FetchPrune.PRUNE)
                default_branch = _default_branch(remote)
            except Exception as error:
                raise translate(
                    error, self.name, self.spec.url, self.shown_url, callbacks.secrets
                ) from None
            if default_branch is not None and default_branch in repo.references:
                repo.set_head(default_branch)
        finally:
            repo.free()

    def _libgit2_url(self) -> str:
        if self.remote.transport != "file":
            return self.spec.url
        local = Path(self.remote.path)
        if not (local / "HEAD").exists() and not (local / ".git").exists():
            raise RepositoryNotFound(self.name, self.shown_url, f"no Git repository at {local}")
        return str(local.resolve())

    def _host_keys(self) -> KnownHostKeys:
        configured = self.spec.auth.known_hosts_file
        path = configured or Path.home() / ".ssh" / "known_hosts"
        try:
            text = path.read_text()
        except FileNotFoundError:
            if configured is not None:
                raise self._setup_error(f"known_hosts file {path} not found") from None
            text = ""
        except OSError as error:
            raise self._setup_error(f"cannot read known_hosts {path}: {error.strerror}") from None
        try:
            keys = keys_for_host(text, path, self.remote.host, self.remote.port)
        except KnownHostsSyntaxError as error:
            raise self._setup_error(str(error)) from None
        if not keys.trusted:
            why = "".join(f"; {reason}" for reason in keys.unsupported)
            detail = f"no known_hosts entry for {keys.lookup_name} in {path}{why}"
            raise HostKeyUnknown(self.name, self.shown_url, detail)
        return keys

    # -- local reads -----------------------------------------------------------------------

    def resolve(self, rev_spec: str | None = None, *, verify: bool = True) -> Revision:
        """The commit ``rev_spec`` (or the source's ref) names in the mirror, no network.

        ``rev_spec`` is a branch, a tag (annotated tags are peeled), a full ref name, a full
        or abbreviated SHA, or ``HEAD``. With trusted keys configured and ``verify`` true, the
        commit must carry a trusted signature, or :class:`UntrustedCommit` is raised.
        """
        wanted = rev_spec or self.spec.ref
        with self._read_lock:
            repo = self._repo()
            if not rev_spec and self.spec.tag is not None and is_range(self.spec.tag):
                wanted = highest_tag(repo, self.spec.tag, self.name, self.shown_url)
            commit = self._find_commit(
                repo, wanted, sha_only=not rev_spec and bool(self.spec.commit)
            )
            signer = self._verify(commit) if verify else None
        return _revision(commit, wanted, signer)

    def verify(self, commit: str) -> str:
        """Who signed ``commit`` among the trusted keys; raises :class:`UntrustedCommit`."""
        with self._read_lock:
            found = self._commit(self._repo(), commit)
            if self._verifier is None:
                raise UntrustedCommit(
                    self.name, self.shown_url, str(found.id), "the source lists no trusted keys"
                )
            signer = self._verify(found)
        assert signer is not None
        return signer

    def read_file(self, commit: str, path: str) -> bytes:
        """The content of the file at ``path`` in ``commit`` (a SHA), without a work tree."""
        with self._read_lock:
            repo = self._repo()
            found = self._commit(repo, commit)
            clean = self._clean_path(path)
            obj = object_at(repo, found.tree, clean)
            if obj is None:
                raise self._path_error(found, path, "does not exist")
            if isinstance(obj, pygit2.Tree):
                raise self._path_error(found, path, "is a directory, not a file")
            if is_symlink_entry(found.tree, clean):
                raise self._path_error(found, path, "is a symbolic link, not a file")
            return bytes(obj.peel(pygit2.Blob).data)

    def tree_id(self, commit: str, path: str = "") -> str | None:
        """The Git id of the tree or blob at ``path`` in ``commit``; None if there is none.

        Equal ids mean equal content, whatever the commit: the render cache's key.
        """
        with self._read_lock:
            repo = self._repo()
            found = self._commit(repo, commit)
            obj = object_at(repo, found.tree, self._clean_path(path))
            return str(obj.id) if obj is not None else None

    def list_directories(
        self,
        commit: str,
        roots: Sequence[str],
        depth: int | None,
        keep: Callable[[str], bool],
        limit: int,
    ) -> Listing:
        """Directories of ``commit`` for an app generator (see fleet.adapters.git.listing)."""
        with self._read_lock:
            repo = self._repo()
            found = self._commit(repo, commit)
            clean = [self._clean_path(root) for root in roots]
            return list_directories(repo, found.tree, clean, depth, keep, limit)

    def export_tree(self, commit: str, dest: Path | None = None) -> Path:
        """The files of ``commit`` on disk, symlinks kept as symlinks; returns the directory.

        Without ``dest``, the export is cached (and shared by commits with the same tree) at
        ``<state_dir>/trees/<tree id>``: treat it as read-only, and read it under
        :meth:`lease_tree` instead if a prune may run meanwhile. ``dest`` must not exist
        yet, or be an empty directory.
        """
        if dest is None:
            with self.lease_tree(commit) as lease:
                return lease.path
        with self._read_lock:
            repo = self._repo()
            found = self._commit(repo, commit)
            if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
                raise self._setup_error(f"cannot export into {dest}: not an empty directory")
            dest.mkdir(parents=True, exist_ok=True)
            self._write(repo, found, dest, shared=False)  # the caller's own copy
            return dest

    def lease_tree(self, commit: str) -> TreeLease:
        """The cached export of ``commit`` (written first if missing or pruned), which no
        prune deletes until the lease is released: hold it while a render reads the files."""
        with self._read_lock:
            repo = self._repo()
            found = self._commit(repo, commit)
            return self.trees.lease(str(found.tree_id), lambda into: self._write(repo, found, into))

    def close(self) -> None:
        """Release libgit2's handles on the mirror (file descriptors, caches)."""
        with self._read_lock:
            if self._reader is not None:
                self._reader.free()
                self._reader = None

    # -- helpers ---------------------------------------------------------------------------

    def _open(self) -> pygit2.Repository:
        if (self.path / "HEAD").is_file():
            return pygit2.Repository(str(self.path))
        self.path.mkdir(parents=True, exist_ok=True)
        return pygit2.init_repository(str(self.path), bare=True)

    def _repo(self) -> pygit2.Repository:
        if self._reader is None:
            if not (self.path / "HEAD").is_file():
                raise GitRefNotFound(self.name, self.shown_url, "the source was never fetched")
            self._reader = pygit2.Repository(str(self.path))
        return self._reader

    def _find_commit(
        self, repo: pygit2.Repository, wanted: str, *, sha_only: bool = False
    ) -> pygit2.Commit:
        """Refs first (as ``git rev-parse`` does), then object ids; a pinned commit is an id."""
        if sha_only:
            candidates = []
        elif wanted == "HEAD" or wanted.startswith("refs/"):
            candidates = [wanted]
        else:
            candidates = [f"refs/heads/{wanted}", f"refs/tags/{wanted}"]
        for name in candidates:
            reference = repo.references.get(name)
            if reference is not None:
                try:
                    target = reference.peel()
                except (pygit2.GitError, KeyError):  # HEAD naming a branch that does not exist
                    raise self._ref_error(repo, wanted, "points to nothing") from None
                return self._peel(target, wanted)
        if _HEX.match(wanted):
            try:
                obj = repo.get(wanted)
            except ValueError:
                raise self._ref_error(repo, wanted, "is an ambiguous abbreviated SHA") from None
            if obj is not None:
                return self._peel(obj, wanted)
            if sha_only or len(wanted) == 40:
                raise self._ref_error(
                    repo, wanted, "was not found (is it on a branch or tag of the remote?)"
                )
        raise self._ref_error(repo, wanted, "was not found")

    def _peel(self, obj: pygit2.Object | pygit2.Commit, wanted: str) -> pygit2.Commit:
        try:
            return obj.peel(pygit2.Commit)
        except (pygit2.InvalidSpecError, ValueError):
            raise GitRefNotFound(
                self.name, self.shown_url, f"{wanted!r} does not point to a commit"
            ) from None

    def _commit(self, repo: pygit2.Repository, sha: str) -> pygit2.Commit:
        obj: object = repo.get(sha) if _HEX.match(sha) else None
        if not isinstance(obj, pygit2.Commit):
            raise GitRefNotFound(self.name, self.shown_url, f"no commit {sha} in the mirror")
        return obj

    def _verify(self, commit: pygit2.Commit) -> str | None:
        if self._verifier is None:
            return None
        sha = str(commit.id)
        signature, payload = commit.gpg_signature
        try:
            return self._verifier.verify(sha, (signature, payload) if signature else None)
        except SignatureRejected as rejected:
            raise UntrustedCommit(self.name, self.shown_url, sha, str(rejected)) from None

    def _write(
        self, repo: pygit2.Repository, commit: pygit2.Commit, dest: Path, shared: bool = True
    ) -> None:
        try:
            write_tree(repo, commit.tree, dest, self.trees.blobs if shared else None)
        except UnsafeTreeError as error:
            raise GitError(self.name, self.shown_url, f"commit {commit.id}: {error}") from None

    def _clean_path(self, path: str) -> str:
        try:
            return normalize_path(path)
        except ValueError as error:
            raise GitPathError(self.name, self.shown_url, str(error)) from None

    def _path_error(self, commit: pygit2.Commit, path: str, what: str) -> GitPathError:
        return GitPathError(self.name, self.shown_url, f"{path!r} {what} at commit {commit.id}")

    def _ref_error(self, repo: pygit2.Repository, wanted: str, what: str) -> GitRefNotFound:
        names = [
            name.removeprefix("refs/heads/").removeprefix("refs/tags/")
            for name in repo.references
            if name.startswith(("refs/heads/", "refs/tags/"))
        ]
        close = difflib.get_close_matches(wanted.rsplit("/", 1)[-1], names, n=3)
        hint = f" (did you mean {', '.join(repr(n) for n in close)}?)" if close else ""
        return GitRefNotFound(self.name, self.shown_url, f"{wanted!r} {what}{hint}")

    def _setup_error(self, detail: str) -> GitSetupError:
        return GitSetupError(self.name, self.shown_url, detail)


def _default_branch(remote: pygit2.Remote) -> str | None:
    """The branch the remote's HEAD points to, from the advertisement just received."""
    for head in remote.list_heads(connect=False):
        if head.name == "HEAD" and head.symref_target:
            return str(head.symref_target)
    return None


def _revision(commit: pygit2.Commit, wanted: str, signer: str | None) -> Revision:
    offset = dt.timezone(dt.timedelta(minutes=commit.commit_time_offset))
    return Revision(
        sha=str(commit.id),
        tree=str(commit.tree_id),
        ref=wanted,
        message=commit.message,
        author=f"{commit.author.name} <{commit.author.email}>",
        committed_at=dt.datetime.fromtimestamp(commit.commit_time, tz=offset),
        signed_by=signer,
    )

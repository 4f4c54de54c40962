"""What the Git adapter needs to know about a source, and what it answers.

These are the adapter's own small frozen types, so that the adapter does not depend on the
fleet config schema: the wiring maps a config ``Source`` to a :class:`GitSourceSpec`.
Credentials are *paths* to files, read at each fetch (so rotated secrets apply without a
restart) and never stored on these objects.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True)
class GitAuth:
    """Credentials by file. Which ones apply depends on the transport and the server's ask.

    HTTPS: ``token_file`` is sent as the basic-auth password with user ``token_username``
    (``x-access-token`` works on GitHub, Gitea and Forgejo; GitLab takes ``oauth2``,
    Bitbucket ``x-token-auth``); otherwise ``username_file`` and ``password_file``.
    SSH: ``ssh_key_file`` (its ``.pub`` sibling is used if present) and
    ``known_hosts_file`` (default: ``~/.ssh/known_hosts`` of the user running fleet).
    """

    ssh_key_file: Path | None = None
    known_hosts_file: Path | None = None
    token_file: Path | None = None
    token_username: str = "x-access-token"
    username_file: Path | None = None
    password_file: Path | None = None


@dataclass(frozen=True, slots=True)
class SignatureTrust:
    """The keys whose commit signatures a source trusts. Empty: every commit is refused.

    ``ssh_public_keys`` are OpenSSH public key lines (``ssh-ed25519 AAAA... comment``);
    ``gpg_public_key_files`` are exported OpenPGP public keys (armored or binary).
    """

    ssh_public_keys: tuple[str, ...] = ()
    gpg_public_key_files: tuple[Path, ...] = ()


@dataclass(frozen=True, slots=True)
class GitSourceSpec:
    """One Git source: where it is, which ref to follow, how to log in, whom to trust.

    At most one of ``branch``, ``tag`` and ``commit`` is set; none means the remote's
    default branch (its ``HEAD``). ``commit`` may be a full or abbreviated SHA, and must be
    reachable from a branch or tag of the remote. ``trust`` set to None turns signature
    verification off; set, every revision handed out must be signed by one of its keys.
    """

    name: str
    url: str
    branch: str | None = None
    tag: str | None = None
    commit: str | None = None
    auth: GitAuth = field(default_factory=GitAuth)
    trust: SignatureTrust | None = None

    def __post_init__(self) -> None:
        chosen = [kind for kind in ("branch", "tag", "commit") if getattr(self, kind)]
        if len(chosen) > 1:
            raise ValueError(f"source {self.name!r}: set only one of {', '.join(chosen)}")

    @property
    def ref(self) -> str:
        """The ref to follow, as :meth:`GitMirror.resolve` accepts it."""
        if self.branch:
            return f"refs/heads/{self.branch}"
        if self.tag:
            return f"refs/tags/{self.tag}"
        return self.commit or "HEAD"

    @property
    def ref_label(self) -> str:
        """How to name the followed ref to a person: ``branch main``, ``tag v1.2``."""
        if self.branch:
            return f"branch {self.branch!r}"
        if self.tag:
            return f"tag {self.tag!r}"
        if self.commit:
            return f"commit {self.commit}"
        return "the default branch (HEAD)"


@dataclass(frozen=True, slots=True)
class GitTimeouts:
    """Network limits, in seconds. libgit2's default (0) is to wait forever.

    ``connect`` bounds establishing the TCP connection; ``transfer`` bounds each wait for
    the server while talking (not the whole fetch, which may legitimately take long).
    libgit2 keeps these process-wide: the daemon uses one value for every source.
    """

    connect: float = 10.0
    transfer: float = 60.0


@dataclass(frozen=True, slots=True)
class Revision:
    """A commit a ref resolved to, with what history and status lines show about it."""

    sha: str
    tree: str  # the root tree id: equal trees render equally, whatever the commit
    ref: str  # what was resolved: "refs/heads/main", "v1.2.3", "1a2b3c4"
    message: str
    author: str  # "Name <email>"
    committed_at: dt.datetime  # timezone-aware, in the committer's offset
    signed_by: str | None = None  # the trusted key that verified the signature, if checked

    @property
    def short_sha(self) -> str:
        return self.sha[:12]

    @property
    def summary(self) -> str:
        """The first line of the message."""
        return self.message.split("\n", 1)[0].strip()

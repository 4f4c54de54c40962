"""Git failures as fleet reports them: typed, naming the source, never holding a secret.

Each error says which source failed and at which (redacted) URL, so a status line or a
history record points at the fix without a stack trace. The types tell the caller what
to do: retry later (:class:`GitUnreachable`, :class:`GitTimeout`), fix the setup
(:class:`GitAuthFailed`, :class:`HostKeyUnknown`, :class:`GitSetupError` ...), or refuse to
deploy (:class:`UntrustedCommit`). Messages are built only from redacted URLs and from
libgit2 text that was scrubbed of every credential the fetch used.
"""

from __future__ import annotations


class GitError(Exception):
    """A Git operation on one source failed."""

    def __init__(self, source: str, url: str, detail: str) -> None:
        self.source = source
        self.url = url  # always redacted
        self.detail = detail
        super().__init__(f"source {source!r} ({url}): {detail}")


class GitSetupError(GitError):
    """The source cannot be used as configured: a bad URL, a missing key or file."""


class GitUnreachable(GitError):
    """The server could not be reached: refused, unresolvable, or no route. Retry later."""


class GitTimeout(GitUnreachable):
    """The server accepted the connection but did not answer within the timeout."""


class GitAuthFailed(GitError):
    """The server refused the credentials (or asked for ones the source does not have)."""


class RepositoryNotFound(GitError):
    """The server has no repository at that path (or hides it from these credentials)."""


class GitRefNotFound(GitError):
    """A branch, tag, commit or path does not exist in the fetched mirror."""


class GitPathError(GitRefNotFound):
    """A path does not exist at a commit, or is not what was asked for (file, directory)."""


class ServerIdentityError(GitError):
    """The server could not prove it is the host the source names. Never retried blindly."""


class HostKeyUnknown(ServerIdentityError):
    """The known_hosts file has no key for this SSH host and port."""


class HostKeyMismatch(ServerIdentityError):
    """The SSH server presented a key other than the known_hosts file lists: maybe an attack."""


class CertificateInvalid(ServerIdentityError):
    """The HTTPS server's TLS certificate did not validate."""


class UntrustedCommit(GitError):
    """A commit is unsigned, or signed by a key the source does not trust: do not deploy it."""

    def __init__(self, source: str, url: str, sha: str, reason: str) -> None:
        self.sha = sha
        self.reason = reason
        super().__init__(source, url, f"commit {sha} is not trusted: {reason}")

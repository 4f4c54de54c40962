"""Git sources through pygit2: a bare mirror per source, fetched with timeouts, read locally.

Public surface (everything else is internal):

- :class:`GitSourceSpec`, :class:`GitAuth`, :class:`SignatureTrust`, :class:`GitTimeouts`:
  what a source is (the wiring maps the fleet config onto these).
- :class:`GitMirror` (synchronous) and :class:`AsyncGitMirror` (worker threads): ``fetch``,
  ``resolve``, ``verify``, ``read_file``, ``tree_id``, ``list_directories``,
  ``export_tree``, ``lease_tree``;
  the async one also ``compact`` (``git gc --auto`` when fetches left too many packs).
- :class:`TreeStore`: the exported trees of a state directory, and ``prune`` for them;
  :class:`TreeLease`, :class:`Pruned`, :class:`Compaction`: what those calls return.
- :class:`Revision`: a resolved commit.
- :class:`GitError` and its subclasses; :func:`redact_url` for printing any Git URL.
"""

from fleet.adapters.git.asyncmirror import AsyncGitMirror
from fleet.adapters.git.errors import (
    CertificateInvalid,
    GitAuthFailed,
    GitError,
    GitPathError,
    GitRefNotFound,
    GitSetupError,
    GitTimeout,
    GitUnreachable,
    HostKeyMismatch,
    HostKeyUnknown,
    RepositoryNotFound,
    ServerIdentityError,
    UntrustedCommit,
)
from fleet.adapters.git.exports import RECENT_TREES, Pruned, TreeLease, TreeStore
from fleet.adapters.git.listing import Listing
from fleet.adapters.git.mirror import GitMirror, mirror_dir
from fleet.adapters.git.packs import PACK_LIMIT, Compaction
from fleet.adapters.git.specs import GitAuth, GitSourceSpec, GitTimeouts, Revision, SignatureTrust
from fleet.adapters.git.urls import redact_url

__all__ = [
    "PACK_LIMIT",
    "RECENT_TREES",
    "AsyncGitMirror",
    "CertificateInvalid",
    "Compaction",
    "GitAuth",
    "GitAuthFailed",
    "GitError",
    "GitMirror",
    "GitPathError",
    "GitRefNotFound",
    "GitSetupError",
    "GitSourceSpec",
    "GitTimeout",
    "GitTimeouts",
    "GitUnreachable",
    "HostKeyMismatch",
    "HostKeyUnknown",
    "Listing",
    "Pruned",
    "RepositoryNotFound",
    "Revision",
    "ServerIdentityError",
    "SignatureTrust",
    "TreeLease",
    "TreeStore",
    "UntrustedCommit",
    "mirror_dir",
    "redact_url",
]

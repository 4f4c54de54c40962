"""The callbacks libgit2 calls during a fetch: credentials, and the server's identity.

Credentials come from the files a source names, read at each fetch. Each secret read is
remembered so that any text leaving the fetch (libgit2's error messages) can be scrubbed
of it. libgit2 asks again after a rejection and would loop for as long as the callback
answers, so a second ask of the same kind ends the fetch with :class:`GitAuthFailed`.

The identity check refuses what pygit2 would let through: pygit2's default accepts any
SSH host key. For SSH, libssh2 has already compared the key with the entries selected
for this host (``valid``); for HTTPS, OpenSSL has validated the certificate chain.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pygit2
from pygit2.enums import CredentialType

from fleet.adapters.git.errors import (
    CertificateInvalid,
    GitAuthFailed,
    GitSetupError,
    HostKeyMismatch,
    HostKeyUnknown,
)
from fleet.adapters.git.known_hosts import KnownHostKeys
from fleet.adapters.git.specs import GitAuth, GitTimeouts
from fleet.adapters.git.sshhome import SshHomeLease
from fleet.adapters.git.urls import Remote

_Credential = pygit2.Username | pygit2.UserPass | pygit2.Keypair


def apply_timeouts(timeouts: GitTimeouts) -> None:
    """Set libgit2's (process-wide) socket timeouts; 0 would mean wait forever."""
    connect_ms = max(1, round(timeouts.connect * 1000))
    transfer_ms = max(1, round(timeouts.transfer * 1000))
    if pygit2.settings.server_connect_timeout != connect_ms:
        pygit2.settings.server_connect_timeout = connect_ms
    if pygit2.settings.server_timeout != transfer_ms:
        pygit2.settings.server_timeout = transfer_ms


class FetchCallbacks(pygit2.RemoteCallbacks):
    """Answers libgit2 for one fetch of one source; collects the secrets it handed out."""

    def __init__(
        self,
        source: str,
        shown_url: str,
        location: Remote,
        auth: GitAuth,
        host_keys: KnownHostKeys | None = None,
        lease: SshHomeLease | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.shown_url = shown_url
        self.location = location
        self.auth = auth
        self.host_keys = host_keys
        self.lease = lease
        self.secrets: list[str] = []
        self._asked: set[str] = set()

    def credentials(
        self, url: str, username_from_url: str | None, allowed_types: CredentialType
    ) -> _Credential:
        asked_host = (urlsplit(url).hostname or "") if "://" in url else self.location.host
        if self.location.host and asked_host.lower() != self.location.host.lower():
            raise self._auth_failed(
                f"the server redirected to {asked_host!r}; credentials are not sent there"
            )
        if allowed_types & CredentialType.USERNAME:
            return pygit2.Username(username_from_url or self.location.username or "git")
        if allowed_types & CredentialType.SSH_KEY:
            return self._ssh_key(username_from_url or self.location.username or "git")
        if allowed_types & CredentialType.USERPASS_PLAINTEXT:
            return self._user_password()
        raise self._auth_failed(f"the server asks for credentials of type {allowed_types!r}")

    def _ssh_key(self, username: str) -> pygit2.Keypair:
        self._once("ssh-key", f"the server rejected the SSH key {self.auth.ssh_key_file}")
        key = self.auth.ssh_key_file
        if key is None:
            raise self._auth_failed("the server asks for an SSH key; set auth.sshKeyFile")
        if not key.is_file():
            raise GitSetupError(self.source, self.shown_url, f"SSH key file {key} not found")
        public = key.with_name(key.name + ".pub")
        return pygit2.Keypair(username, str(public) if public.is_file() else None, str(key), "")

    def _user_password(self) -> pygit2.UserPass:
        auth = self.auth
        if auth.token_file is not None:
            self._once("token", f"the server rejected the token from {auth.token_file}")
            return pygit2.UserPass(auth.token_username, self._secret(auth.token_file, "token"))
        if auth.username_file is not None and auth.password_file is not None:
            self._once(
                "basic",
                f"the server rejected the user name and password from {auth.username_file}"
                f" and {auth.password_file}",
            )
            username = self._secret(auth.username_file, "user name")
            return pygit2.UserPass(username, self._secret(auth.password_file, "password"))
        raise self._auth_failed(
            "the server asks for a user name and password; set auth.tokenFile, or "
            "auth.usernameFile and auth.passwordFile"
        )

    def _once(self, kind: str, rejected: str) -> None:
        """libgit2 asks again only after the server said no."""
        if kind in self._asked:
            raise self._auth_failed(rejected)
        self._asked.add(kind)

    def _secret(self, path: Path, what: str) -> str:
        try:
            value = path.read_text().rstrip("\r\n")
        except OSError as error:
            detail = f"cannot read the {what} file {path}: {error.strerror}"
            raise GitSetupError(self.source, self.shown_url, detail) from None
        if not value:
            raise GitSetupError(self.source, self.shown_url, f"the {what} file {path} is empty")
        self.secrets.append(value)
        return value

    def _auth_failed(self, detail: str) -> GitAuthFailed:
        return GitAuthFailed(self.source, self.shown_url, detail)

    def certificate_check(self, certificate: None, valid: bool, host: bytes) -> bool:
        if self.lease is not None:
            self.lease.release()  # libssh2 has read the known_hosts file by now
        shown_host = host.decode(errors="replace")
        if self.location.transport != "ssh":
            if valid:
                return True
            detail = f"the TLS certificate of {shown_host} is not valid for it"
            raise CertificateInvalid(self.source, self.shown_url, detail)
        keys = self.host_keys
        if valid and keys is not None and keys.trusted:
            return True
        name = keys.lookup_name if keys is not None else shown_host
        known_hosts = self.auth.known_hosts_file or "~/.ssh/known_hosts"
        if keys is None or not keys.trusted:
            detail = f"no known_hosts entry for {name} in {known_hosts}"
            raise HostKeyUnknown(self.source, self.shown_url, detail)
        detail = (
            f"the host key of {name} does not match {known_hosts}; refusing to connect "
            "(the server's key changed, or someone is impersonating it)"
        )
        raise HostKeyMismatch(self.source, self.shown_url, detail)

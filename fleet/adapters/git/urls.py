"""Git remote URLs: which transport, which host and port, and how to print them safely.

Git accepts more than RFC 3986 URLs: scp-like ``git@host:org/repo.git`` means SSH to port
22, and a plain path means a local repository. :func:`parse_remote` turns all of them into
one :class:`Remote`, so transport rules (which credentials, which known_hosts entry) look
at fields instead of re-parsing strings.

:func:`redact_url` is the only way a URL reaches a log, an error or a trace: it drops
passwords, replaces any user part of a non-SSH URL (forges accept a token as the user
name) and hides query strings, which some servers use for tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Transport = Literal["file", "git", "http", "ssh"]

_SCHEMES: dict[str, Transport] = {
    "file": "file",
    "git": "git",
    "http": "http",
    "https": "http",
    "ssh": "ssh",
    "git+ssh": "ssh",
    "ssh+git": "ssh",
}

# user@host:path or host:path, where host has no slash and the path does not start with //
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>\[[^\]/]+\]|[^@/:\[\]]+):(?P<path>.*)$")
_URL_USERINFO = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<userinfo>[^/?#]*@)")


@dataclass(frozen=True, slots=True)
class Remote:
    """Where a source lives, as the transports need it."""

    transport: Transport
    scheme: str  # as written: https, ssh, file ... ("ssh" for scp-like, "file" for paths)
    host: str  # empty for local repositories; IPv6 without brackets
    port: int | None  # None: the transport's default
    username: str | None
    has_password: bool
    path: str

    @property
    def is_tls(self) -> bool:
        return self.scheme == "https"

    @property
    def effective_port(self) -> int | None:
        if self.port is not None:
            return self.port
        return {"ssh": 22, "git": 9418}.get(self.transport) or (
            443 if self.is_tls else 80 if self.transport == "http" else None
        )


def parse_remote(url: str) -> Remote:
    """Classify ``url``; raises :class:`ValueError` with a redacted reason when it is unusable."""
    if not url or url != url.strip():
        raise ValueError("the URL is empty or has surrounding whitespace")
    if "://" in url:
        return _parse_scheme_url(url)
    if url.startswith(("/", "./", "../")) or url in (".", ".."):
        return Remote("file", "file", "", None, None, False, url)
    scp = _SCP_LIKE.match(url)
    if scp is not None:
        host = scp["host"].strip("[]")
        return Remote("ssh", "ssh", host, None, scp["user"], False, scp["path"])
    return Remote("file", "file", "", None, None, False, url)


def _parse_scheme_url(url: str) -> Remote:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    transport = _SCHEMES.get(scheme)
    if transport is None:
        raise ValueError(f"unsupported URL scheme {scheme!r} (use file, git, http(s) or ssh)")
    try:
        port = parts.port
    except ValueError as error:
        raise ValueError(f"invalid port in {redact_url(url)}") from error
    host = parts.hostname or ""
    if transport == "file":
        if host not in ("", "localhost"):
            raise ValueError("file:// URLs must name a local path (file:///path)")
        return Remote("file", scheme, "", None, None, False, parts.path)
    if not host:
        raise ValueError(f"no host in {redact_url(url)}")
    return Remote(
        transport=transport,
        scheme=scheme,
        host=host,
        port=port,
        username=parts.username or None,
        has_password=parts.password is not None,
        path=parts.path,
    )


def redact_url(url: str) -> str:
    """``url`` safe to print: no password, no user part except SSH logins, no query."""
    url = url.split("#", 1)[0]
    if "?" in url:
        url = url.split("?", 1)[0] + "?***"
    found = _URL_USERINFO.match(url)
    if found is None:
        return url
    scheme = found["scheme"].lower()
    userinfo = found["userinfo"][:-1]
    user, has_password, _ = userinfo.partition(":")
    keep_user = scheme.rstrip(":/") in ("ssh", "git+ssh", "ssh+git") and not has_password
    shown = f"{user}@" if keep_user else "***@"
    return found["scheme"] + shown + url[found.end() :]


def mirror_key(url: str) -> str:
    """The URL with its password removed: what identifies a remote for the mirror cache."""
    found = _URL_USERINFO.match(url)
    if found is None:
        return url
    user = found["userinfo"][:-1].partition(":")[0]
    return found["scheme"] + (f"{user}@" if user else "") + url[found.end() :]

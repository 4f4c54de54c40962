"""Which SSH host keys a known_hosts file trusts for one host and port, by OpenSSH's rules.

pygit2 hands its certificate callback no host key (``cert`` is always None), so the key
comparison itself must happen inside libssh2, which reads ``$HOME/.ssh/known_hosts``.
libssh2's own host matching is laxer than OpenSSH's, though: it accepts a plain ``host``
entry for a non-standard port, cannot parse ``@cert-authority`` or ``@revoked`` lines (one
such line makes libgit2 fail the whole file), and skips nothing it does not understand.

So fleet selects the entries itself, exactly as ``ssh`` would (``[host]:port`` names for
ports other than 22, hashed ``|1|salt|hmac`` names, ``*``/``?`` wildcards, ``!`` negation,
``@revoked`` keys removed) and gives libssh2 a file holding only the keys that apply.
libssh2 then does the one thing left: compare the server's key bytes with those keys.
Written by hand because the only library that parses known_hosts (paramiko) would be a
large dependency for fifty lines, and it does not honour ``@revoked`` either.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import struct
from dataclasses import dataclass
from pathlib import Path

#: Host key algorithms libssh2 (as bundled with pygit2) can compare.
LIBSSH2_KEY_TYPES = frozenset(
    {
        "ssh-rsa",
        "ssh-dss",
        "ssh-ed25519",
        "ecdsa-sha2-nistp256",
        "ecdsa-sha2-nistp384",
        "ecdsa-sha2-nistp521",
    }
)

_MARKERS = ("@cert-authority", "@revoked")


class KnownHostsSyntaxError(ValueError):
    """A line of a known_hosts file is malformed; the message names file and line."""


@dataclass(frozen=True, slots=True)
class HostKey:
    key_type: str
    key_base64: str

    def line_for(self, lookup_name: str) -> str:
        return f"{lookup_name} {self.key_type} {self.key_base64}\n"


@dataclass(frozen=True, slots=True)
class _Entry:
    line: int
    marker: str | None  # "@revoked", "@cert-authority" or None
    hosts: str  # comma-separated patterns, or one |1|salt|hash
    key: HostKey

    def applies_to(self, lookup_name: str) -> bool:
        if self.hosts.startswith("|1|"):
            return _hashed_name_matches(self.hosts, lookup_name)
        matched = False
        for pattern in self.hosts.split(","):
            negated = pattern.startswith("!")
            if _glob_matches(pattern[1:] if negated else pattern, lookup_name):
                if negated:
                    return False
                matched = True
        return matched


@dataclass(frozen=True, slots=True)
class KnownHostKeys:
    """The keys a known_hosts file lists for one host, sorted out."""

    lookup_name: str  # "host" for port 22, "[host]:port" otherwise
    trusted: tuple[HostKey, ...]
    revoked: tuple[HostKey, ...]
    unsupported: tuple[str, ...]  # why some matching lines cannot be used

    def libssh2_file(self) -> str:
        """The known_hosts text libssh2 should see: only the trusted keys, plainly named."""
        return "".join(key.line_for(self.lookup_name) for key in self.trusted)


def lookup_name(host: str, port: int | None) -> str:
    """The name ssh looks up: ``host`` on port 22, ``[host]:port`` on any other port."""
    host = host.lower()
    return host if port in (None, 22) else f"[{host}]:{port}"


def keys_for_host(text: str, path: Path, host: str, port: int | None) -> KnownHostKeys:
    """The usable keys ``text`` (the content of ``path``) lists for ``host`` on ``port``."""
    name = lookup_name(host, port)
    entries = [entry for entry in parse_known_hosts(text, path) if entry.applies_to(name)]
    revoked = tuple(entry.key for entry in entries if entry.marker == "@revoked")
    trusted: list[HostKey] = []
    unsupported: list[str] = []
    for entry in entries:
        if entry.marker == "@cert-authority":
            unsupported.append(f"{path}:{entry.line}: host certificates are not supported")
        elif entry.marker is None and entry.key in revoked:
            unsupported.append(f"{path}:{entry.line}: key is marked @revoked")
        elif entry.marker is None and entry.key.key_type not in LIBSSH2_KEY_TYPES:
            unsupported.append(f"{path}:{entry.line}: key type {entry.key.key_type} unsupported")
        elif entry.marker is None and entry.key not in trusted:
            trusted.append(entry.key)
    return KnownHostKeys(name, tuple(trusted), revoked, tuple(unsupported))


def parse_known_hosts(text: str, path: Path) -> list[_Entry]:
    """Every entry of a known_hosts file; comments and blank lines skipped."""
    entries = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        marker = fields.pop(0) if fields[0].startswith("@") else None
        where = f"{path}:{number}"
        if marker is not None and marker not in _MARKERS:
            raise KnownHostsSyntaxError(f"{where}: unknown marker {marker!r}")
        if len(fields) < 3:
            raise KnownHostsSyntaxError(f"{where}: expected 'hosts key-type base64-key'")
        hosts, key_type, key_base64 = fields[:3]
        _check_key(where, key_type, key_base64)
        if hosts.startswith("|") and not _HASHED.match(hosts):
            raise KnownHostsSyntaxError(f"{where}: malformed hashed host name")
        entries.append(_Entry(number, marker, hosts, HostKey(key_type, key_base64)))
    return entries


_HASHED = re.compile(r"^\|1\|([A-Za-z0-9+/=]+)\|([A-Za-z0-9+/=]+)$")


def _hashed_name_matches(hashed: str, name: str) -> bool:
    found = _HASHED.match(hashed)
    if found is None:
        return False
    salt, digest = base64.b64decode(found[1]), base64.b64decode(found[2])
    return hmac.compare_digest(hmac.new(salt, name.encode(), hashlib.sha1).digest(), digest)


def _glob_matches(pattern: str, name: str) -> bool:
    """OpenSSH host patterns: ``*`` and ``?`` wildcards, case-insensitive, whole name."""
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern.lower()
    )
    return re.fullmatch(regex, name.lower()) is not None


def _check_key(where: str, key_type: str, key_base64: str) -> None:
    """The blob must decode and name its own type, as every SSH public key blob does."""
    try:
        blob = base64.b64decode(key_base64, validate=True)
        (length,) = struct.unpack(">I", blob[:4])
        embedded = blob[4 : 4 + length].decode("ascii")
    except (binascii.Error, struct.error, UnicodeDecodeError) as error:
        raise KnownHostsSyntaxError(f"{where}: the key is not valid base64 key data") from error
    if embedded != key_type:
        raise KnownHostsSyntaxError(f"{where}: key data is {embedded!r}, line says {key_type!r}")

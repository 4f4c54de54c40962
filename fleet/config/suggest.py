"""Near-miss suggestions for misspelt keys and names (``did you mean 'platform'?``)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

#: Inline credentials people try to write, and the file key that replaces each.
INLINE_SECRETS: dict[str, str] = {
    "token": "tokenFile",
    "password": "passwordFile",
    "username": "usernameFile",
    "sshKey": "sshKeyFile",
    "privateKey": "sshKeyFile",
    "knownHosts": "knownHostsFile",
    "ca": "caFile",
    "caData": "caFile",
    "certificateAuthorityData": "caFile",
    "certificate-authority-data": "caFile",
}


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word``, if any is close enough to be a likely typo."""
    pool = sorted(set(candidates))
    match = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not match:
        # Case slips (``Prune`` for ``prune``) score low on difflib but are obvious.
        match = [c for c in pool if c.lower() == word.lower()][:1]
    return match[0] if match else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` or an empty string."""
    match = closest(word, candidates)
    return f" (did you mean '{match}'?)" if match is not None and match != word else ""


def unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    if key in INLINE_SECRETS and INLINE_SECRETS[key] in allowed:
        return (
            f"unknown key '{key}': credentials are never written inline, "
            f"put it in a file and give {INLINE_SECRETS[key]}"
        )
    hint = did_you_mean(key, allowed)
    if hint:
        return f"unknown key '{key}'{hint}"
    if allowed:
        return f"unknown key '{key}' (allowed here: {', '.join(sorted(allowed))})"
    return f"unknown key '{key}'"

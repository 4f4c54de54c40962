"""Last-line defence against secrets in stored text.

The store is only ever given references, messages and diff summaries, never object
bodies. Messages, though, are built from errors that other libraries wrote: a Git error
may quote a clone URL with a token in it, an HTTP error may echo an ``Authorization``
header, a failed apply may quote a manifest line. So every message and every string in an
event's details passes through :func:`redact` before it is written. It errs on the side
of hiding: a hidden non-secret costs a little readability, a stored secret is a leak.

It hides values, not words, though: ``token: expired, retrying`` and ``app secret:
checked out`` are prose, not credentials. After a secret-named key, an unquoted word is
masked when it ends the field (end of line, ``,``, ``;``, ``}``) or looks like a
credential (digits and letters, or long); a plain word followed by more prose is kept,
and so are words that say a state (``missing``, ``expired``). Keys that name a reference
to a secret rather than the secret (``secretName``, ``tokenFile``) keep their values.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

MASK = "***"
#: Longer messages are cut: no legitimate message needs more, and a huge one is usually a
#: body that leaked into an error string.
MAX_MESSAGE_CHARS = 4000

# These run on text other programs wrote, so every pattern is linear: no unbounded
# repetition before an alternation, and key names are matched as whole runs (possessive,
# anchored at the start of a run) and only then checked against the secret words.
_SECRET_WORD = re.compile(
    r"(?i)token|secret|passw(?:or)?d|passwd|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|credential|authorization"
)
_NAME = r"(?<![A-Za-z0-9_.-])(?P<name>[A-Za-z0-9_.-]{1,80}+)"
#: Keys that name where a secret is, not the secret itself.
_REFERENCE_KEY = re.compile(r"(?i)(?:name|file|path|ref|dir)$")
#: Words that say what state a secret is in; never a credential's value.
_STATE_WORDS = frozenset(
    [
        "missing",
        "empty",
        "invalid",
        "expired",
        "required",
        "unset",
        "none",
        "null",
        "true",
        "false",
        "set",
        "not",
        "found",
        "failed",
        "denied",
        "rejected",
        "ok",
        "unknown",
        "rotated",
        "revoked",
        "changed",
        "configured",
        "present",
        "absent",
    ]
)
#: Authorization schemes: the credential after them is the bearer pattern's business.
_SCHEMES = frozenset({"bearer", "basic", "digest", "negotiate"})
_PROSE_FOLLOWS = re.compile(r"[ \t]+[A-Za-z(]")
_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")


def looks_like_credential(value: str) -> bool:
    """Long, or letters and digits mixed: ``hunter2``, ``ghs_abc123...``; not ``checked``."""
    return len(value) >= 16 or (
        len(value) >= 6 and bool(_DIGIT.search(value)) and bool(_LETTER.search(value))
    )


def _is_secret_key(name: str) -> bool:
    return bool(_SECRET_WORD.search(name)) and not _REFERENCE_KEY.search(name)


def _mask_if_secret_name(match: re.Match[str]) -> str:
    if not _is_secret_key(match["name"]):
        return match[0]
    quote = match["q"] or ""
    return match["key"] + quote + MASK + quote


def _mask_colon_value(match: re.Match[str]) -> str:
    """``key: value``: a quoted value always goes; an unquoted word only if it is a value."""
    if not _is_secret_key(match["name"]):
        return match[0]
    if not match["q"]:
        value = match["value"]
        prose = _PROSE_FOLLOWS.match(match.string, match.end()) is not None
        if value.lower() in _SCHEMES:
            return match[0]
        if not looks_like_credential(value) and (prose or value.lower() in _STATE_WORDS):
            return match[0]
    quote = match["q"] or ""
    return match["key"] + quote + MASK + quote


def _mask_bearer(match: re.Match[str]) -> str:
    return match[0] if not looks_like_credential(match[3]) else match[1] + match[2] + MASK


Replacement = str | Callable[[re.Match[str]], str]

_PATTERNS: tuple[tuple[re.Pattern[str], Replacement], ...] = (
    # PEM private key blocks: the whole block (to the end of the text if it was cut).
    (
        re.compile(
            r"-----BEGIN [A-Z0-9 ]{0,40}PRIVATE KEY-----.*?"
            r"(?:-----END [A-Z0-9 ]{0,40}PRIVATE KEY-----|$)",
            re.DOTALL,
        ),
        "-----PRIVATE KEY " + MASK + "-----",
    ),
    # user:password@ or token@ in URLs.
    (
        re.compile(
            r"(?<![A-Za-z0-9+.-])(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]{0,30}+://)"
            r"[^/\s:@]{0,256}+(?::[^/\s@]{0,256}+)?@"
        ),
        r"\g<scheme>" + MASK + "@",
    ),
    # Authorization: Bearer/Basic/token <credential>, and bare "Bearer <credential>".
    (
        re.compile(r"(?i)\b(bearer|basic|token)(\s+)([A-Za-z0-9\-._~+/]{8,}+=*)"),
        _mask_bearer,
    ),
    # JSON or YAML-ish: "token": "quoted value" / password: value.
    (
        re.compile(
            rf"(?P<key>[\"']?{_NAME}[\"']?[ \t]*:[ \t]*)"
            r"(?:(?P<q>[\"'])(?:\\.|(?!(?P=q)).)*+(?P=q)|(?P<value>[^\s\"',;}]++))"
        ),
        _mask_colon_value,
    ),
    # key=value, as in query strings, command lines and logfmt.
    (re.compile(rf"(?P<key>{_NAME}=)(?P<q>)[^\s&;,\"']++"), _mask_if_secret_name),
    # Well-known credential shapes, wherever they appear.
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"), MASK),
    (re.compile(r"\bglpat-[A-Za-z0-9_\-]{20,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bAGE-SECRET-KEY-1[0-9A-Z]{20,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}+\.eyJ[A-Za-z0-9_\-]{5,}+\.[A-Za-z0-9_\-]*"), MASK),
)


@functools.lru_cache(maxsize=1024)
def redact(text: str) -> str:
    """``text`` with credentials masked and its length capped.

    Cached: the daemon records the same few messages ("3/3 replicas available") over and
    over, and the patterns were the main cost of writing resource results.
    """
    length = len(text)
    # Redact a little past the cut, so that a secret straddling it is still recognised.
    text = text[: MAX_MESSAGE_CHARS + 512]
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    if length > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + f"... [{length - MAX_MESSAGE_CHARS} chars cut]"
    return text


def redact_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a JSON-like mapping with every string redacted and secret-named keys masked."""
    return {str(key): _redact_value(str(key), value) for key, value in details.items()}


def _redact_value(key: str, value: Any) -> Any:
    if _is_secret_key(key) and value not in (None, "", {}, []):
        return MASK
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return redact_details(value)
    if isinstance(value, list | tuple):
        return [_redact_value("", item) for item in value]
    return value

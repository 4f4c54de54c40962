"""age identities and the data key sealed to each recipient (sops ``age/keysource.go``).

sops encrypts the 32-byte data key to every age recipient separately and stores each
result as an armored age file in the ``enc`` field of that recipient.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyrage

from fleet.adapters.secrets.errors import SopsError

IDENTITY_PREFIX = "AGE-SECRET-KEY-1"
RECIPIENT_PREFIX = "age1"


def load_identities(key_files: Sequence[Path]) -> list[str]:
    """Every age identity in the files (one per line, ``#`` comments allowed)."""
    identities: list[str] = []
    for key_file in key_files:
        try:
            text = Path(key_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SopsError(str(key_file), f"cannot read age key file: {reason}") from None
        found = parse_identities(text, str(key_file))
        if not found:
            raise SopsError(str(key_file), "age key file holds no AGE-SECRET-KEY-1... identity")
        identities.extend(found)
    return identities


def parse_identities(text: str, source: str) -> list[str]:
    """The identities of an age key file's text; a malformed one names its line."""
    found: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.upper().startswith(IDENTITY_PREFIX):
            raise SopsError(
                f"{source}:{number}", "line is not an age identity (AGE-SECRET-KEY-1...)"
            )
        try:
            pyrage.x25519.Identity.from_str(line)
        except Exception:  # pyrage raises its own IdentityError, also for bad checksums
            raise SopsError(f"{source}:{number}", "malformed age identity") from None
        found.append(line)
    return found


def public_key(identity: str) -> str:
    """The recipient (``age1...``) of an identity."""
    return str(pyrage.x25519.Identity.from_str(identity).to_public())


def check_recipient(recipient: str, source: str) -> str:
    """The recipient, stripped, or a SopsError naming it."""
    text = recipient.strip()
    try:
        pyrage.x25519.Recipient.from_str(text)
    except Exception:
        raise SopsError(source, f"{text!r} is not an age recipient (age1...)") from None
    return text


def seal_data_key(data_key: bytes, recipient: str, source: str) -> str:
    """The armored age file holding the data key for one recipient."""
    parsed = pyrage.x25519.Recipient.from_str(check_recipient(recipient, source))
    armored: bytes = pyrage.encrypt(data_key, [parsed], armored=True)
    return armored.decode("ascii")


def open_data_key(enc: str, identities: Sequence[str]) -> bytes | None:
    """The data key, if one of the identities opens this armored age file."""
    parsed = [pyrage.x25519.Identity.from_str(i) for i in identities]
    if not parsed:
        return None
    try:
        plain: bytes = pyrage.decrypt(enc.encode("ascii"), parsed)
    except (pyrage.DecryptError, UnicodeEncodeError):
        return None
    return plain

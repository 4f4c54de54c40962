"""PGP recipients, opened through the host's ``gpg`` (sops ``pgp/keysource.go``).

sops encrypts the data key to each PGP key as an armored OpenPGP message in the ``enc``
field, next to the key's fingerprint ``fp``. fleet only decrypts these (the data key
leaves gpg on a pipe, never on disk); it does not write PGP recipients.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping

#: How long gpg may take (a pinentry that waits for a person would hang forever).
GPG_TIMEOUT_SECONDS = 30.0


def gpg_available() -> bool:
    return shutil.which("gpg") is not None


def open_with_gpg(enc: str, env: Mapping[str, str] | None = None) -> bytes | None:
    """The data key, if the host's gpg holds the secret key this message is sealed to."""
    binary = shutil.which("gpg")
    if binary is None:
        return None
    try:
        result = subprocess.run(
            [binary, "--batch", "--no-tty", "--quiet", "--decrypt"],
            input=enc.encode("ascii", errors="replace"),
            capture_output=True,
            timeout=GPG_TIMEOUT_SECONDS,
            env=dict(os.environ if env is None else env),
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 and result.stdout else None

"""Where the CLI finds age identities and recipients, the way the sops tool does."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from fleet.adapters.secrets.sops.agekeys import load_identities, parse_identities


def default_key_file(env: Mapping[str, str]) -> Path:
    """sops' default: ``$XDG_CONFIG_HOME/sops/age/keys.txt`` (``~/.config`` without it)."""
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME", "~")).expanduser() / ".config")
    return Path(base) / "sops" / "age" / "keys.txt"


def cli_identities(key_files: Sequence[Path], env: Mapping[str, str] | None = None) -> list[str]:
    """Identities from ``--age-key-file``, ``$SOPS_AGE_KEY_FILE``, ``$SOPS_AGE_KEY`` and
    the default key file when it exists; every named file must be readable. May be empty:
    a file with PGP recipients can still open through gpg."""
    environ = os.environ if env is None else env
    files = list(key_files)
    if environ.get("SOPS_AGE_KEY_FILE"):
        files.append(Path(environ["SOPS_AGE_KEY_FILE"]))
    identities = load_identities(files)
    if environ.get("SOPS_AGE_KEY"):
        identities += parse_identities(environ["SOPS_AGE_KEY"].replace(",", "\n"), "$SOPS_AGE_KEY")
    default = default_key_file(environ)
    if default.is_file() and default not in files:
        identities += load_identities([default])
    return identities


def split_recipients(values: Sequence[str]) -> list[str]:
    """``--age a,b --age c`` as [a, b, c]."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]

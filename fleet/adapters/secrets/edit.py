"""``fleet secrets edit``: the plain text lives only in a private, memory-backed temp file
while $EDITOR runs, and is overwritten and removed whatever happens."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from fleet.adapters.secrets.errors import SopsError
from fleet.adapters.secrets.files import private_temp_dir, shred, write_replacing
from fleet.adapters.secrets.keysources import cli_identities
from fleet.adapters.secrets.rules import encryption_settings
from fleet.adapters.secrets.sops.api import OpenedFile, encrypt_text, open_for_edit, reseal
from fleet.adapters.secrets.sops.formats import Format


class EditAborted(Exception):
    """The editor failed; the file was left as it was."""


def editor_command(env: Mapping[str, str]) -> list[str]:
    """``$EDITOR`` (else ``$VISUAL``, else ``vi``), split like a shell would."""
    return shlex.split(env.get("EDITOR") or env.get("VISUAL") or "vi")


def edit_file(
    file: Path,
    fmt: Format,
    key_files: Sequence[Path],
    recipients: Sequence[str],
    config: Path | None,
    env: Mapping[str, str] | None = None,
    notice: Callable[[str], None] = lambda _message: None,
) -> bool:
    """Edit ``file`` (created when missing); True when it was rewritten."""
    environ = os.environ if env is None else env
    opened: OpenedFile | None = None
    if file.exists():
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise SopsError(str(file), f"cannot read: {exc.strerror or exc}") from None
        plain, opened = open_for_edit(
            data, fmt, cli_identities(key_files, environ), path=str(file), pgp=True
        )
    else:
        plain = b""
    edited = _edit_in_private(plain, file.suffix, environ, notice)
    if edited == plain:
        return False
    if opened is not None:
        sealed = reseal(edited, opened)
    else:
        settings = encryption_settings(file, recipients, config, {}, environ)
        sealed = encrypt_text(edited, fmt, path=str(file), **settings)
    write_replacing(file, sealed)
    return True


def _edit_in_private(
    plain: bytes, suffix: str, env: Mapping[str, str], notice: Callable[[str], None]
) -> bytes:
    directory = private_temp_dir(env)
    if directory is None:
        notice(
            f"no memory-backed temp directory ($XDG_RUNTIME_DIR, /dev/shm): the plain text "
            f"is kept in {tempfile.gettempdir()} (mode 0600) while the editor runs"
        )
    fd, name = tempfile.mkstemp(prefix="fleet-secrets-", suffix=suffix, dir=directory)
    temp = Path(name)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(plain)
        command = [*editor_command(env), str(temp)]
        try:
            result = subprocess.run(command, check=False, env=dict(env))
        except OSError as exc:
            raise EditAborted(
                f"cannot run the editor {command[0]!r}: {exc.strerror or exc}"
            ) from None
        if result.returncode != 0:
            raise EditAborted(
                f"the editor exited with {result.returncode}; the file was not changed"
            )
        return temp.read_bytes()
    finally:
        shred(temp)

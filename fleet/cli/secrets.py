"""``fleet secrets``: encrypt, decrypt, edit, rotate and re-key SOPS files, no sops binary.

A local command: it never talks to the daemon. Files are SOPS files with age keys that
the real ``sops`` reads and writes too (docs/secrets.md). Heavy imports happen in the
handlers so that ``fleet --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fleet.adapters.secrets import Format

_FORMATS = ("yaml", "json", "dotenv", "binary")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "secrets",
        help="encrypt, decrypt, edit, rotate and re-key SOPS files (age)",
        description="Work with SOPS files (age keys) without the sops binary. See docs/secrets.md.",
    )
    actions = parser.add_subparsers(dest="secrets_action", metavar="ACTION", required=True)

    encrypt = actions.add_parser(
        "encrypt",
        help="print FILE encrypted (recipients from --age, $SOPS_AGE_RECIPIENTS or .sops.yaml)",
    )
    _file_arguments(encrypt)
    encrypt.add_argument(
        "--age",
        action="append",
        default=[],
        metavar="RECIPIENT[,RECIPIENT...]",
        help="age recipients (repeatable); default: $SOPS_AGE_RECIPIENTS, else the "
        "first matching creation rule of the nearest .sops.yaml",
    )
    encrypt.add_argument("--config", type=Path, metavar="FILE", help="the .sops.yaml to use")
    for flag in ("encrypted-regex", "unencrypted-regex", "encrypted-suffix", "unencrypted-suffix"):
        encrypt.add_argument(f"--{flag}", metavar="TEXT", help=f"sops' {flag.replace('-', '_')}")
    encrypt.add_argument(
        "--mac-only-encrypted",
        action="store_true",
        help="compute the MAC over encrypted values only",
    )
    encrypt.set_defaults(handler=run_encrypt)

    decrypt = actions.add_parser("decrypt", help="print FILE decrypted, like sops -d")
    _file_arguments(decrypt)
    _key_arguments(decrypt)
    decrypt.set_defaults(handler=run_decrypt)

    edit = actions.add_parser(
        "edit", help="decrypt FILE to a private temp file, run $EDITOR, re-encrypt"
    )
    edit.add_argument("file", type=Path, metavar="FILE")
    edit.add_argument("--input-type", choices=_FORMATS, help="format (default: by extension)")
    _key_arguments(edit)
    edit.add_argument(
        "--age", action="append", default=[], metavar="RECIPIENT", help="recipients of a new file"
    )
    edit.add_argument("--config", type=Path, metavar="FILE", help="the .sops.yaml to use")
    edit.set_defaults(handler=run_edit)

    rotate = actions.add_parser(
        "rotate", help="re-encrypt FILE in place under a new data key, same recipients"
    )
    rotate.add_argument("file", type=Path, metavar="FILE")
    rotate.add_argument("--input-type", choices=_FORMATS, help="format (default: by extension)")
    _key_arguments(rotate)
    rotate.set_defaults(handler=run_rotate)

    updatekeys = actions.add_parser(
        "updatekeys",
        help="seal FILE's data key (in place) to new recipients; values do not change",
    )
    updatekeys.add_argument("file", type=Path, metavar="FILE")
    updatekeys.add_argument("--input-type", choices=_FORMATS, help="format (default: by extension)")
    updatekeys.add_argument(
        "--age",
        action="append",
        default=[],
        metavar="RECIPIENT[,RECIPIENT...]",
        help="the new recipients (default: the matching rule of the nearest .sops.yaml)",
    )
    updatekeys.add_argument("--config", type=Path, metavar="FILE", help="the .sops.yaml to use")
    _key_arguments(updatekeys)
    updatekeys.set_defaults(handler=run_updatekeys)


def _file_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, metavar="FILE")
    parser.add_argument("--input-type", choices=_FORMATS, help="format (default: by extension)")
    parser.add_argument(
        "-i", "--in-place", action="store_true", help="write the result to FILE, not stdout"
    )


def _key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--age-key-file",
        action="append",
        default=[],
        type=Path,
        metavar="KEYS",
        help="age identity file (repeatable); $SOPS_AGE_KEY_FILE, $SOPS_AGE_KEY and "
        "~/.config/sops/age/keys.txt are read too",
    )


def _format(args: argparse.Namespace) -> Format:
    from fleet.adapters.secrets import SopsError, format_for_path

    if args.input_type:
        given: Format = args.input_type
        return given
    if args.file.name.lower().endswith(".ini"):
        raise SopsError(str(args.file), "INI files are not supported; use --input-type binary")
    chosen: Format = format_for_path(args.file.name)
    return chosen


def _fail(message: str) -> int:
    print(f"fleet secrets: {message}", file=sys.stderr)
    return 1


def _read(path: Path) -> bytes:
    from fleet.adapters.secrets import SopsError

    try:
        return path.read_bytes()
    except OSError as exc:
        raise SopsError(str(path), f"cannot read: {exc.strerror or exc}") from None


def _emit(args: argparse.Namespace, data: bytes) -> None:
    if getattr(args, "in_place", False):
        from fleet.adapters.secrets.files import write_replacing

        write_replacing(args.file, data)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()


def run_encrypt(args: argparse.Namespace) -> int:
    from fleet.adapters.secrets import SopsError, encrypt_text
    from fleet.adapters.secrets.rules import encryption_settings

    try:
        settings = encryption_settings(args.file, args.age, args.config, vars(args), os.environ)
        data = encrypt_text(_read(args.file), _format(args), path=str(args.file), **settings)
        _emit(args, data)
    except SopsError as exc:
        return _fail(str(exc))
    return 0


def run_decrypt(args: argparse.Namespace) -> int:
    from fleet.adapters.secrets import SopsError, decrypt_text
    from fleet.adapters.secrets.keysources import cli_identities

    try:
        identities = cli_identities(args.age_key_file)
        data = decrypt_text(
            _read(args.file), _format(args), identities, path=str(args.file), pgp=True
        )
        _emit(args, data)
    except SopsError as exc:
        return _fail(str(exc))
    return 0


def run_edit(args: argparse.Namespace) -> int:
    from fleet.adapters.secrets import SopsError
    from fleet.adapters.secrets.edit import EditAborted, edit_file

    try:
        changed = edit_file(
            args.file,
            _format(args),
            args.age_key_file,
            args.age,
            args.config,
            notice=lambda message: print(f"fleet secrets: {message}", file=sys.stderr),
        )
    except EditAborted as exc:
        return _fail(str(exc))
    except SopsError as exc:
        return _fail(str(exc))
    if not changed:
        print(f"{args.file}: unchanged", file=sys.stderr)
    return 0


def run_rotate(args: argparse.Namespace) -> int:
    from fleet.adapters.secrets import SopsError, rotate_text
    from fleet.adapters.secrets.files import write_replacing
    from fleet.adapters.secrets.keysources import cli_identities

    try:
        identities = cli_identities(args.age_key_file)
        data = rotate_text(
            _read(args.file), _format(args), identities, path=str(args.file), pgp=True
        )
        write_replacing(args.file, data)
    except SopsError as exc:
        return _fail(str(exc))
    print(f"{args.file}: new data key", file=sys.stderr)
    return 0


def run_updatekeys(args: argparse.Namespace) -> int:
    from fleet.adapters.secrets import SopsError, update_keys_text
    from fleet.adapters.secrets.files import write_replacing
    from fleet.adapters.secrets.keysources import cli_identities
    from fleet.adapters.secrets.rules import recipients_for

    try:
        recipients = recipients_for(args.file, args.age, args.config, os.environ)
        identities = cli_identities(args.age_key_file)
        data = update_keys_text(
            _read(args.file), _format(args), identities, recipients, path=str(args.file), pgp=True
        )
        write_replacing(args.file, data)
    except SopsError as exc:
        return _fail(str(exc))
    print(f"{args.file}: recipients now {', '.join(recipients)}", file=sys.stderr)
    return 0

"""``fleet import argocd FILE... [--out fleet.yaml] [--credentials-dir DIR]``.

Reads Argo CD manifests (Applications, ApplicationSets, AppProjects, declarative cluster
Secrets; files or directories of them) and writes the equivalent fleet config, with a
comment wherever something could not be carried over (fleet.config.argocd). The files
are untrusted input: each is read up to a size limit and parsed with the same bounded
YAML loader as repository content (aliases and documents bounded), and any problem is
reported with the file and line, before anything is written.

Cluster credentials are never written into the config: with ``--credentials-dir`` they
go to files of their own (mode 0600, in a directory of mode 0700) that the config names;
without it the config names where they should go and a comment says which Secret field.
"""

from __future__ import annotations

import argparse
import os
import sys
from io import StringIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fleet.config.argocd import ArgoObject, CredentialFile

#: The largest input file read; Argo CD manifests are small, a bigger file is a mistake.
MAX_FILE_BYTES = 4 << 20
#: Objects read from all inputs together.
MAX_OBJECTS = 10_000
_SUFFIXES = (".yaml", ".yml", ".json")


class InputError(Exception):
    """An input that cannot be read; the message names the file (and line)."""


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "import",
        help="turn another tool's configuration into a fleet config",
        description="Turn another tool's configuration into a fleet config.",
    )
    tools = parser.add_subparsers(dest="tool", metavar="TOOL", required=True)
    argocd = tools.add_parser(
        "argocd",
        help="Argo CD Applications, ApplicationSets, AppProjects and cluster Secrets",
        description="Write the fleet config equivalent to Argo CD manifests, with a "
        "comment for every field that could not be carried over.",
    )
    argocd.add_argument("files", nargs="+", type=Path, metavar="FILE", help="files or folders")
    argocd.add_argument(
        "--out", type=Path, metavar="FILE", help="write the config here (default: stdout)"
    )
    argocd.add_argument(
        "--credentials-dir",
        type=Path,
        metavar="DIR",
        help="write cluster credentials (tokens, CA certificates, kubeconfigs) here, "
        "one file each, mode 0600; without it the config only names where they go",
    )
    argocd.add_argument(
        "--force", action="store_true", help="overwrite the output and credential files"
    )
    argocd.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from ruamel.yaml import YAML

    from fleet.config.argocd import ArgoImportError, convert

    err = sys.stderr
    out: Path | None = args.out
    if out is not None and out.exists() and not args.force:
        print(f"fleet import argocd: {out} exists (give --force to overwrite it)", file=err)
        return 1
    try:
        objects = read_objects(args.files)
        credentials_dir = _credentials_dir_in_config(args.credentials_dir, out)
        result = convert(objects, parse_embedded_yaml, credentials_dir)
    except (InputError, ArgoImportError) as exc:
        print(f"fleet import argocd: {exc}", file=err)
        return 1
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.width = 100
    buffer = StringIO()
    yaml.dump(result.document, buffer)
    try:
        if args.credentials_dir is not None:
            write_credentials(args.credentials_dir, result.credentials, args.force)
        if out is None:
            sys.stdout.write(buffer.getvalue())
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(buffer.getvalue(), encoding="utf-8")
    except OSError as exc:
        print(f"fleet import argocd: cannot write: {exc}", file=err)
        return 1
    counts = ", ".join(f"{section}: {n}" for section, n in result.counts.items() if n)
    print(
        f"fleet import argocd: {len(objects)} objects read; {counts or 'nothing written'}; "
        f"{len(result.skipped)} not imported (see the comments at the top)",
        file=err,
    )
    if result.credentials:
        print(
            f"fleet import argocd: {len(result.credentials)} credential files in "
            f"{args.credentials_dir} (mode 0600)",
            file=err,
        )
    target = out if out is not None else "FILE"
    print(f"check it with: fleet validate --config {target}", file=err)
    return 0


def _credentials_dir_in_config(directory: Path | None, out: Path | None) -> str | None:
    """How the config names the credentials directory: relative to the config file when
    there is one (the config reads relative paths from its own folder), else absolute."""
    if directory is None:
        return None
    if out is None:
        return str(directory.absolute())
    return os.path.relpath(directory.absolute(), out.absolute().parent)


def read_objects(paths: list[Path]) -> list[ArgoObject]:
    """Every object of the files (and the YAML files below the folders) given."""
    from fleet.config.argocd import ArgoObject

    objects: list[ArgoObject] = []
    for path in _files(paths):
        for line, body in _documents(path):
            if body.get("kind") == "List" and isinstance(body.get("items"), list):
                items = [item for item in body["items"] if isinstance(item, dict)]
            else:
                items = [body]
            objects += [ArgoObject(str(path), line, item) for item in items]
            if len(objects) > MAX_OBJECTS:
                raise InputError(f"{path}: more than {MAX_OBJECTS} objects in all")
    return objects


def _files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        else:
            files.append(path)
    return files


def _documents(path: Path) -> list[tuple[int, dict[str, Any]]]:
    from fleet.adapters.render.errors import RenderError
    from fleet.adapters.render.yamldocs import load_documents

    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{path}: larger than {MAX_FILE_BYTES >> 20} MiB, not read")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    try:
        documents = load_documents(text, str(path), max_documents=MAX_OBJECTS)
    except RenderError as exc:
        raise InputError(str(exc)) from None
    out = []
    for document in documents:
        if not isinstance(document.value, dict):
            raise InputError(f"{path}:{document.line}: a document is not a mapping")
        out.append((document.line, document.value))
    return out


def parse_embedded_yaml(text: str, where: str) -> Any:
    """YAML kept in a string field (Helm values), with the same bounds as a file."""
    from fleet.adapters.render.errors import RenderError
    from fleet.adapters.render.yamldocs import load_documents

    if len(text.encode()) > MAX_FILE_BYTES:
        raise InputError(f"{where}: larger than {MAX_FILE_BYTES >> 20} MiB")
    try:
        documents = load_documents(text, where, max_documents=1)
    except RenderError as exc:
        raise InputError(str(exc)) from None
    return documents[0].value if documents else None


def write_credentials(directory: Path, files: list[CredentialFile], force: bool) -> None:
    """Each file readable by its owner only; an existing one is kept unless ``force``."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(directory, 0o700)
    for item in files:
        target = directory / item.name
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
        try:
            descriptor = os.open(target, flags, 0o600)
        except FileExistsError:
            raise OSError(f"{target} exists (give --force to overwrite it)") from None
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)
            handle.write(item.content)

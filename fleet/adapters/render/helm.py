"""Helm charts, rendered in process through helm-python-sdk (Helm's Go SDK over ctypes).

``Chart.render`` is ``helm template`` without the binary: offline (``lookup`` returns
nothing), values checked against ``values.schema.json``. On top of it fleet:

- merges values files (repository-relative, in order) and then inline values, maps deep
  and everything else replaced, as ``helm -f a.yaml -f b.yaml --set ...`` does;
- puts the chart's ``crds/`` first (subcharts' too), as ``helm install`` creates them first;
- keeps hooks as objects with their annotations (the sync runs them), drops NOTES.txt
  and empty documents;
- refuses a dependency that is not vendored under ``charts/`` (Helm would need the
  network to fetch it) and a ``.Files`` call whose literal path leaves the chart;
- names the template file of every object (Helm's ``# Source:``), and the line of the
  document within that template's rendered output.

helm-python is synchronous and holds no event loop: the caller runs this in a thread.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fleet.adapters.render.errors import (
    HelmTemplateError,
    InvalidYamlError,
    PathNotFoundError,
    UnsafeInputError,
)
from fleet.adapters.render.limits import (
    check_file,
    check_objects,
    check_rendered,
    remaining_objects,
)
from fleet.adapters.render.objects import manifests_from
from fleet.adapters.render.request import HelmOptions
from fleet.adapters.render.sandbox import display, read_text, reference, walk_files
from fleet.adapters.render.yamldocs import child_node, load_documents, load_one
from fleet.model.manifests import Manifest, Origin

_VENDORED = frozenset({"ok", "unpacked"})
_FILES_CALL = re.compile(r"\.Files\.(?:Get|GetBytes|Glob|Lines)\s+\"([^\"]*)\"")
_TEMPLATE_LOCATION = re.compile(r"([\w.-]+/[^\s:\"]+):(\d+)(?::\d+)?")


def values_file_paths(root: Path, options: HelmOptions) -> list[str]:
    """The values files, resolved inside the repository (or an error naming the entry)."""
    return [
        reference(root, "", entry, source=entry, line=None, what="values file")
        for entry in options.values_files
    ]


def check_chart(root: Path, chart_dir: str) -> None:
    """Refuse what would reach outside the repository or the network; raise naming files."""
    if not (root / chart_dir / "Chart.yaml").is_file():
        raise PathNotFoundError("no Chart.yaml here", path=display(chart_dir))
    files = walk_files(root, chart_dir)  # also refuses symlinks out of the repository
    for rel in files:
        check_file(root, rel)  # Helm loads every file of the chart into memory
        if posixpath.basename(rel) == "Chart.yaml":
            _check_dependencies(root, posixpath.dirname(rel))
        if "/templates/" in rel or rel.startswith("templates/"):
            _check_files_calls(root, rel)


def _check_dependencies(root: Path, chart: str) -> None:
    import helm_python as helm  # imported on first use: loading Helm's library takes ~0.1 s

    statuses = {dep["name"]: dep for dep in helm.dependency_list(root / chart)}
    declared_in = posixpath.join(chart, "Chart.yaml")
    document = load_one(read_text(root, declared_in), declared_in)
    lines: dict[str, int] = {}
    deps_node = child_node(document.node, "dependencies") if document else None
    for item in getattr(deps_node, "value", []):
        name_node = child_node(item, "name")
        if name_node is not None:
            lines[str(name_node.value)] = name_node.start_mark.line + 1
    for name, dependency in statuses.items():
        if dependency.get("status") in _VENDORED:
            continue
        source = dependency.get("repository") or "no repository"
        raise UnsafeInputError(
            f"dependency {name!r} ({source}) is {dependency.get('status')} in charts/; fleet "
            "never downloads charts: run `helm dependency build` and commit charts/",
            path=declared_in,
            line=lines.get(name),
        )


def _check_files_calls(root: Path, rel: str) -> None:
    try:
        text = (root / rel).read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return  # not a text template; Helm will say so if it matters
    for number, line in enumerate(text.splitlines(), start=1):
        for match in _FILES_CALL.finditer(line):
            target = match.group(1)
            parts = target.replace("\\", "/").split("/")
            if target.startswith("/") or ".." in parts:
                raise UnsafeInputError(
                    f".Files path {target!r} leaves the chart; a chart can read only its own files",
                    path=rel,
                    line=number,
                )


def merged_values(
    root: Path,
    values_files: list[str],
    inline: Mapping[str, Any],
    replacements: Mapping[str, bytes] | None = None,
) -> dict[str, Any]:
    """Values files in order, then the inline values: later wins, maps merge deeply.

    A file in ``replacements`` (decrypted in the daemon) is read from there, in memory."""
    merged: dict[str, Any] = {}
    for rel in values_files:
        given = (replacements or {}).get(rel)
        merged = _deep_merge(merged, _read_values(root, rel, given))
    return _deep_merge(merged, dict(inline))


def _read_values(root: Path, rel: str, given: bytes | None = None) -> dict[str, Any]:
    import helm_python as helm

    text = read_text(root, rel) if given is None else given.decode("utf-8", errors="replace")
    load_documents(text, rel)  # reports bad YAML with its line, which Helm's parser does not
    try:
        values = helm.values_from_yaml(text)
    except helm.HelmError as error:
        raise HelmTemplateError(f"invalid values: {error}", path=rel) from None
    return dict(values or {})


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = _deep_merge(current, value)
        else:
            merged[key] = value
    return merged


def render_chart(
    root: Path,
    chart_dir: str,
    values: dict[str, Any],
    release_name: str,
    namespace: str | None,
) -> list[Manifest]:
    """CRDs then templates of the chart, as objects with their template as origin."""
    import helm_python as helm

    try:
        helm.validate_release_name(release_name)
    except helm.HelmError as error:
        raise HelmTemplateError(f"release name {release_name!r}: {error}") from None
    try:
        with helm.Chart.load(root / chart_dir) as chart:
            crds = chart.crds
            rendered = chart.render(values, name=release_name, namespace=namespace, is_install=True)
    except helm.HelmError as error:
        raise _template_error(str(error), chart_dir) from None
    texts = [(_repo_path(chart_dir, crd["filename"]), str(crd["data"])) for crd in crds]
    texts += [
        (_repo_path(chart_dir, key), rendered[key])
        for key in sorted(rendered)
        if posixpath.basename(key) != "NOTES.txt"
    ]
    check_rendered(sum(len(text) for _, text in texts), display(chart_dir), "Helm's output")
    manifests: list[Manifest] = []
    for rel, text in texts:
        manifests.extend(_objects(text, rel, remaining_objects(len(manifests))))
        check_objects(len(manifests), rel)
    return manifests


def _objects(text: str, rel: str, max_documents: int) -> list[Manifest]:
    try:
        documents = load_documents(text, rel, max_documents=max_documents)
    except InvalidYamlError as error:
        raise HelmTemplateError(
            f"rendered output is not valid YAML: {error.reason}", path=rel, line=error.line
        ) from None
    return manifests_from(documents, Origin(rel, 1, "helm"))


def _repo_path(chart_dir: str, key: str) -> str:
    """``mychart/templates/a.yaml`` (Helm names files under the chart's name) -> repo path."""
    return posixpath.join(chart_dir, key.split("/", 1)[1] if "/" in key else key)


def _template_error(message: str, chart_dir: str) -> HelmTemplateError:
    location = _TEMPLATE_LOCATION.search(message)
    if location is None:
        return HelmTemplateError(message.strip(), path=display(chart_dir))
    rel = _repo_path(chart_dir, location.group(1))
    detail = " ".join(message.replace(location.group(0), "", 1).split())
    return HelmTemplateError(detail or message.strip(), path=rel, line=int(location.group(2)))

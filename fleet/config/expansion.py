"""Expanding app generators into apps: pure, given each generator's directory listing.

:func:`expand_generator` fills a generator's template in once per entry (a directory, a
list element) and validates each result as an app; :func:`merge` puts the written apps
and every generator's apps together, deciding what each generator may change:

- an entry that fails (a bad name, a template error, a name another entry or a written
  app already has) is reported with the generator, the field and the entry, and its app
  keeps what it was before (a new one is not added): nothing clashing is applied, nothing
  is removed because of a mistake, and the other entries go on;
- a generator that fails as a whole (too many entries, its listing unreadable) keeps all
  the apps it had;
- a generator whose new entries would remove every app it had, or more than its
  ``pruneGuard`` allows, is held with all the apps it had until it is confirmed.

Issues carry a document path (``generators[0].template.name``), which the caller turns
into file:line:col with the config's document.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from fleet.config.apps import App
from fleet.config.generators import Generator
from fleet.config.issues import DocPath, format_doc_path
from fleet.config.schema_errors import describe_error

_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_SCALAR = str | int | float | bool
#: A sample directory standing in for the real ones when a config is checked offline.
SAMPLE_DIRECTORY = "sample/directory"


@dataclass(frozen=True, slots=True)
class GeneratorIssue:
    """One problem of one generator, at a path in the config document."""

    generator: str
    path: DocPath
    message: str

    def __str__(self) -> str:
        return f"{format_doc_path(self.path)}: {self.message}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing a generator makes an app of: ``label`` names it in messages."""

    label: str
    values: Mapping[str, _SCALAR]


@dataclass(slots=True)
class Expanded:
    """One generator's apps for one listing (see :func:`expand_generator`)."""

    generator: str
    apps: dict[str, App] = field(default_factory=dict)
    issues: list[GeneratorIssue] = field(default_factory=list)
    #: Names of entries that failed (when the name could be filled in): kept as they were.
    broken: set[str] = field(default_factory=set)
    #: The whole generator failed: it keeps every app it had.
    failed: bool = False
    #: Each app's template as filled in (what is stored to rebuild it after a restart).
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)


class FillError(ValueError):
    def __init__(self, path: DocPath, message: str) -> None:
        super().__init__(message)
        self.path = path


def entries_of(generator: Generator, directories: Sequence[str] | None) -> list[Entry]:
    """The generator's entries: its list elements, or the listed directories it matches."""
    if generator.elements is not None:
        return [
            Entry(f"list[{i}]", {f"params.{k}": v for k, v in element.items()})
            for i, element in enumerate(generator.elements)
        ]
    spec = generator.git_directories
    assert spec is not None
    chosen = sorted(path for path in directories or () if spec.matches(path))
    return [
        Entry(path, {"path": path, "path.basename": posixpath.basename(path)}) for path in chosen
    ]


def fill(template: Any, values: Mapping[str, _SCALAR], at: DocPath) -> Any:
    """``template`` with every generator placeholder replaced; ``{cluster.*}`` left alone.

    A string that is one placeholder and nothing else takes the parameter's own type (a
    number stays a number in Helm values); raises FillError at the offending field.
    """
    if isinstance(template, dict):
        return {key: fill(value, values, (*at, key)) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(item, values, (*at, i)) for i, item in enumerate(template)]
    if not isinstance(template, str):
        return template
    whole = _PLACEHOLDER.fullmatch(template.strip())
    if whole and whole.group(1).strip() in values:
        return values[whole.group(1).strip()]

    def one(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner in values:
            text = str(values[inner])
            if "{" in text or "}" in text:
                raise FillError(at, f"the value of {{{inner}}} ({text!r}) holds '{{' or '}}'")
            return text
        if inner.startswith("cluster."):
            return match.group(0)  # the app fills it in per cluster
        raise FillError(at, _unknown(inner, values))

    return _PLACEHOLDER.sub(one, template)


def _unknown(inner: str, values: Mapping[str, object]) -> str:
    if inner.startswith("params.") and all(k.startswith("params.") for k in values):
        known = ", ".join(sorted(k.removeprefix("params.") for k in values)) or "none"
        return f"this entry has no parameter '{inner.removeprefix('params.')}' (it has {known})"
    given = " and ".join(f"{{{k}}}" for k in sorted(values)) or "no placeholders"
    return f"unknown placeholder '{{{inner}}}': this generator gives {given} (and {{cluster.*}})"


def expand_generator(
    generator: Generator,
    index: int,
    directories: Sequence[str] | None,
    context: Mapping[str, Any] | None = None,
) -> Expanded:
    """The apps ``generator`` (``generators[index]``) makes of ``directories``."""
    return expand_entries(generator, index, entries_of(generator, directories), context)


def expand_entries(
    generator: Generator,
    index: int,
    entries: Sequence[Entry],
    context: Mapping[str, Any] | None = None,
) -> Expanded:
    """The apps ``generator`` makes of ``entries`` (see :func:`expand_generator`)."""
    at: DocPath = ("generators", index)
    out = Expanded(generator.name)
    if len(entries) > generator.max_apps:
        out.failed = True
        what = "directories match" if generator.git_directories else "list entries"
        out.issues.append(
            GeneratorIssue(
                generator.name,
                (*at, "maxApps"),
                f"generator {generator.name}: {len(entries)} {what}, more than maxApps "
                f"({generator.max_apps}); it keeps the apps it had",
            )
        )
        return out
    made_by: dict[str, str] = {}
    for entry in entries:
        name = _name_of(generator, entry)
        try:
            filled = fill(generator.template, entry.values, (*at, "template"))
            app = App.model_validate(filled, context=dict(context or {}))
        except FillError as exc:
            out.issues.append(_entry_issue(generator, entry, exc.path, str(exc)))
        except ValidationError as exc:
            for detail in exc.errors():
                loc = tuple(detail["loc"])
                message = describe_error(detail, App)
                out.issues.append(_entry_issue(generator, entry, (*at, "template", *loc), message))
        else:
            if app.name in made_by:
                out.issues.append(
                    _entry_issue(
                        generator,
                        entry,
                        (*at, "template", "name"),
                        f"makes app '{app.name}', as {made_by[app.name]} does: neither is applied",
                    )
                )
                out.apps.pop(app.name, None)
                out.entries.pop(app.name, None)
                out.broken.add(app.name)
            elif app.name not in out.broken:
                made_by[app.name] = entry.label
                out.apps[app.name] = app
                if isinstance(filled, dict):
                    out.entries[app.name] = filled
            continue
        if name is not None:
            out.broken.add(name)
    return out


def _name_of(generator: Generator, entry: Entry) -> str | None:
    raw = generator.template.get("name")
    try:
        name = fill(raw, entry.values, ())
    except FillError:
        return None
    return name if isinstance(name, str) else None


def _entry_issue(generator: Generator, entry: Entry, path: DocPath, message: str) -> GeneratorIssue:
    return GeneratorIssue(
        generator.name, path, f"generator {generator.name}, {entry.label}: {message}"
    )


@dataclass(slots=True)
class Merged:
    """The written and generated apps together, and what each generator did."""

    apps: list[App]
    #: Each generator's apps now (what the next :func:`merge` gets as ``previous``).
    generated: dict[str, dict[str, App]]
    issues: list[GeneratorIssue] = field(default_factory=list)
    #: Generators held by their prune guard: name -> why.
    held: dict[str, str] = field(default_factory=dict)
    #: A held generator's apps the removal would delete, and how many it had.
    removing: dict[str, tuple[list[str], int]] = field(default_factory=dict)

    def generator_of(self, app: str) -> str | None:
        for name, apps in self.generated.items():
            if app in apps:
                return name
        return None


def merge(
    written: Sequence[App],
    generators: Sequence[Generator],
    expanded: Mapping[str, Expanded],
    previous: Mapping[str, Mapping[str, App]] | None = None,
    confirmed: frozenset[str] = frozenset(),
) -> Merged:
    """Written apps, then each generator's (in config order); see the module docstring.

    ``expanded`` lacks a generator whose listing is not known yet (its source never
    fetched): it keeps the apps it had. ``confirmed`` names generators whose held removal
    a human confirmed.
    """
    previous = previous or {}
    taken: dict[str, str] = {app.name: "a written app" for app in written}
    merged = Merged(list(written), {})
    for index, generator in enumerate(generators):
        before = dict(previous.get(generator.name, {}))
        result = expanded.get(generator.name)
        if result is None or result.failed:
            mine = before
            if result is not None:
                merged.issues += result.issues
        else:
            merged.issues += result.issues
            mine = dict(result.apps)
            for name in result.broken & before.keys():
                mine[name] = before[name]
            why = _guard(generator, before, mine, confirmed)
            if why is not None:
                merged.held[generator.name] = why
                merged.removing[generator.name] = (sorted(set(before) - set(mine)), len(before))
                merged.issues.append(
                    GeneratorIssue(generator.name, ("generators", index, "pruneGuard"), why)
                )
                mine = before
        kept: dict[str, App] = {}
        for name, app in mine.items():
            if name in taken:
                merged.issues.append(
                    GeneratorIssue(
                        generator.name,
                        ("generators", index, "template", "name"),
                        f"generator {generator.name} makes app '{name}', which {taken[name]} "
                        "already is: the generated one is not applied",
                    )
                )
                continue
            taken[name] = f"generator {generator.name}'s app"
            kept[name] = app
        merged.generated[generator.name] = kept
        merged.apps += kept.values()
    return merged


def _guard(
    generator: Generator,
    before: Mapping[str, App],
    after: Mapping[str, App],
    confirmed: frozenset[str],
) -> str | None:
    """Why the change from ``before`` to ``after`` needs a human, or None."""
    removed = [name for name in before if name not in after]
    if not removed or generator.name in confirmed:
        return None
    guard = generator.prune_guard
    share = len(removed) / len(before)
    if not after:
        what = "every app it made"
    elif len(removed) >= guard.min_apps and share > guard.max_share:
        what = f"{len(removed)} of its {len(before)} apps (more than {guard.max_share:.0%})"
    else:
        return None
    return (
        f"generator {generator.name} would remove {what}: held, nothing deleted; check the "
        f"source, then confirm with: fleet sync {generator.name} --confirm-prune"
    )

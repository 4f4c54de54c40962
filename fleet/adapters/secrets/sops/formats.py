"""Parse and write the four file formats sops handles: YAML, JSON, dotenv and binary.

Each format turns bytes into (document, sops block) and back. YAML goes through
ruamel.yaml's round-trip mode so key order, comments and quoting survive; JSON keeps key
order; dotenv is read line by line as sops reads it, with the metadata flattened into
``sops_...`` keys; a binary file is one string under ``data``.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, MutableMapping, MutableSequence
from typing import Any, Literal

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.scalarstring import LiteralScalarString

from fleet.adapters.secrets.errors import SopsError
from fleet.adapters.secrets.sops.metadata import SOPS_KEY

Format = Literal["yaml", "json", "dotenv", "binary"]
FORMATS: tuple[str, ...] = ("yaml", "json", "dotenv", "binary")


def format_for_path(file_name: str) -> Format:
    """The format sops picks from a file's extension (binary when none matches)."""
    lowered = file_name.lower()
    if lowered.endswith((".yaml", ".yml")):
        return "yaml"
    if lowered.endswith(".json"):
        return "json"
    if lowered.endswith(".env"):
        return "dotenv"
    return "binary"


class _TextTimestamps(RoundTripConstructor):
    """Timestamps stay the text they were written as: sops' YAML parser hands them over
    as strings, so that text is what their MAC covers."""


_TextTimestamps.add_constructor(
    "tag:yaml.org,2002:timestamp",
    lambda constructor, node: constructor.construct_scalar(node),
)


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.Constructor = _TextTimestamps
    yaml.preserve_quotes = True
    yaml.width = 1 << 20  # never fold: sops values are long single words anyway
    return yaml


class YamlDocuments(list[Any]):
    """The documents of a multi-document YAML file (sops: one branch each, one MAC)."""


#: ruamel.yaml's parse time grows with the square of flow nesting (seconds at a few
#: thousand levels); no real secrets file comes near this.
MAX_FLOW_DEPTH = 64


def flow_depth(text: str) -> int:
    """The deepest nesting of ``[``/``{`` outside quotes and comments (an upper bound)."""
    depth = deepest = 0
    quote = ""
    previous = "\n"
    index = 0
    while index < len(text):
        char = text[index]
        if quote:
            if quote == '"' and char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char == "#" and previous in " \t\n":
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline
            previous = "\n"
            continue
        elif char in "\"'" and previous in " \t\n[{,:":
            quote = char
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth = max(0, depth - 1)
        previous = char
        index += 1
    return deepest


def load_yaml(data: bytes, path: str) -> Any:
    """The one document of the file, or YamlDocuments when it holds several."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SopsError(path, "YAML file is not UTF-8") from None
    if flow_depth(text) > MAX_FLOW_DEPTH:
        raise SopsError(path, f"the document nests [ and {{ deeper than {MAX_FLOW_DEPTH} levels")
    try:
        docs = list(_yaml().load_all(text))
    except YAMLError as exc:
        raise SopsError(path, _yaml_problem(exc)) from None
    if not docs:
        raise SopsError(path, "the YAML file holds no document")
    _refuse_references(text, docs, path)
    return docs[0] if len(docs) == 1 else YamlDocuments(docs)


def _refuse_references(text: str, docs: list[Any], path: str) -> None:
    """Refuse aliases and merge keys: a value reachable twice would be encrypted twice
    (or, merged, left in clear beside its encrypted copy). sops expands them on write,
    so files it made never hold any."""
    # An alias needs a "*": only then is the second (event) parse worth its cost.
    events = _yaml().parse(text) if "*" in text else ()
    for event in events:
        if isinstance(event, AliasEvent):
            line = event.start_mark.line + 1 if event.start_mark else "?"
            raise SopsError(
                f"{path}:{line}", "YAML aliases (*name) are not supported in SOPS files"
            )
    stack = list(docs)
    while stack:
        node = stack.pop()
        if isinstance(node, CommentedMap):
            if node.merge:
                raise SopsError(path, "YAML merge keys (<<) are not supported in SOPS files")
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _yaml_problem(exc: YAMLError) -> str:
    """Where and what, without the snippet of the file (or the duplicated value) that
    ruamel quotes: a secrets file's text must not reach a log through an error."""
    mark = getattr(exc, "problem_mark", None)
    problem = str(getattr(exc, "problem", None) or "cannot be parsed")
    problem = problem.split(" with value ", 1)[0]
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def dump_yaml(doc: Any) -> bytes:
    stream = io.StringIO()
    if isinstance(doc, YamlDocuments):
        _yaml().dump_all(list(doc), stream)
    else:
        _yaml().dump(doc, stream)
    return stream.getvalue().encode("utf-8")


def load_json(data: bytes, path: str) -> Any:
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise SopsError(path, f"JSON object has the key {key!r} twice")
            out[key] = value
        return out

    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=unique)
    except UnicodeDecodeError:
        raise SopsError(path, "JSON file is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise SopsError(path, f"invalid JSON at line {exc.lineno}: {exc.msg}") from None


def dump_json(doc: Any) -> bytes:
    return (json.dumps(doc, indent="\t", ensure_ascii=False) + "\n").encode("utf-8")


def yaml_block(block: Mapping[str, Any]) -> Any:
    """A sops block ready for ruamel: each armored ``enc`` as a literal block like sops."""
    out: dict[str, Any] = dict(block)
    out["age"] = [
        {"recipient": s["recipient"], "enc": LiteralScalarString(s["enc"])} for s in block["age"]
    ]
    return out


def literal_multiline(doc: Any) -> None:
    """Write multi-line strings as ``|`` blocks, as sops does, so they are easy to edit."""
    if isinstance(doc, MutableMapping):
        for key in list(doc):
            doc[key] = _literal(doc[key])
    elif isinstance(doc, MutableSequence):
        for index, item in enumerate(doc):
            doc[index] = _literal(item)


def _literal(value: Any) -> Any:
    if isinstance(value, MutableMapping | MutableSequence):
        literal_multiline(value)
        return value
    if (
        type(value) is str
        and "\n" in value
        and value[:1] not in (" ", "\t", "\n")
        and all(ch == "\n" or (ch.isprintable() and ch != "\t") for ch in value)
        and not any(line.endswith(" ") for line in value.split("\n"))
    ):
        return LiteralScalarString(value)
    return value


# dotenv ------------------------------------------------------------------------------

DOTENV_SOPS_PREFIX = SOPS_KEY + "_"
_MAP = "__map_"
_LIST = "__list_"


class DotenvEntry:
    """One line of a dotenv file: a comment (key None) or ``KEY=value``."""

    __slots__ = ("key", "value")

    def __init__(self, key: str | None, value: str) -> None:
        self.key = key
        self.value = value


def load_dotenv(data: bytes, path: str) -> list[DotenvEntry]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SopsError(path, "dotenv file is not UTF-8") from None
    entries: list[DotenvEntry] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line:
            continue
        if line.startswith("#"):
            entries.append(DotenvEntry(None, line[1:]))
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise SopsError(f"{path}:{number}", "dotenv line has no '='")
        entries.append(DotenvEntry(key, value.replace("\\n", "\n")))
    return entries


def dump_dotenv(entries: list[DotenvEntry]) -> bytes:
    lines = []
    for entry in entries:
        if entry.key is None:
            lines.append(f"#{entry.value}\n")
        else:
            lines.append(f"{entry.key}={entry.value.replace(chr(10), chr(92) + 'n')}\n")
    return "".join(lines).encode("utf-8")


def flatten_block(block: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The sops block as sorted ``sops_...`` dotenv pairs (sops' FlattenMetadata)."""
    flat: dict[str, str] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, sub in value.items():
                walk(f"{prefix}{_MAP}{key}", sub)
        elif isinstance(value, list):
            for index, sub in enumerate(value):
                walk(f"{prefix}{_LIST}{index}", sub)
        elif isinstance(value, bool):
            flat[prefix] = "true" if value else "false"
        else:
            flat[prefix] = str(value)

    for key, value in block.items():
        walk(key, value)
    return [(DOTENV_SOPS_PREFIX + key, flat[key]) for key in sorted(flat)]


def unflatten_block(pairs: Mapping[str, str], path: str) -> dict[str, Any]:
    """The sops block from ``sops_...`` dotenv keys (without the prefix)."""
    root: dict[str, Any] = {}
    for flat_key, value in pairs.items():
        tokens = _tokenize(flat_key, path)
        node: Any = root
        for index, token in enumerate(tokens):
            last = index == len(tokens) - 1
            following = None if last else tokens[index + 1]
            fresh: Any = value if last else ({} if isinstance(following, str) else [])
            if isinstance(token, str):
                if not isinstance(node, dict):
                    raise SopsError(path, f"malformed sops block: bad key sops_{flat_key}")
                if last:
                    node[token] = value
                else:
                    node = node.setdefault(token, fresh)
            else:
                if not isinstance(node, list):
                    raise SopsError(path, f"malformed sops block: bad key sops_{flat_key}")
                while len(node) <= token:
                    node.append(None)
                if last:
                    node[token] = value
                elif node[token] is None:
                    node[token] = fresh
                node = node[token]
    return root


def _tokenize(flat_key: str, path: str) -> list[str | int]:
    tokens: list[str | int] = []
    rest = flat_key
    current_kind = "map"
    while True:
        next_map = rest.find(_MAP)
        next_list = rest.find(_LIST)
        candidates = [p for p in (next_map, next_list) if p >= 0]
        cut = min(candidates) if candidates else len(rest)
        piece = rest[:cut]
        if current_kind == "list":
            try:
                tokens.append(int(piece))
            except ValueError:
                raise SopsError(path, f"malformed sops block: bad key sops_{flat_key}") from None
        else:
            tokens.append(piece)
        if not candidates:
            return tokens
        if cut == next_map:
            current_kind, rest = "map", rest[cut + len(_MAP) :]
        else:
            current_kind, rest = "list", rest[cut + len(_LIST) :]

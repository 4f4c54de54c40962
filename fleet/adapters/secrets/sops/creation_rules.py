"""``.sops.yaml`` creation rules: which age recipients (and which encryption rule) a new
file gets, picked by its path as sops picks them.

sops looks for ``.sops.yaml`` from the current directory upwards; fleet starts from the
file's own directory, so ``fleet secrets encrypt clusters/prod/db.yaml`` works from
anywhere in the repository. A rule's ``path_regex`` is searched (not anchored) in the
file's path relative to the config's directory; the first rule that matches wins; a rule
without ``path_regex`` matches every file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from fleet.adapters.secrets.errors import SopsError

CONFIG_NAMES = (".sops.yaml", ".sops.yml")
_RULE_FIELDS = {
    "path_regex",
    "age",
    "encrypted_regex",
    "encrypted_suffix",
    "unencrypted_regex",
    "unencrypted_suffix",
    "mac_only_encrypted",
    "key_groups",
}
_OTHER_KEYS = ("pgp", "kms", "gcp_kms", "azure_keyvault", "hc_vault_transit_uri", "aws_profile")


@dataclass(frozen=True)
class CreationRule:
    """What a matching rule gives a new file."""

    source: str
    recipients: tuple[str, ...]
    encrypted_regex: str | None = None
    encrypted_suffix: str | None = None
    unencrypted_regex: str | None = None
    unencrypted_suffix: str | None = None
    mac_only_encrypted: bool = False


def find_config(start: Path) -> Path | None:
    """The nearest ``.sops.yaml`` in ``start`` or a parent directory."""
    for directory in (start, *start.parents):
        for name in CONFIG_NAMES:
            candidate = directory / name
            if candidate.is_file():
                return candidate
    return None


def rule_for_file(config: Path, file_path: Path) -> CreationRule | None:
    """The first rule of ``config`` matching ``file_path``; None when it has no rules."""
    source = str(config)
    try:
        loaded = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SopsError(source, f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise SopsError(source, f"invalid YAML: {exc}") from None
    if loaded is None:
        return None
    if not isinstance(loaded, Mapping):
        raise SopsError(source, "expected a mapping with creation_rules")
    rules = loaded.get("creation_rules")
    if rules is None:
        return None
    if not isinstance(rules, list):
        raise SopsError(source, "creation_rules is not a list")
    relative = _relative(config, file_path)
    for index, rule in enumerate(rules):
        where = f"{source}: creation_rules[{index}]"
        if not isinstance(rule, Mapping):
            raise SopsError(where, "rule is not a mapping")
        pattern = rule.get("path_regex")
        if pattern:
            try:
                matched = re.search(str(pattern), relative) is not None
            except re.error as exc:
                raise SopsError(
                    where, f"path_regex is not a valid regular expression: {exc}"
                ) from None
            if not matched:
                continue
        return _parse_rule(rule, where)
    raise SopsError(source, f"no creation rule matches {relative}")


def _relative(config: Path, file_path: Path) -> str:
    absolute = file_path.absolute()
    base = config.absolute().parent
    try:
        return absolute.relative_to(base).as_posix()
    except ValueError:
        return absolute.as_posix()


def _parse_rule(rule: Mapping[str, Any], where: str) -> CreationRule:
    others = [k for k in _OTHER_KEYS if rule.get(k)]
    unknown = sorted(set(rule) - _RULE_FIELDS - set(_OTHER_KEYS))
    if unknown:
        raise SopsError(where, f"fleet does not support {', '.join(unknown)} in a creation rule")
    recipients = _recipients(rule.get("age"), where)
    groups = rule.get("key_groups")
    if groups:
        if not isinstance(groups, list) or len(groups) != 1 or not isinstance(groups[0], Mapping):
            raise SopsError(where, "only one key group is supported (no Shamir splitting)")
        recipients = (*recipients, *_recipients(groups[0].get("age"), where))
        others += [k for k in _OTHER_KEYS if groups[0].get(k)]
    if not recipients:
        named = f" (it names {', '.join(others)}, which fleet does not support)" if others else ""
        raise SopsError(where, f"the matching rule has no age recipient{named}")
    mac_only = rule.get("mac_only_encrypted", False)
    if not isinstance(mac_only, bool):
        raise SopsError(where, "mac_only_encrypted is not a boolean")
    return CreationRule(
        source=where,
        recipients=recipients,
        encrypted_regex=_optional_text(rule, "encrypted_regex", where),
        encrypted_suffix=_optional_text(rule, "encrypted_suffix", where),
        unencrypted_regex=_optional_text(rule, "unencrypted_regex", where),
        unencrypted_suffix=_optional_text(rule, "unencrypted_suffix", where),
        mac_only_encrypted=mac_only,
    )


def _recipients(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        parts = value.split(",")
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        parts = [p for v in value for p in v.split(",")]
    else:
        raise SopsError(where, "age is neither a comma-separated string nor a list of strings")
    return tuple(p.strip() for p in parts if p.strip())


def _optional_text(rule: Mapping[str, Any], name: str, where: str) -> str | None:
    value = rule.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise SopsError(where, f"{name} is not a string")
    return value

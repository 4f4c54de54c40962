"""The recipients and encryption rule of ``fleet secrets encrypt``: flags, environment,
then the nearest ``.sops.yaml`` (flags win, as in sops)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fleet.adapters.secrets.errors import SopsError
from fleet.adapters.secrets.keysources import split_recipients
from fleet.adapters.secrets.sops.creation_rules import CreationRule, find_config, rule_for_file

_RULE_FLAGS = ("encrypted_regex", "unencrypted_regex", "encrypted_suffix", "unencrypted_suffix")


def matching_rule(file: Path, config: Path | None) -> CreationRule | None:
    """The creation rule for ``file``: from ``config``, else the nearest .sops.yaml."""
    if config is not None:
        if not config.is_file():
            raise SopsError(str(config), "no such file")
        return rule_for_file(config, file)
    found = find_config(file.absolute().parent)
    return rule_for_file(found, file) if found else None


def recipients_for(
    file: Path, flags: Sequence[str], config: Path | None, env: Mapping[str, str]
) -> list[str]:
    """Recipients from ``--age``, else ``$SOPS_AGE_RECIPIENTS``, else the creation rule."""
    recipients = split_recipients(flags)
    if recipients:
        return recipients
    recipients = split_recipients([env.get("SOPS_AGE_RECIPIENTS", "")])
    if recipients:
        return recipients
    rule = matching_rule(file, config)
    if rule is None:
        raise SopsError(
            str(file),
            "no age recipient: pass --age, set SOPS_AGE_RECIPIENTS or add a creation rule "
            "to .sops.yaml",
        )
    return list(rule.recipients)


def encryption_settings(
    file: Path,
    flags: Sequence[str],
    config: Path | None,
    options: Mapping[str, Any],
    env: Mapping[str, str],
) -> dict[str, Any]:
    """Keyword arguments for ``encrypt_text``: recipients and the file's encryption rule.

    Recipients come from ``--age``, else ``$SOPS_AGE_RECIPIENTS``, else the creation
    rule; the encryption rule from the flags, else the creation rule. With recipients
    given, a .sops.yaml that has no rule for the file is not an error.
    """
    given = split_recipients(flags) or split_recipients([env.get("SOPS_AGE_RECIPIENTS", "")])
    try:
        rule = matching_rule(file, config)
    except SopsError:
        if not given:
            raise
        rule = None
    if not given and rule is None:
        raise SopsError(
            str(file),
            "no age recipient: pass --age, set SOPS_AGE_RECIPIENTS or add a creation "
            "rule to .sops.yaml",
        )
    settings: dict[str, Any] = {"recipients": given or list(rule.recipients if rule else ())}
    flagged = any(options.get(key) for key in _RULE_FLAGS)
    for key in _RULE_FLAGS:
        if flagged:
            settings[key] = options.get(key) or None
        else:
            settings[key] = getattr(rule, key) if rule else None
    settings["mac_only_encrypted"] = bool(options.get("mac_only_encrypted")) or bool(
        rule and rule.mac_only_encrypted
    )
    return settings

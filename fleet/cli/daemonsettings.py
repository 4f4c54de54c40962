"""The two settings a daemon-facing command needs, read without the settings model.

``fleet status`` needs the API address and the token file, nothing else. The full
loader (fleet.config.settings, on pydantic-settings) validates every setting the daemon
has and costs a CLI call about half a second of imports; this reads just the two, the
same way: ``--settings FILE`` or ``$FLEET_SETTINGS`` (YAML), then ``FLEET_API_ADDRESS``
and ``FLEET_API_TOKEN_FILE`` over the file (names case-insensitive, as the loader reads
them), a relative ``api_token_file`` in the file taken from the file's directory.

Whenever the answer is not plain (a file that does not parse, a value of the wrong
type, an empty variable, an address that does not parse) it answers None and the
caller runs the full loader, whose error names the file, line and setting.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from fleet.adapters.http.address import ApiAddress

DEFAULT_ADDRESS = "127.0.0.1:8787"
_KEYS = ("api_address", "api_token_file")


@dataclass(frozen=True, slots=True)
class QuickSettings:
    api_address: str
    api_token_file: Path | None


def read_quickly(path: Path | None) -> QuickSettings | None:
    """The address and token file, or None when only the full loader can say."""
    environment = {name.lower(): value for name, value in os.environ.items()}
    if path is None and environment.get("fleet_settings"):
        path = Path(environment["fleet_settings"])
    values: dict[str, str | None] = dict.fromkeys(_KEYS)
    if path is not None:
        from_file = _from_file(path)
        if from_file is None:
            return None
        values.update(from_file)
    for key in _KEYS:
        variable = environment.get(f"fleet_{key}")
        if variable is not None:
            if not variable.strip():
                return None
            values[key] = variable
    address = values["api_address"] or DEFAULT_ADDRESS
    try:
        ApiAddress.parse(address)
    except ValueError:
        return None
    token = values["api_token_file"]
    return QuickSettings(address, Path(token).expanduser() if token else None)


def _from_file(path: Path) -> dict[str, str | None] | None:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        return None
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    if data is None:
        return {}
    if not isinstance(data, dict):
        return None
    found: dict[str, str | None] = {}
    for key in _KEYS:
        value = data.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            return None
        found[key] = value
    token = found.get("api_token_file")
    if token and not Path(token).expanduser().is_absolute():
        found["api_token_file"] = str(path.absolute().parent / token)
    return found

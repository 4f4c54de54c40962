"""The base of every fleet config model: camelCase keys, no unknown keys, immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class ConfigModel(BaseModel):
    """Fields are snake_case in Python and camelCase in YAML (``caFile``, ``dependsOn``).

    An unknown key is an error rather than ignored: a misspelt ``prnue: true`` that
    silently did nothing would be worse than a refused config.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        frozen=True,
        str_strip_whitespace=False,
    )

"""Differences the user declares harmless (Argo CD's ``ignoreDifferences`` shape).

Each entry selects objects by group and kind (shell globs), optionally name and namespace
(globs too), and names the fields to leave out of comparisons: JSON pointers, and every
field owned by the listed field managers (for example an HPA's controller that owns
``/spec/replicas``). jq expressions are not supported: they would make config evaluation
run arbitrary programs.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

from pydantic import BaseModel, ConfigDict, model_validator
from pydantic.alias_generators import to_camel

from fleet.model.pointers import JsonPointer
from fleet.model.refs import ObjectRef


class IgnoreDifference(BaseModel):
    model_config = ConfigDict(
        frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True
    )

    group: str = "*"
    kind: str = "*"
    name: str | None = None
    namespace: str | None = None
    json_pointers: tuple[JsonPointer, ...] = ()
    managed_fields_managers: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _says_what(self) -> IgnoreDifference:
        if not self.json_pointers and not self.managed_fields_managers:
            raise ValueError("name at least one of jsonPointers or managedFieldsManagers")
        return self

    def selects(self, ref: ObjectRef) -> bool:
        return (
            fnmatchcase(ref.group, self.group)
            and fnmatchcase(ref.kind, self.kind)
            and (self.name is None or fnmatchcase(ref.name, self.name))
            and (self.namespace is None or fnmatchcase(ref.namespace, self.namespace))
        )

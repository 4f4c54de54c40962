"""Choosing clusters: Kubernetes-style label selectors, or a list of names.

The semantics are those of ``metav1.LabelSelector``: matchLabels and every
matchExpression must all hold; an empty selector selects every cluster.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Protocol, Self, TypeVar

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from fleet.config.base import ConfigModel
from fleet.config.types import LabelKey, LabelValue, Name


class Labelled(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def labels(self) -> Mapping[str, str]: ...


C = TypeVar("C", bound=Labelled)


class Operator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


class Requirement(ConfigModel):
    """One matchExpression: ``{key: env, operator: In, values: [prod, staging]}``."""

    key: LabelKey
    operator: Operator
    values: list[LabelValue] = Field(default_factory=list)

    @model_validator(mode="after")
    def _values_fit_operator(self) -> Self:
        takes_values = self.operator in (Operator.IN, Operator.NOT_IN)
        if takes_values and not self.values:
            raise PydanticCustomError(
                "selector",
                "operator {op} needs a non-empty list of values",
                {"op": self.operator.value, "at": "values"},
            )
        if not takes_values and self.values:
            raise PydanticCustomError(
                "selector",
                "operator {op} takes no values",
                {"op": self.operator.value, "at": "values"},
            )
        return self

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.DOES_NOT_EXIST:
            return not present
        if self.operator is Operator.IN:
            return present and labels[self.key] in self.values
        return not present or labels[self.key] not in self.values


class ClusterSelector(ConfigModel):
    """``{matchLabels: ..., matchExpressions: [...]}`` or ``{names: [...]}``, not both."""

    match_labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)
    match_expressions: list[Requirement] = Field(default_factory=list)
    names: list[Name] | None = None

    @model_validator(mode="after")
    def _names_or_labels(self) -> Self:
        if self.names is not None and (self.match_labels or self.match_expressions):
            raise PydanticCustomError(
                "selector",
                "select clusters by names or by labels, not both",
                {"at": "names"},
            )
        return self

    @property
    def selects_all(self) -> bool:
        return self.names is None and not self.match_labels and not self.match_expressions

    def matches(self, cluster: Labelled) -> bool:
        if self.names is not None:
            return cluster.name in self.names
        labels = cluster.labels
        return all(labels.get(key) == value for key, value in self.match_labels.items()) and all(
            requirement.matches(labels) for requirement in self.match_expressions
        )

    def select(self, clusters: Iterable[C]) -> list[C]:
        """The clusters this selector picks, in the order given."""
        return [cluster for cluster in clusters if self.matches(cluster)]

    def describe(self) -> str:
        """A short human form: ``env=prod,region in (eu,us)`` or ``names a,b``."""
        if self.names is not None:
            return "names " + ",".join(self.names)
        parts = [f"{key}={value}" for key, value in self.match_labels.items()]
        for requirement in self.match_expressions:
            if requirement.operator is Operator.EXISTS:
                parts.append(requirement.key)
            elif requirement.operator is Operator.DOES_NOT_EXIST:
                parts.append(f"!{requirement.key}")
            else:
                word = "in" if requirement.operator is Operator.IN else "notin"
                parts.append(f"{requirement.key} {word} ({','.join(requirement.values)})")
        return ",".join(parts) or "every cluster"

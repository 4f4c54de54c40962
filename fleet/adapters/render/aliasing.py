"""Refusing YAML whose aliases expand it past reason, as Kubernetes' own parser does.

A YAML alias (``*a``) stands for the whole value anchored at ``&a``. PyYAML shares that
value instead of copying it, so parsing stays cheap, but every consumer that walks the
result (JSON encoding, hashing, diffs, the API server) sees it expanded: nine levels of
nine aliases in 420 bytes become 387 million strings. go-yaml, behind kubectl and the API
server (sigs.k8s.io/yaml), refuses such documents with "excessive aliasing"; fleet applies
the same rule to the composed node graph, before anything is constructed:

- a document decodes to ``D`` values once every alias is expanded, of which ``A`` come
  from alias expansion (``D`` minus the values actually written);
- it is refused when ``A > 100``, ``D > 1000`` and ``A / D`` is above 99% for documents
  up to 400,000 values, falling linearly to 10% at 4,000,000 (go-yaml's
  ``allowedAliasRatio``), which caps alias expansion at about 400,000 values;
- an anchor whose value contains its own alias (a cycle) is refused too: JSON, and so
  Kubernetes, cannot hold it.

On top of go-yaml's per-document rule, the alias expansion of all documents of one file
or output together is capped (:data:`MAX_ALIAS_VALUES`), so a file of many small bombs
is refused as well.
"""

from __future__ import annotations

from collections.abc import Iterable

import yaml

#: go-yaml's bounds for the allowed share of values that come from aliases.
_RATIO_LOW, _RATIO_HIGH = 400_000, 4_000_000
#: Values that alias expansion may add across all documents of one file or output.
MAX_ALIAS_VALUES = 1_000_000
#: Counting stops here: a bigger document is refused anyway, and numbers stay small.
_CEILING = 10**12


class ExcessiveAliasing(ValueError):
    """A document's aliases expand it past the limit; the message says by how much."""


def allowed_alias_ratio(decoded: int) -> float:
    """The share of ``decoded`` values that may come from aliases (go-yaml's rule)."""
    if decoded <= _RATIO_LOW:
        return 0.99
    if decoded >= _RATIO_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _RATIO_LOW) / (_RATIO_HIGH - _RATIO_LOW)


def is_excessive(decoded: int, aliased: int) -> bool:
    """Whether a document of ``decoded`` values, ``aliased`` of them by aliases, is refused."""
    return aliased > 100 and decoded > 1000 and aliased / decoded > allowed_alias_ratio(decoded)


def alias_expansion(root: yaml.Node) -> tuple[int, int]:
    """``(decoded, written)``: values of the document with aliases expanded, and without.

    Walks the node graph once (each shared node is sized once), without recursion, so
    neither depth nor expansion costs more than the document's own size.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()
    pending: list[tuple[yaml.Node, bool]] = [(root, False)]
    while pending:
        node, leaving = pending.pop()
        key = id(node)
        if leaving:
            open_nodes.discard(key)
            total = 1 + sum(sizes[id(child)] for child in _children(node))
            sizes[key] = min(total, _CEILING)
            continue
        if key in sizes:
            continue
        if key in open_nodes:  # entered and not left: an ancestor of itself
            raise ExcessiveAliasing(
                f"column {node.start_mark.column + 1}: an anchor's value contains an alias "
                "of itself (a cycle)"
            )
        open_nodes.add(key)
        pending.append((node, True))
        pending.extend((child, False) for child in _children(node))
    return sizes[id(root)], len(sizes)


def _children(node: yaml.Node) -> Iterable[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return node.value  # type: ignore[no-any-return]
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return ()


class AliasBudget:
    """Checks each document of one file or output, and their alias expansion together."""

    def __init__(self, limit: int = MAX_ALIAS_VALUES) -> None:
        self.limit = limit
        self.spent = 0

    def check(self, root: yaml.Node) -> None:
        """Raise :class:`ExcessiveAliasing` if the document at ``root`` goes too far."""
        decoded, written = alias_expansion(root)
        aliased = decoded - written
        if is_excessive(decoded, aliased):
            raise ExcessiveAliasing(
                f"excessive aliasing: the document's aliases expand it to {_count(decoded)} "
                f"values from {written:,} written (Kubernetes refuses such documents too)"
            )
        self.spent += aliased
        if self.spent > self.limit:
            raise ExcessiveAliasing(
                f"excessive aliasing: aliases expand this file by more than {self.limit:,} "
                "values in all"
            )


def _count(decoded: int) -> str:
    return f"more than {_CEILING:,}" if decoded >= _CEILING else f"{decoded:,}"

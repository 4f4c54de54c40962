"""Reading what a cluster serves from one APIResourceList per group-version."""

from __future__ import annotations

import pytest

from fleet.adapters.kube.discovery import group_version_path, served_kinds

SERVED = [
    # (resources of an APIResourceList, expected kind -> (plural, namespaced))
    ([], {}),
    (
        [
            {"name": "pods", "kind": "Pod", "namespaced": True},
            {"name": "pods/status", "kind": "Pod", "namespaced": True},
            {"name": "pods/log", "kind": "Pod", "namespaced": True},
            {"name": "nodes", "kind": "Node", "namespaced": False},
        ],
        {"Pod": ("pods", True), "Node": ("nodes", False)},
    ),
    ([{"name": "", "kind": "Broken"}, {"name": "x", "kind": ""}], {}),
]


@pytest.mark.parametrize(("resources", "expected"), SERVED)
def test_served_kinds_skip_subresources(
    resources: list[dict[str, object]], expected: dict[str, tuple[str, bool]]
) -> None:
    served = served_kinds("v1", {"resources": resources})
    assert {k: (v.plural, v.namespaced) for k, v in served.items()} == expected


@pytest.mark.parametrize(
    ("api_version", "path"),
    [("v1", "/api/v1"), ("apps/v1", "/apis/apps/v1"), ("example.com/v1", "/apis/example.com/v1")],
)
def test_group_version_paths(api_version: str, path: str) -> None:
    assert group_version_path(api_version) == path

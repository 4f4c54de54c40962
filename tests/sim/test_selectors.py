"""Label and field selectors, as the API server parses and matches them."""

from __future__ import annotations

import pytest

from fleet.sim.selectors import (
    SelectorError,
    format_selector,
    parse_field_selector,
    parse_label_selector,
    selector_from_spec,
)

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("app in (web,api)", True),
        ("app in (api)", False),
        ("app notin (api, db)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("version>2", True),
        ("version<3", False),
        ("app>1", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("app in (web,api),!missing,version>1", True),
        ("  app = web  ", True),
        ("app=", False),
    ],
)
def test_label_selector_matches_as_the_api_server(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize(
    "selector",
    [
        "app in (web",
        "app=we b",
        "=web",
        "app in web",
        "version>x",
        "-app=web",
        "a b c",
        "app===web",
    ],
)
def test_malformed_label_selectors_are_refused(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


def test_selector_object_with_expressions() -> None:
    spec = {
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["front", "back"]},
            {"key": "legacy", "operator": "DoesNotExist"},
        ],
    }
    selector = selector_from_spec(spec)
    assert selector.matches(LABELS)
    assert not selector.matches({**LABELS, "legacy": "1"})
    assert format_selector(spec) == "app=web,tier in (back,front),!legacy"


def test_unknown_operator_in_selector_object_is_refused() -> None:
    with pytest.raises(SelectorError):
        selector_from_spec({"matchExpressions": [{"key": "a", "operator": "Like"}]})


POD = {"metadata": {"name": "web-1", "namespace": "prod"}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("metadata.name=web-1", True),
        ("metadata.name==web-2", False),
        ("metadata.name!=web-2", True),
        ("metadata.namespace=prod,metadata.name=web-1", True),
        ("status.phase=Running", True),
        ("status.phase!=Running", False),
    ],
)
def test_field_selector_on_pods(selector: str, matches: bool) -> None:
    assert parse_field_selector(selector, "", "pods", True).matches(POD) is matches


def test_field_selector_refuses_unsupported_fields() -> None:
    with pytest.raises(SelectorError, match=r"spec\.replicas"):
        parse_field_selector("spec.replicas=3", "apps", "deployments", True)
    with pytest.raises(SelectorError):
        parse_field_selector("status.phase=Running", "", "configmaps", True)


def test_metadata_only_field_selector_matches_without_the_object() -> None:
    selector = parse_field_selector("metadata.name=a", "", "configmaps", True)
    assert selector.only_metadata
    assert selector.matches_name("ns", "a")
    assert not selector.matches_name("ns", "b")

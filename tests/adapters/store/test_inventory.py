"""The inventory per (app, cluster): replace, incremental update, delete, list targets."""

from __future__ import annotations

import pytest

from fleet.adapters.store import HistoryStore, InvalidRecordError, StoredRef
from fleet.model.refs import ObjectRef

DEPLOY = ("apps", "Deployment", "web", "frontend")
SERVICE = ("", "Service", "web", "frontend")
NAMESPACE = ("", "Namespace", "", "web")


def test_replace_sets_exactly_the_given_objects(store: HistoryStore) -> None:
    store.replace_inventory("web", "dev", {DEPLOY: "r1", SERVICE: "r1"})
    store.replace_inventory("web", "dev", {DEPLOY: "r2", NAMESPACE: "r1"})
    assert store.get_inventory("web", "dev") == {
        StoredRef(*DEPLOY): "r2",
        StoredRef(*NAMESPACE): "r1",
    }


def test_targets_are_independent(store: HistoryStore) -> None:
    store.replace_inventory("web", "dev", {DEPLOY: "r1"})
    store.replace_inventory("web", "prod", {SERVICE: "r1"})
    store.replace_inventory("api", "dev", {NAMESPACE: "r1"})
    store.replace_inventory("web", "prod", {})
    assert store.get_inventory("web", "dev") == {StoredRef(*DEPLOY): "r1"}
    assert store.get_inventory("web", "prod") == {}
    assert store.inventory_targets() == [("api", "dev"), ("web", "dev")]


def test_update_adds_refreshes_and_removes(store: HistoryStore) -> None:
    store.update_inventory("web", "dev", revision="r1", applied=[DEPLOY, SERVICE])
    store.update_inventory("web", "dev", revision="r2", applied=[DEPLOY], removed=[SERVICE])
    store.update_inventory("web", "dev", revision="r2", removed=[NAMESPACE])  # absent: fine
    assert store.get_inventory("web", "dev") == {StoredRef(*DEPLOY): "r2"}


def test_model_object_refs_are_accepted(store: HistoryStore) -> None:
    ref = ObjectRef("apps", "Deployment", "web", "frontend")
    store.update_inventory("web", "dev", revision="r1", applied=[ref])
    assert list(store.get_inventory("web", "dev")) == [StoredRef(*DEPLOY)]
    store.update_inventory("web", "dev", revision="r1", removed=[ref])
    assert store.get_inventory("web", "dev") == {}


def test_delete_forgets_one_target(store: HistoryStore) -> None:
    store.replace_inventory("web", "dev", {DEPLOY: "r1", SERVICE: "r1"})
    store.replace_inventory("web", "prod", {DEPLOY: "r1"})
    assert store.delete_inventory("web", "dev") == 2
    assert store.inventory_targets() == [("web", "prod")]


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        (("apps", "Deployment", "web"), "must be \\(group, kind, namespace, name\\)"),
        (("apps", "Deployment", "web", 7), "parts must be strings"),
        (("apps", "", "web", "x"), "needs a kind and a name"),
        ("apps/Deployment/web/x", "must be \\(group, kind, namespace, name\\)"),
    ],
)
def test_bad_references_change_nothing(store: HistoryStore, ref: object, error: str) -> None:
    store.replace_inventory("web", "dev", {DEPLOY: "r1"})
    with pytest.raises(InvalidRecordError, match=error):
        store.update_inventory("web", "dev", revision="r2", applied=[SERVICE, ref])  # type: ignore[list-item]
    with pytest.raises(InvalidRecordError, match=error):
        store.replace_inventory("web", "dev", {ref: "r2"})  # type: ignore[dict-item]
    assert store.get_inventory("web", "dev") == {StoredRef(*DEPLOY): "r1"}

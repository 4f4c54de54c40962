"""What a notification says: its headline per kind, its facts, and a summary of repeats."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import fleet
from fleet.adapters.notify import Notification
from fleet.adapters.notify.messages import _KINDS
from fleet.config.notifications import EVENT_KINDS

ABOUT = {
    "revision": "0123456789abcdef0123456789abcdef01234567",
    "commit_message": "Raise replicas",
    "author": "Ann <ann@example.com>",
}

HEADLINES = [
    ("sync_failed", "web", "prod-1", ABOUT, "Sync failed: web on prod-1 at 0123456789ab"),
    ("sync_succeeded", "web", "prod-1", ABOUT, "Synced: web on prod-1 at 0123456789ab"),
    ("health_degraded", "web", "prod-1", {}, "Health degraded: web on prod-1"),
    ("drift", "web", "prod-1", {"selfHeal": False}, "Drift detected: web on prod-1"),
    ("drift", "web", "prod-1", {"selfHeal": True}, "Drift detected, healing: web on prod-1"),
    ("cluster_unreachable", None, "prod-1", {}, "Cluster unreachable: prod-1"),
    ("prune_refused", "web", "prod-1", {}, "Prune refused: web on prod-1"),
    ("source_failed", None, None, {"source": "platform"}, "Source fetch failed"),
    ("some_new_kind", "web", None, {}, "Some new kind: web"),
]


@pytest.mark.parametrize(("kind", "app", "cluster", "details", "headline"), HEADLINES)
def test_headline_names_what_where_and_which_revision(
    kind: str, app: str | None, cluster: str | None, details: dict[str, object], headline: str
) -> None:
    notification = Notification("r", kind, "m", app=app, cluster=cluster, details=details)
    assert notification.headline == headline


def test_facts_show_only_what_is_known() -> None:
    bare = Notification("r", "cluster_unreachable", "connection refused", cluster="prod-1")
    assert bare.facts() == [("Cluster", "prod-1")]
    full = Notification("r", "sync_failed", "x", app="web", cluster="c", details=ABOUT)
    assert [label for label, _ in full.facts()] == [
        "App",
        "Cluster",
        "Revision",
        "Commit",
        "Author",
    ]


def test_summary_says_how_many_were_held_back() -> None:
    summary = Notification(
        "r", "sync_failed", "boom", app="web", cluster="c", repeats=4, window_seconds=300
    )
    assert summary.is_summary
    assert summary.headline == "4 more like this in 5m: Sync failed: web on c"
    assert "4 more identical alert(s) in the last 5m; the latest said:\nboom" in summary.text()
    assert summary.as_json()["repeats"] == 4


def test_each_notification_has_its_own_delivery_id() -> None:
    assert Notification("r", "drift", "m").id != Notification("r", "drift", "m").id


def _recorded_kinds() -> set[str]:
    """Every event kind the code records: the literal first argument of ``.event(``."""
    root = Path(fleet.__file__).parent
    pattern = re.compile(r"\.event\(\s*\"([a-z_]+)\"")
    return {kind for path in root.rglob("*.py") for kind in pattern.findall(path.read_text())}


def test_every_recorded_event_kind_can_be_routed_and_has_a_headline() -> None:
    """A kind the daemon records but rules may not name could never be notified (a rule
    naming it is refused as unknown); it needs its headline and severity too."""
    recorded = _recorded_kinds()
    assert {"hooks_cleaned_up", "inventory_checked", "sync_failed"} <= recorded
    assert recorded <= set(EVENT_KINDS), sorted(recorded - set(EVENT_KINDS))
    assert set(EVENT_KINDS) <= set(_KINDS), sorted(set(EVENT_KINDS) - set(_KINDS))

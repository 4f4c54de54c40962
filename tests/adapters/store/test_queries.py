"""History queries: filters, paging by id, detail, and their JSON form."""

from __future__ import annotations

import json

import pytest

from fleet.adapters.store import HistoryStore, InvalidRecordError, ResourceResult


@pytest.fixture
def filled(store: HistoryStore) -> HistoryStore:
    """12 finished syncs over 2 apps x 2 clusters, in a known order (ids 1..12)."""
    for round_ in range(3):
        for app in ("api", "web"):
            for cluster in ("dev", "prod"):
                sync_id = store.start_sync(app, cluster, f"rev{round_}", "poll")
                result = "Failed" if (app, cluster, round_) == ("web", "prod", 1) else "Succeeded"
                store.finish_sync(sync_id, result)
    return store


def test_history_is_newest_first(filled: HistoryStore) -> None:
    assert [s.id for s in filled.history(limit=5)] == [12, 11, 10, 9, 8]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"app": "web"}, [12, 11, 8, 7, 4, 3]),
        ({"cluster": "prod"}, [12, 10, 8, 6, 4, 2]),
        ({"app": "web", "cluster": "prod"}, [12, 8, 4]),
        ({"result": "Failed"}, [8]),
        ({"app": "nope"}, []),
    ],
)
def test_history_filters(
    filled: HistoryStore, filters: dict[str, str], expected: list[int]
) -> None:
    assert [s.id for s in filled.history(**filters)] == expected  # type: ignore[arg-type]


def test_history_pages_by_id(filled: HistoryStore) -> None:
    first = filled.history(app="web", limit=4)
    second = filled.history(app="web", limit=4, before_id=first[-1].id)
    assert [s.id for s in first] == [12, 11, 8, 7]
    assert [s.id for s in second] == [4, 3]
    # A sync started between pages does not shift the next page.
    filled.start_sync("web", "dev", "rev9", "manual")
    assert [s.id for s in filled.history(app="web", limit=4, before_id=7)] == [4, 3]


def test_history_leaves_progress_to_get_sync(filled: HistoryStore) -> None:
    sync_id = filled.start_sync("web", "dev", "rev3", "poll")
    filled.save_progress(sync_id, {"wave": 0})
    assert filled.history(limit=1)[0].progress is None
    assert filled.get_sync(sync_id).progress == {"wave": 0}


@pytest.mark.parametrize("limit", [0, -1, 10_001, True])
def test_history_limit_is_checked(filled: HistoryStore, limit: int) -> None:
    with pytest.raises(InvalidRecordError, match="limit"):
        filled.history(limit=limit)


def test_history_refuses_unknown_results(filled: HistoryStore) -> None:
    with pytest.raises(InvalidRecordError, match="result 'Broken'"):
        filled.history(result="Broken")


def test_latest_and_running(filled: HistoryStore) -> None:
    latest = filled.latest_sync("api", "dev")
    assert latest is not None
    assert latest.id == 9
    assert filled.latest_sync("api", "staging") is None
    running = filled.start_sync("api", "dev", "rev4", "drift")
    assert [s.id for s in filled.running_syncs()] == [running]


def test_detail_as_json_is_serialisable(store: HistoryStore) -> None:
    sync_id = store.start_sync("web", "dev", "abc", "webhook")
    store.record_results(
        sync_id,
        [ResourceResult("Sync", 1, "", "Service", "web", "frontend", "configured", "Healthy")],
    )
    store.finish_sync(sync_id, "Succeeded")
    document = json.loads(json.dumps(store.sync_detail(sync_id).as_json()))
    assert document["result"] == "Succeeded"
    assert document["trigger"] == "webhook"
    assert document["results"][0]["kind"] == "Service"
    assert document["results"][0]["group"] == ""
    assert document["started_at"].endswith("+00:00")

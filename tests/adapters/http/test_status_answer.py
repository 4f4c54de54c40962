"""``GET /api/v1/status`` encoded by orjson: the same JSON values as ``json.dumps`` gave,
and what orjson would write differently answered the old way."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import pytest

from fleet.config.api_tokens import legacy_token
from tests.adapters.http.apiserver import serve_api, token_file

pytestmark = pytest.mark.anyio

TOKEN = "status-t0ken"


class Sync(StrEnum):
    SYNCED = "Synced"


def row(**fields: Any) -> dict[str, Any]:
    return {"app": "web", "cluster": "prod", "sync": "Synced", **fields}


PLAIN_ROWS = [
    row(message="déploiement arrêté ✓ \u2028", last_sync_id=2**40, reachable=None),
    row(out_of_sync=["apps/Deployment/web/api", "/ConfigMap/web/cfg (to prune)"]),
    row(hold={"kind": "window", "reason": "closed", "until": None}, suspended=True),
]


async def test_plain_rows_are_answered_by_orjson_with_the_same_values(tmp_path: Path) -> None:
    async with serve_api(tmp_path, [legacy_token(token_file(tmp_path, "a", TOKEN))]) as api:
        api.fake.statuses[:] = PLAIN_ROWS
        answer = await api.call("GET", "/api/v1/status", TOKEN)
        async with api.session.get(
            api.url + "/api/v1/status", headers={"Authorization": f"Bearer {TOKEN}"}
        ) as response:
            raw = await response.read()
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/json; charset=utf-8"
    assert answer.body == json.loads(json.dumps(PLAIN_ROWS, default=str))
    assert raw == orjson.dumps(PLAIN_ROWS)  # encoded once, compact, by orjson


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        # json.dumps(default=str) writes str(value); orjson would write its own form.
        (datetime(2026, 5, 1, 12, 0, 3, tzinfo=UTC), "2026-05-01 12:00:03+00:00"),
        (Sync.SYNCED, "Synced"),
        (2**70, 2**70),  # past 64 bits: orjson refuses it
    ],
)
async def test_values_orjson_writes_otherwise_are_answered_as_before(
    tmp_path: Path, value: Any, shown: Any
) -> None:
    async with serve_api(tmp_path, [legacy_token(token_file(tmp_path, "a", TOKEN))]) as api:
        api.fake.statuses[:] = [row(updated_at=value)]
        answer = await api.call("GET", "/api/v1/status", TOKEN)
    assert answer.status == 200
    assert answer.body == [row(updated_at=shown)]

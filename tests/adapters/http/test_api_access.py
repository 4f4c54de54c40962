"""API access through the real HTTP API: tokens and scopes, apps, replays, bad queries,
rate limits and the audit log (docs/security.md)."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from fleet.adapters.http.ratelimit import RateLimiter
from fleet.adapters.http.replay import ReplayGuard
from fleet.config import load_settings
from fleet.config.api_tokens import ApiToken, legacy_token
from tests.adapters.http.apiserver import (
    Api,
    github_delivery,
    serve_api,
    sha256,
    token_file,
)

pytestmark = pytest.mark.anyio

ADMIN, READER, WEB_CI, SCRAPER = "admin-t0ken-1", "reader-t0ken-2", "web-ci-t0ken-3", "prom-t0ken-4"
READS = [
    "/api/v1/status",
    "/api/v1/history",
    "/api/v1/history/6",
    "/api/v1/events",
    "/api/v1/apps/web/diff",
    "/metrics",
    "/api/v1/audit",
]


def tokens(directory: Path) -> list[ApiToken]:
    return [
        legacy_token(token_file(directory, "admin", ADMIN)),
        ApiToken(
            name="reader", token_file=token_file(directory, "reader", READER), scopes=["read"]
        ),
        ApiToken(
            name="web-ci",
            token_file=token_file(directory, "web-ci", WEB_CI),
            scopes=["sync"],
            apps=["web", "web-*"],
        ),
        ApiToken(name="prometheus", sha256=sha256(SCRAPER), scopes=["metrics"]),
    ]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[Api]:
    async with serve_api(tmp_path, tokens(tmp_path)) as served:
        yield served


@pytest.mark.parametrize("path", READS)
async def test_every_read_needs_a_token_once_tokens_are_configured(api: Api, path: str) -> None:
    anonymous = await api.call("GET", path)
    assert anonymous.status == 401, anonymous
    assert "bearer token is required" in anonymous.body["error"]
    wrong = await api.call("GET", path, "not-a-token")
    assert (wrong.status, wrong.body["error"]) == (401, "the bearer token is not valid")
    assert (await api.call("GET", path, ADMIN)).status == 200


async def test_health_endpoints_stay_open(api: Api) -> None:
    assert (await api.call("GET", "/healthz")).status == 200
    assert (await api.call("GET", "/readyz")).status == 200


async def test_a_read_token_cannot_sync_or_read_the_audit_log(api: Api) -> None:
    assert (await api.call("GET", "/api/v1/status", READER)).status == 200
    refused = await api.call("POST", "/api/v1/apps/web/sync", READER, body={})
    assert refused.status == 403
    assert refused.body["error"] == "token reader does not have the sync scope"
    assert api.fake.calls == []
    audit = await api.call("GET", "/api/v1/audit", READER)
    assert (audit.status, audit.body["error"]) == (
        403,
        "token reader does not have the admin scope",
    )


async def test_metrics_has_its_own_token(api: Api) -> None:
    assert (await api.call("GET", "/metrics", SCRAPER)).status == 200
    for path in ("/api/v1/status", "/api/v1/events"):
        assert (await api.call("GET", path, SCRAPER)).status == 403
    assert (await api.call("GET", "/metrics", READER)).status == 403


async def test_an_app_limited_token_cannot_touch_other_apps(api: Api) -> None:
    other = await api.call("POST", "/api/v1/apps/api/sync", WEB_CI, body={})
    assert (other.status, other.body["error"]) == (403, "token web-ci is not allowed app 'api'")
    assert (await api.call("GET", "/api/v1/apps/api/diff", WEB_CI)).status == 403
    assert (await api.call("GET", "/api/v1/history", WEB_CI, params={"app": "api"})).status == 403
    assert api.fake.calls == []

    own = await api.call("POST", "/api/v1/apps/web/sync", WEB_CI, body={"cluster": "dev"})
    assert own.status == 202, own
    assert [(c.app, c.cluster) for c in api.fake.calls] == [("web", "dev")]
    # Lists show its apps only (and events that name no app); another app's sync is hidden.
    status = (await api.call("GET", "/api/v1/status", WEB_CI)).body
    assert {row["app"] for row in status} == {"web"}
    history = (await api.call("GET", "/api/v1/history", WEB_CI)).body
    assert {row["app"] for row in history} == {"web"}
    events = (await api.call("GET", "/api/v1/events", WEB_CI)).body
    assert {e["app"] for e in events} <= {"web", None}
    assert (await api.call("GET", "/api/v1/history/7", WEB_CI)).status == 404  # api's sync
    assert (await api.call("GET", "/api/v1/history/6", WEB_CI)).status == 200


async def test_reads_are_open_on_loopback_only_while_no_token_is_configured(
    tmp_path: Path,
) -> None:
    async with serve_api(tmp_path, [], loopback=True) as api:
        assert (await api.call("GET", "/api/v1/status")).status == 200
        refused = await api.call("POST", "/api/v1/apps/web/sync", body={})
        assert refused.status == 403
        assert "no API token is configured" in refused.body["error"]


async def test_off_loopback_every_read_needs_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The access rules the daemon builds from settings that bind a public address.
    monkeypatch.setenv("FLEET_API_ADDRESS", "10.0.0.5:8787")
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(token_file(tmp_path, "admin", ADMIN)))
    settings = load_settings(None)
    assert not settings.listen.is_loopback
    async with serve_api(tmp_path, settings.token_entries, loopback=False) as api:
        for path in READS:
            assert (await api.call("GET", path)).status == 401, path
            assert (await api.call("GET", path, ADMIN)).status == 200, path
    # And with no token at all the API never answers reads off loopback.
    sub = tmp_path / "bare"
    sub.mkdir()
    async with serve_api(sub, [], loopback=False) as api:
        assert (await api.call("GET", "/api/v1/status")).status == 401


async def test_a_replayed_webhook_delivery_is_refused(api: Api) -> None:
    push = {"ref": "refs/heads/main", "after": "a" * 40, "repository": {"clone_url": "u"}}
    raw, headers = github_delivery(push, "delivery-1")
    first = await api.call("POST", "/webhooks/github", data=raw, headers=headers)
    assert first.status == 202, first
    again = await api.call("POST", "/webhooks/github", data=raw, headers=headers)
    assert again.status == 409
    assert "replayed delivery refused" in again.body["error"]
    # The same signed body under a new delivery id (the id is not signed) is a replay too.
    relabelled = await api.call(
        "POST", "/webhooks/github", data=raw, headers={**headers, "X-GitHub-Delivery": "new"}
    )
    assert relabelled.status == 409
    # A new push with an id already used is refused; a new push with a new id is not.
    raw2, headers2 = github_delivery({**push, "after": "b" * 40}, "delivery-1")
    assert (await api.call("POST", "/webhooks/github", data=raw2, headers=headers2)).status == 409
    raw3, headers3 = github_delivery({**push, "after": "c" * 40}, "delivery-3")
    assert (await api.call("POST", "/webhooks/github", data=raw3, headers=headers3)).status == 202
    assert [p.after for p in api.fake.pushes] == ["a" * 40, "c" * 40]


async def test_a_forged_delivery_does_not_use_up_its_id(api: Api) -> None:
    push = {"ref": "refs/heads/main", "after": "d" * 40}
    raw, headers = github_delivery(push, "delivery-9")
    forged = {**headers, "X-Hub-Signature-256": "sha256=" + "0" * 64}
    assert (await api.call("POST", "/webhooks/github", data=raw, headers=forged)).status == 401
    assert (await api.call("POST", "/webhooks/github", data=raw, headers=headers)).status == 202


async def test_a_stale_signed_timestamp_is_refused(tmp_path: Path) -> None:
    import base64
    import hashlib
    import hmac

    from tests.adapters.http.apiserver import WEBHOOK_SECRET

    def standard(timestamp: int, message_id: str) -> tuple[bytes, dict[str, str]]:
        raw = b'{"ref": "refs/heads/main"}'
        signed = f"{message_id}.{timestamp}.".encode() + raw
        mac = base64.b64encode(hmac.new(WEBHOOK_SECRET, signed, hashlib.sha256).digest())
        return raw, {
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": f"v1,{mac.decode()}",
        }

    async with serve_api(tmp_path, [], replay=ReplayGuard(300.0)) as api:
        raw, headers = standard(int(time.time()) - 3600, "msg-1")
        stale = await api.call("POST", "/webhooks/gitlab", data=raw, headers=headers)
        assert stale.status == 401
        assert "outside the replay window" in stale.body["error"]
        raw, headers = standard(int(time.time()), "msg-2")
        assert (await api.call("POST", "/webhooks/gitlab", data=raw, headers=headers)).status == 202


BAD_QUERIES = [
    ("/api/v1/history", {"limit": "-1"}, "limit must be from 1 to 10000, got -1"),
    ("/api/v1/history", {"limit": "0"}, "limit must be from 1 to 10000, got 0"),
    ("/api/v1/history", {"limit": "abc"}, "limit must be a whole number, got 'abc'"),
    ("/api/v1/history", {"limit": "99999999999999999999999"}, "limit must be a whole number"),
    ("/api/v1/history", {"limit": "10001"}, "limit must be from 1 to 10000, got 10001"),
    ("/api/v1/history", {"before": "-5"}, "before must be from 1 to"),
    ("/api/v1/history", {"before": "x"}, "before must be a whole number, got 'x'"),
    ("/api/v1/history", {"before": "9223372036854775808"}, "before must be from 1 to"),
    ("/api/v1/events", {"since": "-1"}, "since must be from 0 to"),
    ("/api/v1/events", {"limit": "1e3"}, "limit must be a whole number, got '1e3'"),
    ("/api/v1/events", {"follow": "maybe"}, "follow must be true or false"),
    ("/api/v1/history/-1", {}, "sync id must be a whole number"),
    ("/api/v1/history/99999999999999999999", {}, "sync id must be a whole number"),
    ("/api/v1/audit", {"limit": "-1"}, "limit must be from 1 to 10000, got -1"),
    ("/api/v1/history", {"app": "a" * 300}, "app is longer than 253 characters"),
]


@pytest.mark.parametrize(("path", "params", "error"), BAD_QUERIES)
async def test_bad_query_parameters_answer_400(
    api: Api, path: str, params: dict[str, str], error: str
) -> None:
    answer = await api.call("GET", path, ADMIN, params=params)
    assert answer.status == 400, answer
    assert error in answer.body["error"]


async def test_diffs_are_rate_limited_per_token(tmp_path: Path) -> None:
    now = [1000.0]
    limiter = RateLimiter(per_minute=60.0, burst=2, clock=lambda: now[0])
    async with serve_api(tmp_path, tokens(tmp_path), limiter=limiter) as api:
        for _ in range(2):
            assert (await api.call("GET", "/api/v1/apps/web/diff", READER)).status == 200
        limited = await api.call("GET", "/api/v1/apps/web/diff", READER)
        assert limited.status == 429
        assert limited.headers["Retry-After"] == "1"
        assert "too many diff and plan requests from reader" in limited.body["error"]
        # Other tokens have buckets of their own; other reads are not limited.
        assert (await api.call("GET", "/api/v1/apps/web/diff", ADMIN)).status == 200
        assert (await api.call("GET", "/api/v1/status", READER)).status == 200
        now[0] += 1.0
        assert (await api.call("GET", "/api/v1/apps/web/diff", READER)).status == 200


async def test_every_write_is_audited_by_token_name_never_value(api: Api, tmp_path: Path) -> None:
    assert (await api.call("POST", "/api/v1/apps/web/sync", ADMIN, body={"dryRun": True})).status
    await api.call("POST", "/api/v1/apps/web/sync", READER, body={})
    await api.call("POST", "/api/v1/apps/api/sync", WEB_CI, body={})
    await api.call("POST", "/api/v1/apps/web/sync", "guess", body={"revision": "main"})
    raw, headers = github_delivery({"after": "e" * 40}, "delivery-audit")
    await api.call("POST", "/webhooks/github", data=raw, headers=headers)
    await api.call("POST", "/webhooks/github", data=raw, headers=headers)
    await api.call("GET", "/api/v1/status", ADMIN)  # reads are not audited

    rows = (await api.call("GET", "/api/v1/audit", ADMIN)).body
    seen = [(r["principal"], r["method"], r["path"], r["status"], r["result"]) for r in rows]
    assert seen == [
        ("webhook:github", "POST", "/webhooks/github", 409, "denied"),
        ("webhook:github", "POST", "/webhooks/github", 202, "ok"),
        ("anonymous", "POST", "/api/v1/apps/web/sync", 401, "denied"),
        ("web-ci", "POST", "/api/v1/apps/api/sync", 403, "denied"),
        ("reader", "POST", "/api/v1/apps/web/sync", 403, "denied"),
        ("default", "POST", "/api/v1/apps/web/sync", 202, "ok"),
    ]
    assert rows[-1]["remote"] == "127.0.0.1"
    assert rows[-1]["app"] == "web"
    assert rows[-1]["details"] == {"dryRun": True}
    assert rows[1]["details"] == {"forge": "github", "delivery": "delivery-audit", "sources": [
        "platform"
    ]}  # fmt: skip
    assert rows[0]["message"].startswith("replayed delivery refused")
    # Filters.
    only = (await api.call("GET", "/api/v1/audit", ADMIN, params={"token": "reader"})).body
    assert [r["principal"] for r in only] == ["reader"]
    # No token value is in the database file, or the answers.
    await api.audit.aclose()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("history.sqlite3*"))  # noqa: ASYNC240
    for secret in (ADMIN, READER, WEB_CI, "guess"):
        assert secret.encode() not in stored
        assert secret not in json.dumps(rows)


async def test_generators_are_read_scope_and_show_a_token_limited_to_apps_only_its_apps(
    api: Api,
) -> None:
    api.fake.generator_rows = [
        {
            "name": "teams",
            "revision": "a" * 40,
            "apps": ["api", "web", "web-eu"],
            "held": {"reason": "held", "removing": ["api", "web"], "of": 3},
        }
    ]
    assert (await api.call("GET", "/api/v1/generators")).status == 401
    assert (await api.call("GET", "/api/v1/generators", SCRAPER)).status == 403
    [full] = (await api.call("GET", "/api/v1/generators", READER)).body
    assert full["apps"] == ["api", "web", "web-eu"]
    [limited] = (await api.call("GET", "/api/v1/generators", WEB_CI)).body
    assert limited["apps"] == ["web", "web-eu"]
    assert limited["held"]["removing"] == ["web"]

"""``fleet events``: the newest events, events since an id, and following the stream."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from aiohttp import web

from tests.cli.fakedaemon import FakeDaemon
from tests.cli.harness import Invoke, Outcome, Served, run_fleet, serve_fake

pytestmark = pytest.mark.anyio


_after_kind = re.compile(r".*?  #\d+  \S+ +")


def _ids(text: str) -> list[int]:
    return [int(line.split()[2].lstrip("#")) for line in text.splitlines()]


async def test_lines_name_time_kind_target_and_message(cli: Invoke) -> None:
    outcome = await cli("events")
    assert outcome.code == 0, outcome.err
    lines = outcome.out.splitlines()
    assert len(lines) == 3
    assert lines[0].endswith("  #1  cluster_unreachable  prod  connection refused")
    assert lines[2].endswith("  #3  sync_failed          web/prod  crash loop (sync 6)")
    # kinds are padded, so what follows them starts in one column
    starts = {_after_kind.match(line).end() for line in lines}  # type: ignore[union-attr]
    assert len(starts) == 1


async def test_newest_events_are_shown_oldest_first(
    cli: Invoke, daemon: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(12):
        daemon.fake.add_event("drift", f"drift {n}", app="web", cluster="dev")
    monkeypatch.setattr("fleet.cli.events.MAX_LIMIT", 4)  # several pages to the end
    outcome = await cli("events", "--limit", "5")
    assert _ids(outcome.out) == [11, 12, 13, 14, 15]
    assert [q["since"] for q in daemon.fake.event_queries] == [0, 4, 8, 12]


async def test_since_filters_and_json(cli: Invoke, daemon: Served) -> None:
    outcome = await cli("events", "--since", "1", "--app", "web", "--cluster", "prod", "--json")
    assert outcome.code == 0
    events = json.loads(outcome.out)
    assert [e["id"] for e in events] == [2, 3]
    assert events[1]["sync_id"] == 6
    assert daemon.fake.event_queries[-1] == {
        "since": 1,
        "app": "web",
        "cluster": "prod",
        "limit": 50,
    }


async def test_nothing_to_show(cli: Invoke) -> None:
    outcome = await cli("events", "--since", "3")
    assert outcome.code == 0
    assert outcome.out == "no events\n"


async def test_follow_streams_new_events_until_interrupted(daemon: Served) -> None:
    """A real ``fleet events --follow`` process: the last events, then each new one."""
    command = [sys.executable, "-m", "fleet", "events", "--follow", "--json", "--limit", "2"]
    async with await anyio.open_process(
        [*command, "--address", daemon.address], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as process:
        assert process.stdout is not None
        assert process.stderr is not None
        lines = _Lines(process.stdout)
        with anyio.fail_after(30):
            assert [json.loads(await lines.next())["id"] for _ in range(2)] == [2, 3]
            daemon.fake.add_event("drift", "replicas changed", app="web", cluster="dev")
            fourth = json.loads(await lines.next())
            # The stream is open now: this one can only arrive through it.
            daemon.fake.add_event("config_reloaded", "fleet config reloaded")
            fifth = json.loads(await lines.next())
        assert (fourth["id"], fourth["kind"], fourth["app"]) == (4, "drift", "web")
        assert (fifth["id"], fifth["kind"]) == (5, "config_reloaded")
        process.send_signal(signal.SIGINT)
        with anyio.fail_after(15):
            code = await process.wait()
        errors = (await process.stderr.receive(65536)).decode() if code != 130 else ""
        assert code == 130, errors


async def test_follow_catches_up_after_a_restart_and_stops_when_the_daemon_is_gone(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("fleet.cli.events.RECONNECT_DELAY", 0.1)
    socket = tmp_path / "api.sock"
    token = tmp_path / "token"
    token.write_text("t\n")
    monkeypatch.setenv("FLEET_API_TOKEN_FILE", str(token))  # reads need it too
    printed = ""

    async def until_printed(text: str) -> None:
        nonlocal printed
        with anyio.fail_after(15):
            while text not in printed:
                printed += capsys.readouterr().out
                await anyio.sleep(0.05)

    async with anyio.create_task_group() as tasks:
        fake = FakeDaemon(tasks)
        fake.add_event("drift", "first")
        runner = await serve_fake(fake, token, lambda r: web.UnixSite(r, str(socket)))
        ended: list[Outcome] = []
        done = anyio.Event()

        async def follow() -> None:
            outcome = await run_fleet(capsys, "events", "--follow", "--address", f"unix:{socket}")
            ended.append(outcome)
            done.set()

        tasks.start_soon(follow)
        await until_printed("#1  drift")
        # The daemon restarts; an event is recorded while the stream is down.
        await runner.cleanup()
        fake.add_event("sync_failed", "while away", app="web", cluster="dev")
        runner = await serve_fake(fake, token, lambda r: web.UnixSite(r, str(socket)))
        await until_printed("#2  sync_failed")
        fake.add_event("drift", "after the restart")
        await until_printed("#3  drift")
        # Gone for good: the command ends, naming where it looked.
        await runner.cleanup()
        with anyio.fail_after(15):
            await done.wait()
        tasks.cancel_scope.cancel()
    assert ended[0].code == 3
    printed += ended[0].out
    assert printed.count("#2  sync_failed") == 1, "no event is printed twice"
    assert f"cannot reach the fleet daemon at unix:{socket}" in ended[0].err


class _Lines:
    """Lines of a byte stream, one at a time."""

    def __init__(self, stream: anyio.abc.ByteReceiveStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def next(self) -> str:
        while b"\n" not in self.buffer:
            self.buffer += await self.stream.receive()
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.decode()

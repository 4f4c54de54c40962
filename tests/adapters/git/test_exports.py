"""Pruning exported trees: the wanted and the recent stay, trees in use are never touched."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fleet.adapters.git import GitMirror, GitSourceSpec, TreeStore
from fleet.adapters.git import exports as exports_module
from tests.adapters.git.conftest import DEPLOYMENT, MakeMirror
from tests.support.gitrepos import WorkRepo


@pytest.fixture
def mirror(origin: WorkRepo, make_mirror: MakeMirror) -> GitMirror:
    mirror = make_mirror(GitSourceSpec("platform", str(origin.origin), branch="main"))
    mirror.fetch()
    return mirror


@pytest.fixture
def commits(origin: WorkRepo, mirror: GitMirror) -> list[str]:
    """Four commits with four different trees, oldest first, fetched into the mirror."""
    shas = [origin.head()]
    for replicas in (2, 3, 4):
        origin.write("apps/web/deployment.yaml", f"{DEPLOYMENT}spec:\n  replicas: {replicas}\n")
        shas.append(origin.commit(f"scale to {replicas}"))
    origin.push()
    mirror.fetch()
    return shas


def exported(mirror: GitMirror, shas: list[str]) -> list[str]:
    """Export each commit, the first one used longest ago; their tree ids, in that order."""
    trees = []
    for age, sha in zip(range(len(shas), 0, -1), shas, strict=True):
        path = mirror.export_tree(sha)
        stamp = path.stat().st_mtime - 60 * age
        os.utime(path, (stamp, stamp))
        trees.append(path.name)
    return trees


def on_disk(store: TreeStore) -> set[str]:
    return set(os.listdir(store.root))


def test_trees_beyond_the_most_recent_are_deleted(mirror: GitMirror, commits: list[str]) -> None:
    trees = exported(mirror, commits)

    pruned = mirror.trees.prune(wanted=(), recent=2)

    assert on_disk(mirror.trees) == set(trees[2:])
    assert sorted(pruned.deleted) == sorted(trees[:2])
    assert pruned.kept == 2


def test_wanted_trees_are_kept_whatever_their_age(mirror: GitMirror, commits: list[str]) -> None:
    trees = exported(mirror, commits)

    pruned = mirror.trees.prune(wanted={trees[0]}, recent=1)

    # The oldest is wanted; of the others only the most recent one stays.
    assert on_disk(mirror.trees) == {trees[0], trees[3]}
    assert sorted(pruned.deleted) == sorted(trees[1:3])


def test_a_lease_marks_the_tree_as_just_used(mirror: GitMirror, commits: list[str]) -> None:
    trees = exported(mirror, commits)

    with mirror.lease_tree(commits[0]):
        pass
    mirror.trees.prune(wanted=(), recent=1)

    assert on_disk(mirror.trees) == {trees[0]}


def test_a_tree_in_use_is_never_deleted(mirror: GitMirror, commits: list[str]) -> None:
    trees = exported(mirror, commits)
    lease = mirror.lease_tree(commits[1])

    pruned = mirror.trees.prune(wanted=(), recent=0)

    assert pruned.in_use == (trees[1],)
    assert on_disk(mirror.trees) == {trees[1]}
    assert (lease.path / "apps/web/deployment.yaml").read_text().endswith("replicas: 2\n")
    lease.release()
    lease.release()  # idempotent
    assert mirror.trees.prune(wanted=(), recent=0).deleted == (trees[1],)
    assert on_disk(mirror.trees) == set()


def test_a_tree_in_use_by_another_process_is_never_deleted(
    mirror: GitMirror, commits: list[str]
) -> None:
    path = mirror.export_tree(commits[0])
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys\n"
            "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n"
            "fcntl.flock(fd, fcntl.LOCK_SH)\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "locked\n"
        assert mirror.trees.prune(wanted=(), recent=0).in_use == (path.name,)
        assert path.is_dir()
    finally:
        holder.communicate("")
    assert mirror.trees.prune(wanted=(), recent=0).deleted == (path.name,)


def test_a_pruned_tree_is_exported_again_on_demand(mirror: GitMirror, commits: list[str]) -> None:
    first = mirror.export_tree(commits[-1])
    mirror.trees.prune(wanted=(), recent=0)
    assert not first.exists()

    with mirror.lease_tree(commits[-1]) as lease:
        assert lease.path == first
        assert (first / "apps/web/deployment.yaml").read_text().endswith("replicas: 4\n")
        assert (first / "apps/web/current.yaml").is_symlink()
    assert mirror.export_tree(commits[-1]) == first


def test_a_lease_that_loses_a_race_with_a_prune_exports_again(
    mirror: GitMirror, commits: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror.export_tree(commits[0])
    real_lock = exports_module._lock
    raced: list[Path] = []

    def lock_after_a_prune(path: Path, operation: int) -> int | None:
        # The pruner wins the instant between "the tree is there" and the reader's lock.
        if not raced and not path.name.startswith("."):
            raced.append(path)
            assert mirror.trees.prune(wanted=(), recent=0).deleted == (path.name,)
        return real_lock(path, operation)

    monkeypatch.setattr(exports_module, "_lock", lock_after_a_prune)
    with mirror.lease_tree(commits[0]) as lease:
        assert raced == [lease.path]
        assert (lease.path / "apps/web/deployment.yaml").read_text() == DEPLOYMENT


def write_marker(files: dict[str, str]) -> Callable[[Path], None]:
    def write(into: Path) -> None:
        for name, text in files.items():
            (into / name).write_text(text)

    return write


def test_leftovers_of_a_crash_are_removed_but_not_an_export_in_progress(tmp_path: Path) -> None:
    store = TreeStore(tmp_path / "trees")
    for leftover in (".trash-" + "a" * 40 + "-0badc0de", ".tmp-" + "b" * 40 + "-0badc0de"):
        (store.root / leftover / "apps").mkdir(parents=True)
        (store.root / leftover / "apps" / "x.yaml").write_text("kind: Leftover\n")
    in_progress = store.root / (".tmp-" + "c" * 40 + "-12345678")
    in_progress.mkdir()
    writer = os.open(in_progress, os.O_RDONLY | os.O_DIRECTORY)
    exports_module.fcntl.flock(writer, exports_module.fcntl.LOCK_EX)
    try:
        pruned = store.prune(wanted=(), recent=10)
    finally:
        os.close(writer)

    assert pruned.leftovers == 2
    assert on_disk(store) == {in_progress.name}
    assert store.clean() == 1
    assert on_disk(store) == set()


def test_a_tree_id_must_look_like_one(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a tree id"):
        TreeStore(tmp_path).lease("../etc", write_marker({}))


@pytest.fixture
def failures() -> Iterator[list[BaseException]]:
    found: list[BaseException] = []
    yield found
    assert found == []


def test_leases_and_prunes_racing_in_threads_never_break_a_reader(
    tmp_path: Path, failures: list[BaseException]
) -> None:
    store = TreeStore(tmp_path / "trees")
    trees = {f"{digit}" * 40: {"kind.yaml": f"kind: Tree{digit}\n"} for digit in "123"}
    stop = threading.Event()

    def read(tree: str) -> None:
        try:
            for _ in range(40):
                with store.lease(tree, write_marker(trees[tree])) as lease:
                    assert (lease.path / "kind.yaml").read_text() == trees[tree]["kind.yaml"]
        except BaseException as error:  # reported by the fixture, not lost in the thread
            failures.append(error)

    def prune() -> None:
        while not stop.is_set():
            store.prune(wanted=(), recent=0)

    pruner = threading.Thread(target=prune)
    readers = [threading.Thread(target=read, args=(tree,)) for tree in trees for _ in range(2)]
    pruner.start()
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join()
    stop.set()
    pruner.join()
    store.prune(wanted=(), recent=0)
    assert on_disk(store) == set()

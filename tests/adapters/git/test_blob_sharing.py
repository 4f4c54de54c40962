"""Exported trees share their unchanged files: a commit costs what it changed, not the tree.

A repository with a 4 MB file and ten commits that each change one small file used to
take eleven full copies on disk. Now every tree links to one stored copy of each blob,
the trees' content is exactly Git's, and pruning trees frees the blobs no tree uses.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.adapters.git import GitMirror, GitSourceSpec
from tests.adapters.git.conftest import DEPLOYMENT, MakeMirror
from tests.support.gitrepos import WorkRepo

BIG = 4 << 20


@pytest.fixture
def mirror(origin: WorkRepo, make_mirror: MakeMirror) -> GitMirror:
    origin.write("data/big.bin", "x" * BIG)
    origin.commit("a big file")
    origin.push()
    mirror = make_mirror(GitSourceSpec("platform", str(origin.origin), branch="main"))
    mirror.fetch()
    return mirror


def ten_commits(origin: WorkRepo, mirror: GitMirror) -> list[str]:
    shas = [origin.head()]
    for replicas in range(2, 12):
        origin.write("apps/web/deployment.yaml", f"{DEPLOYMENT}spec:\n  replicas: {replicas}\n")
        shas.append(origin.commit(f"scale to {replicas}"))
    origin.push()
    mirror.fetch()
    return shas


def disk_usage(*roots: Path) -> int:
    """Bytes of the files below ``roots``, each inode counted once (what ``du`` says)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for root in roots:
        for path in root.rglob("*"):
            status = path.lstat()
            if (
                path.is_file()
                and not path.is_symlink()
                and (status.st_dev, status.st_ino) not in seen
            ):
                seen.add((status.st_dev, status.st_ino))
                total += status.st_size
    return total


def test_eleven_trees_hold_the_big_file_once(origin: WorkRepo, mirror: GitMirror) -> None:
    shas = ten_commits(origin, mirror)
    trees = [mirror.export_tree(sha) for sha in shas]

    assert len({tree.name for tree in trees}) == 11
    used = disk_usage(mirror.trees.root, mirror.trees.blobs.root)
    assert used < BIG + 100_000, f"{used} bytes for eleven trees"
    big = [tree / "data/big.bin" for tree in trees]
    assert len({path.stat().st_ino for path in big}) == 1
    assert big[0].stat().st_nlink == 12  # eleven trees and the store
    # Each tree is still exactly its commit.
    for replicas, tree in enumerate(trees[1:], start=2):
        assert (tree / "apps/web/deployment.yaml").read_text().endswith(f"replicas: {replicas}\n")
    assert (trees[0] / "apps/web/deployment.yaml").read_text() == DEPLOYMENT
    assert os.access(trees[-1] / "scripts/check.sh", os.X_OK)
    assert not os.access(trees[-1] / "apps/web/deployment.yaml", os.X_OK)
    assert os.readlink(trees[-1] / "apps/web/current.yaml") == "deployment.yaml"


def test_shared_files_cannot_be_written_through_one_tree(
    origin: WorkRepo, mirror: GitMirror
) -> None:
    tree = mirror.export_tree(origin.head())
    target = tree / "apps/web/deployment.yaml"
    assert not os.access(target, os.W_OK) or os.geteuid() == 0
    assert target.stat().st_mode & 0o222 == 0


def test_pruning_trees_frees_the_blobs_only_they_used(origin: WorkRepo, mirror: GitMirror) -> None:
    shas = ten_commits(origin, mirror)
    for sha in shas:
        mirror.export_tree(sha)
    blobs = mirror.trees.blobs.root
    before = set(os.listdir(blobs))

    pruned = mirror.trees.prune(wanted=(), recent=1)

    assert len(pruned.deleted) == 10
    after = set(os.listdir(blobs))
    # Ten versions of deployment.yaml went with their trees; the big file stays in use.
    assert len(before - after) == 10
    assert pruned.blobs == 10
    [kept] = os.listdir(mirror.trees.root)
    for name in after:
        assert (blobs / name).stat().st_nlink == 2, name
    assert (mirror.trees.root / kept / "data/big.bin").stat().st_size == BIG


def test_a_blob_deleted_under_an_export_is_written_again(
    origin: WorkRepo, mirror: GitMirror
) -> None:
    first = mirror.export_tree(origin.head())
    mirror.trees.prune(wanted=(), recent=0)  # the tree and every blob are gone
    assert not first.exists()
    assert os.listdir(mirror.trees.blobs.root) == []

    again = mirror.export_tree(origin.head())
    assert (again / "data/big.bin").stat().st_size == BIG
    assert (again / "apps/web/deployment.yaml").read_text() == DEPLOYMENT


def test_an_export_into_a_directory_of_the_callers_is_a_private_copy(
    origin: WorkRepo, mirror: GitMirror, tmp_path: Path
) -> None:
    copy = mirror.export_tree(origin.head(), tmp_path / "mine")
    (copy / "apps/web/deployment.yaml").write_text("changed by the caller\n")
    cached = mirror.export_tree(origin.head())
    assert (cached / "apps/web/deployment.yaml").read_text() == DEPLOYMENT

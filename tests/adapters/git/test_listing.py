"""Listing a commit's directories for app generators: only folders, bounded, no blobs."""

from __future__ import annotations

import anyio
import pygit2
import pytest

from fleet.adapters.git import AsyncGitMirror, GitMirror, GitSourceSpec
from fleet.adapters.git.listing import list_directories
from tests.adapters.git.conftest import MakeMirror
from tests.support.gitrepos import WorkRepo


@pytest.fixture
def mirror(origin: WorkRepo, make_mirror: MakeMirror) -> GitMirror:
    for name in ("api", "db", "legacy"):
        origin.write(f"apps/{name}/kustomization.yaml", "resources: []\n")
    origin.write("apps/web/overlays/prod/kustomization.yaml", "resources: []\n")
    origin.write("apps/notadir.yaml", "x: 1\n")
    origin.commit("more apps")
    origin.push()
    mirror = make_mirror(GitSourceSpec("platform", str(origin.origin), branch="main"))
    mirror.fetch()
    return mirror


def _all(path: str) -> bool:
    return True


@pytest.mark.parametrize(
    ("roots", "depth", "expected"),
    [
        (["apps"], 1, ["apps/api", "apps/db", "apps/legacy", "apps/web"]),
        (["apps"], 2, ["apps/api", "apps/db", "apps/legacy", "apps/web", "apps/web/overlays"]),
        (["apps/web"], None, ["apps/web/overlays", "apps/web/overlays/prod"]),
        ([""], 1, ["apps", "scripts"]),
        (["missing"], 1, []),
        (["apps/notadir.yaml"], 1, []),
    ],
)
def test_lists_directories_only_to_the_depth_asked(
    mirror: GitMirror, roots: list[str], depth: int | None, expected: list[str]
) -> None:
    head = mirror.resolve().sha
    listing = mirror.list_directories(head, roots, depth, _all, 100)
    # apps/escape is a symlink and apps/web/current.yaml a file: neither is listed.
    assert sorted(listing.directories) == expected
    assert not listing.over_limit
    assert not listing.too_large


def test_keep_filters_and_limit_stops_early(mirror: GitMirror) -> None:
    head = mirror.resolve().sha
    kept = mirror.list_directories(head, ["apps"], 1, lambda p: p != "apps/db", 100)
    assert sorted(kept.directories) == ["apps/api", "apps/legacy", "apps/web"]
    over = mirror.list_directories(head, ["apps"], 1, _all, 2)
    assert over.over_limit
    assert len(over.directories) == 3  # limit + 1: enough to say "more than"


def test_a_huge_tree_stops_at_max_trees(tmp_path: object) -> None:
    repo = pygit2.init_repository(str(tmp_path), bare=True)
    empty = repo.TreeBuilder().write()
    # A chain of 30 nested folders, each also holding 50 empty siblings.
    current = repo.TreeBuilder()
    for i in range(50):
        current.insert(f"leaf{i}", empty, pygit2.enums.FileMode.TREE)
    tree_id = current.write()
    for level in range(30):
        builder = repo.TreeBuilder()
        builder.insert("deeper", tree_id, pygit2.enums.FileMode.TREE)
        for i in range(50):
            builder.insert(f"side{level}-{i}", empty, pygit2.enums.FileMode.TREE)
        tree_id = builder.write()
    tree = repo[tree_id]
    assert isinstance(tree, pygit2.Tree)
    bounded = list_directories(repo, tree, [""], None, lambda p: False, 10, max_trees=200)
    assert bounded.too_large
    wide = list_directories(repo, tree, [""], None, lambda p: False, 10, max_entries=500)
    assert wide.too_large
    whole = list_directories(repo, tree, [""], None, lambda p: p.endswith("leaf3"), 10)
    assert not whole.too_large
    assert len(whole.directories) == 1


def test_async_mirror_lists_too(mirror: GitMirror) -> None:
    async def main() -> list[str]:
        face = AsyncGitMirror(mirror)
        head = (await face.resolve()).sha
        return (await face.list_directories(head, ["apps"], 1, _all, 10)).directories

    assert sorted(anyio.run(main)) == ["apps/api", "apps/db", "apps/legacy", "apps/web"]

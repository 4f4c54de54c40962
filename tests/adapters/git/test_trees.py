"""Reading files at a commit and materialising its tree, straight from the bare mirror."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from fleet.adapters.git import GitError, GitMirror, GitPathError, GitRefNotFound, GitSourceSpec
from tests.adapters.git.conftest import DEPLOYMENT, MakeMirror
from tests.support.gitrepos import WorkRepo, git, init_bare


@pytest.fixture
def mirror(origin: WorkRepo, make_mirror: MakeMirror) -> GitMirror:
    mirror = make_mirror(GitSourceSpec("platform", str(origin.origin), branch="main"))
    mirror.fetch()
    return mirror


def test_read_file_returns_the_content_at_that_commit(origin: WorkRepo, mirror: GitMirror) -> None:
    first = origin.head()
    origin.write("apps/web/deployment.yaml", DEPLOYMENT + "spec:\n  replicas: 3\n")
    second = origin.commit("scale")
    origin.push()
    mirror.fetch()

    assert mirror.read_file(first, "apps/web/deployment.yaml") == DEPLOYMENT.encode()
    assert b"replicas: 3" in mirror.read_file(second, "./apps/web/deployment.yaml")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("apps/web/missing.yaml", "does not exist"),
        ("apps/web", "is a directory"),
        ("apps/web/current.yaml", "is a symbolic link"),
        ("../outside", "leaves the repository"),
    ],
)
def test_read_file_refuses_what_is_not_a_file(
    origin: WorkRepo, mirror: GitMirror, path: str, problem: str
) -> None:
    with pytest.raises(GitPathError, match=problem):
        mirror.read_file(origin.head(), path)


def test_tree_id_is_gits_own_content_address(origin: WorkRepo, mirror: GitMirror) -> None:
    head = origin.head()

    assert (
        mirror.tree_id(head, "apps/web") == git(origin.path, "rev-parse", "HEAD:apps/web").strip()
    )
    assert mirror.tree_id(head) == git(origin.path, "rev-parse", "HEAD^{tree}").strip()
    assert mirror.tree_id(head, "apps/nothing-here") is None


def test_tree_id_changes_only_when_the_path_changes(origin: WorkRepo, mirror: GitMirror) -> None:
    first = origin.head()
    origin.write("README.md", "unrelated\n")
    second = origin.commit("docs only")
    origin.write("apps/web/deployment.yaml", DEPLOYMENT + "# changed\n")
    third = origin.commit("web changed")
    origin.push()
    mirror.fetch()

    assert mirror.tree_id(first, "apps/web") == mirror.tree_id(second, "apps/web")
    assert mirror.tree_id(second, "apps/web") != mirror.tree_id(third, "apps/web")


def test_export_writes_files_modes_and_symlinks_as_they_are(
    origin: WorkRepo, mirror: GitMirror, tmp_path: Path
) -> None:
    exported = mirror.export_tree(origin.head(), tmp_path / "export")

    assert (exported / "apps/web/deployment.yaml").read_text() == DEPLOYMENT
    assert os.access(exported / "scripts/check.sh", os.X_OK)
    assert not os.access(exported / "apps/web/deployment.yaml", os.X_OK)
    link = exported / "apps/web/current.yaml"
    assert link.is_symlink()
    assert os.readlink(link) == "deployment.yaml"
    escape = exported / "apps/escape"
    assert escape.is_symlink()  # kept, not followed: the renderer decides
    assert os.readlink(escape) == "../../../etc/passwd"
    assert sorted(p.relative_to(exported).as_posix() for p in exported.rglob("*")) == [
        "apps",
        "apps/escape",
        "apps/web",
        "apps/web/current.yaml",
        "apps/web/deployment.yaml",
        "scripts",
        "scripts/check.sh",
    ]


def test_export_is_cached_by_tree_under_the_state_dir(
    origin: WorkRepo, mirror: GitMirror, state_dir: Path
) -> None:
    first = origin.head()
    empty_change = origin.commit("no file changes")
    origin.push()
    mirror.fetch()

    exported = mirror.export_tree(first)
    (exported / "marker").write_text("proves the second call did not rewrite it")

    assert exported == state_dir / "trees" / str(mirror.tree_id(first))
    assert mirror.export_tree(empty_change) == exported
    assert (exported / "marker").exists()
    assert [p.name for p in (state_dir / "trees").iterdir()] == [exported.name]


def test_export_refuses_a_directory_that_is_not_empty(
    origin: WorkRepo, mirror: GitMirror, tmp_path: Path
) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")

    with pytest.raises(GitError, match="not an empty directory"):
        mirror.export_tree(origin.head(), tmp_path / "busy")


def test_a_tree_git_would_not_check_out_is_not_exported(
    origin: WorkRepo, mirror: GitMirror, tmp_path: Path
) -> None:
    blob = git(origin.path, "hash-object", "-w", "--stdin", stdin=b"[core]\n").strip()
    inner = git(origin.path, "mktree", stdin=f"100644 blob {blob}\tconfig\n".encode()).strip()
    root = git(origin.path, "mktree", stdin=f"040000 tree {inner}\t.git\n".encode()).strip()
    crafted = git(origin.path, "commit-tree", root, "-m", "crafted").strip()
    git(origin.path, "update-ref", "refs/heads/crafted", crafted)
    origin.push()
    mirror.fetch()

    with pytest.raises(GitError, match=r"'\.git'"):
        mirror.export_tree(crafted, tmp_path / "export")


def test_reads_of_an_unknown_commit_are_clear(mirror: GitMirror) -> None:
    with pytest.raises(GitRefNotFound, match="no commit 0123456789"):
        mirror.read_file("0123456789abcdef0123456789abcdef01234567", "x")


def test_resolve_accepts_branches_tags_and_shas(origin: WorkRepo, mirror: GitMirror) -> None:
    head = origin.head()

    for rev in ("main", "refs/heads/main", "v1.0.0", "refs/tags/v1.0.0", "light", head, head[:8]):
        assert mirror.resolve(rev).sha == head, rev
    with pytest.raises(GitRefNotFound, match=r"'v1\.0' was not found"):
        mirror.resolve("v1.0")


def test_a_pinned_commit_not_on_the_remote_says_so(
    origin: WorkRepo, make_mirror: MakeMirror
) -> None:
    spec = GitSourceSpec("platform", str(origin.origin), commit="deadbeef" * 5)

    with pytest.raises(GitRefNotFound, match="is it on a branch or tag of the remote"):
        make_mirror(spec).fetch()


def test_a_pinned_commit_is_never_taken_for_a_branch_of_that_name(
    origin: WorkRepo, make_mirror: MakeMirror
) -> None:
    pinned = origin.head()
    git(origin.path, "branch", pinned[:7])  # a branch named like the abbreviated SHA...
    origin.commit("...which moves on")
    git(origin.path, "branch", "--force", pinned[:7], "HEAD")
    origin.push()

    revision = make_mirror(GitSourceSpec("platform", str(origin.origin), commit=pinned[:7])).fetch()

    assert revision.sha == pinned


def test_a_remote_without_a_default_branch_is_a_clear_error(
    served_root: Path, tmp_path: Path, make_mirror: MakeMirror
) -> None:
    bare = init_bare(served_root / "headless.git", default_branch="trunk")
    work = WorkRepo(tmp_path / "headless", bare, branch="main")
    work.commit("only main exists; HEAD names trunk")
    work.push()

    with pytest.raises(GitRefNotFound, match="'HEAD' points to nothing"):
        make_mirror(GitSourceSpec("headless", str(bare))).fetch()

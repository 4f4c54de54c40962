"""A source's tag as a version range, against a real ``git daemon``: the highest match wins."""

from __future__ import annotations

import pytest

from fleet.adapters.git import GitAuth, GitRefNotFound, GitSourceSpec
from tests.adapters.git.conftest import MakeMirror
from tests.support.gitrepos import WorkRepo
from tests.support.gitservers import GitDaemon


def ranged(git_daemon: GitDaemon, tag: str) -> GitSourceSpec:
    return GitSourceSpec("platform", git_daemon.url("platform.git"), tag=tag, auth=GitAuth())


def release(origin: WorkRepo, *tags: str) -> str:
    origin.write("apps/web/version.txt", tags[0])
    sha = origin.commit(f"release {tags[0]}")
    for tag in tags:
        origin.tag(tag, annotated=tag.endswith("0"))
    origin.push()
    return sha


def test_each_fetch_follows_the_highest_tag_in_range(
    origin: WorkRepo, git_daemon: GitDaemon, make_mirror: MakeMirror
) -> None:
    v14 = release(origin, "v1.4.0")
    release(origin, "v2.0.0")
    release(origin, "v1.5.0-rc.1")
    mirror = make_mirror(ranged(git_daemon, ">=1.4.0 <2.0.0"))
    first = mirror.fetch()
    assert (first.sha, first.ref) == (v14, "refs/tags/v1.4.0")
    v151 = release(origin, "v1.5.1")
    second = mirror.fetch()
    assert (second.sha, second.ref) == (v151, "refs/tags/v1.5.1")
    assert mirror.resolve(v14).sha == v14  # an older revision by id still resolves


def test_prerelease_tags_only_when_the_range_names_one(
    origin: WorkRepo, git_daemon: GitDaemon, make_mirror: MakeMirror
) -> None:
    release(origin, "v1.4.0")
    rc = release(origin, "v1.5.0-rc.1")
    assert make_mirror(ranged(git_daemon, "^1.4")).fetch().ref == "refs/tags/v1.4.0"
    picked = make_mirror(ranged(git_daemon, ">=1.5.0-0")).fetch()
    assert (picked.sha, picked.ref) == (rc, "refs/tags/v1.5.0-rc.1")


def test_a_range_matching_no_tag_names_the_source_and_field(
    origin: WorkRepo, git_daemon: GitDaemon, make_mirror: MakeMirror
) -> None:
    release(origin, "v1.4.0")
    with pytest.raises(GitRefNotFound) as caught:
        make_mirror(ranged(git_daemon, ">=3.0.0")).fetch()
    message = str(caught.value)
    assert "source 'platform'" in message
    assert "tag: no tag matches the range '>=3.0.0'" in message
    assert "v1.4.0" in message

"""Fetch and resolve over every transport: file://, git://, HTTP with basic auth, SSH."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from fleet.adapters.git import GitRefNotFound, RepositoryNotFound
from tests.adapters.git.conftest import MakeMirror, Served
from tests.support.gitrepos import AUTHOR, WorkRepo, git


def test_fetch_resolves_the_branch_to_its_commit(
    served: Served, origin: WorkRepo, make_mirror: MakeMirror
) -> None:
    revision = make_mirror(served.spec(branch="main")).fetch()

    assert revision.sha == origin.head()
    assert revision.tree == git(origin.path, "rev-parse", "HEAD^{tree}").strip()
    assert revision.summary == "first: web deployment"
    assert revision.author == f"{AUTHOR[0]} <{AUTHOR[1]}>"
    assert revision.committed_at.tzinfo is not None
    assert abs(revision.committed_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    assert revision.signed_by is None


@pytest.mark.parametrize("tag", ["v1.0.0", "light"], ids=["annotated", "lightweight"])
def test_fetch_resolves_a_tag_to_the_tagged_commit(
    served: Served, origin: WorkRepo, make_mirror: MakeMirror, tag: str
) -> None:
    tagged = origin.head()
    origin.commit("second, after the tags")
    origin.push()

    revision = make_mirror(served.spec(tag=tag)).fetch()

    assert revision.sha == tagged
    assert revision.ref == f"refs/tags/{tag}"


@pytest.mark.parametrize("length", [40, 7], ids=["full", "short"])
def test_fetch_resolves_a_commit_sha(
    served: Served, origin: WorkRepo, make_mirror: MakeMirror, length: int
) -> None:
    pinned = origin.head()
    origin.commit("later work the source does not follow")
    origin.push()

    revision = make_mirror(served.spec(commit=pinned[:length])).fetch()

    assert revision.sha == pinned


def test_a_new_commit_is_seen_on_the_next_fetch(
    served: Served, origin: WorkRepo, make_mirror: MakeMirror
) -> None:
    mirror = make_mirror(served.spec(branch="main"))
    first = mirror.fetch()
    origin.write("apps/web/service.yaml", "kind: Service\n")
    second_sha = origin.commit("second: add service")
    origin.push()

    assert mirror.resolve().sha == first.sha  # resolving never touches the network
    second = mirror.fetch()

    assert second.sha == second_sha != first.sha
    assert mirror.resolve(first.sha).sha == first.sha  # older commits stay readable


def test_a_missing_branch_is_a_clear_error(served: Served, make_mirror: MakeMirror) -> None:
    with pytest.raises(GitRefNotFound) as caught:
        make_mirror(served.spec(branch="mian")).fetch()

    message = str(caught.value)
    assert "source 'platform'" in message
    assert "refs/heads/mian" in message
    assert "did you mean 'main'" in message


def test_a_missing_repository_is_a_clear_error(served: Served, make_mirror: MakeMirror) -> None:
    spec = served.spec(branch="main")
    missing = spec.url.replace("platform.git", "missing.git")
    with pytest.raises(RepositoryNotFound) as caught:
        make_mirror(replace(spec, url=missing)).fetch()

    assert "missing.git" in str(caught.value)


def test_no_ref_follows_the_remote_default_branch(
    served: Served, origin: WorkRepo, make_mirror: MakeMirror
) -> None:
    revision = make_mirror(served.spec()).fetch()

    assert revision.sha == origin.head()
    assert revision.ref == "HEAD"

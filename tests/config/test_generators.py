"""App generators, expanded: globs, exclude, templates, list params, clusters, clashes, caps.

The expansion is pure (fleet.config.expansion): each case gives a generator and a
directory listing and checks the apps that come out, or the issue that names the
generator and the field.
"""

from __future__ import annotations

from typing import Any

import pytest

from fleet.config import App, Cluster
from fleet.config.expansion import Expanded, expand_generator, fill, merge
from fleet.config.generators import Generator, compile_glob, walk_plan

TEMPLATE: dict[str, Any] = {
    "name": "{path.basename}-app",
    "source": "platform",
    "path": "{path}/overlays/{cluster.labels.env}",
}

LISTING = [
    "apps",
    "apps/web",
    "apps/api",
    "apps/legacy",
    "apps/web/overlays",
    "apps/web/overlays/prod",
    "charts",
    "charts/db",
    "teams/a/svc1",
    "teams/b/svc2",
]


def git_generator(include: list[str], exclude: list[str] | None = None, **extra: Any) -> Generator:
    return Generator.model_validate(
        {
            "name": "dirs",
            "gitDirectories": {"source": "platform", "include": include, "exclude": exclude or []},
            "template": extra.pop("template", TEMPLATE),
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("include", "exclude", "names"),
    [
        (["apps/*"], [], ["api-app", "legacy-app", "web-app"]),
        (["apps/*"], ["apps/legacy"], ["api-app", "web-app"]),
        (["apps/*"], ["apps/l*", "apps/a?i"], ["web-app"]),
        (["apps/[aw]*"], [], ["api-app", "web-app"]),
        (["apps/[!aw]*"], [], ["legacy-app"]),
        (["apps/*", "charts/*"], [], ["api-app", "db-app", "legacy-app", "web-app"]),
        (["teams/**"], ["teams/?"], ["svc1-app", "svc2-app"]),
        (["apps/web"], [], ["web-app"]),
        (["nothing/*"], [], []),
    ],
)
def test_git_directories_match_globs_minus_excludes(
    include: list[str], exclude: list[str], names: list[str]
) -> None:
    out = expand_generator(git_generator(include, exclude), 0, LISTING)
    assert not out.issues
    assert sorted(out.apps) == names


def test_directory_templates_fill_path_and_basename_and_keep_cluster_placeholders() -> None:
    out = expand_generator(git_generator(["apps/web"]), 0, LISTING)
    app = out.apps["web-app"]
    assert app.path == "apps/web/overlays/{cluster.labels.env}"
    prod = Cluster.model_validate({"name": "p1", "kubeconfig": "k", "labels": {"env": "prod"}})
    assert app.path_for(prod) == "apps/web/overlays/prod"


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        ("apps/*", "apps/web", True),
        ("apps/*", "apps/web/x", False),
        ("apps/**", "apps/web/x", True),
        ("**/base", "a/b/base", True),
        ("**/base", "base", True),
        ("a/**/z", "a/z", True),
        ("a/**/z", "a/b/c/z", True),
        ("a?c", "abc", True),
        ("a?c", "a/c", False),
        ("ap.s/*", "apps/web", False),
    ],
)
def test_globs_match_whole_paths_segment_by_segment(pattern: str, path: str, matches: bool) -> None:
    assert bool(compile_glob(pattern).match(path)) is matches


@pytest.mark.parametrize(
    ("patterns", "roots", "depth"),
    [
        (["apps/*"], ("apps",), 1),
        (["apps/*/overlays/*"], ("apps",), 3),
        (["apps/web"], ("apps",), 1),
        (["apps/*", "apps/x/*"], ("apps",), 1),
        (["*"], ("",), 1),
        (["teams/**"], ("teams",), None),
        (["a/*", "b/c/*"], ("a", "b/c"), 1),
    ],
)
def test_walk_plans_list_only_what_the_globs_can_match(
    patterns: list[str], roots: tuple[str, ...], depth: int | None
) -> None:
    plan = walk_plan(patterns)
    assert plan.roots == roots
    assert plan.depth == depth


def test_list_generator_params_fill_templates_and_keep_their_type() -> None:
    generator = Generator.model_validate(
        {
            "name": "tenants",
            "list": [{"tenant": "blue", "replicas": 2}, {"tenant": "green", "replicas": 3}],
            "template": {
                "name": "{params.tenant}-web",
                "source": "platform",
                "path": "tenants/{params.tenant}",
                "namespace": "{params.tenant}",
                "helm": {"values": {"replicas": "{params.replicas}", "label": "t-{params.tenant}"}},
            },
        }
    )
    out = expand_generator(generator, 0, None)
    assert not out.issues
    blue = out.apps["blue-web"]
    assert (blue.path, blue.namespace) == ("tenants/blue", "blue")
    assert blue.helm is not None
    assert blue.helm.values == {"replicas": 2, "label": "t-blue"}
    assert out.apps["green-web"].helm is not None


def test_cluster_selector_of_the_template_picks_each_generated_apps_clusters() -> None:
    template = {**TEMPLATE, "clusters": {"matchLabels": {"env": "prod"}}}
    out = expand_generator(git_generator(["apps/*"], template=template), 0, LISTING)
    clusters = [
        Cluster.model_validate({"name": n, "kubeconfig": "k", "labels": {"env": e}})
        for n, e in (("d1", "dev"), ("p1", "prod"), ("p2", "prod"))
    ]
    for app in out.apps.values():
        assert [c.name for c in app.clusters.select(clusters)] == ["p1", "p2"]
    assert len(out.apps) * 2 == sum(len(a.clusters.select(clusters)) for a in out.apps.values())


@pytest.mark.parametrize(
    ("template", "listing", "field", "words", "good_survives"),
    [
        ({**TEMPLATE, "name": "{path.basename}"}, ["apps/Web_1"], "name", "invalid name", True),
        (TEMPLATE, ["apps/{cluster.name}"], "name", "holds '{'", True),
        ({**TEMPLATE, "name": "{path.base}"}, ["apps/web"], "name", "unknown placeholder", False),
        ({**TEMPLATE, "renderer": "magic"}, ["apps/web"], "renderer", "not one of", False),
        ({**TEMPLATE, "nope": 1}, ["apps/web"], "nope", "unknown key", False),
        ({**TEMPLATE, "path": "{path}/{x}"}, ["apps/web"], "path", "unknown placeholder", False),
    ],
)
def test_bad_entries_are_reported_at_the_template_field_and_skipped(
    template: dict[str, Any], listing: list[str], field: str, words: str, good_survives: bool
) -> None:
    generator = git_generator(["apps/*"], template=template)
    out = expand_generator(generator, 3, [*listing, "apps/good"])
    assert {i.path for i in out.issues} == {("generators", 3, "template", field)}
    assert len(out.issues) == (1 if good_survives else 2)
    assert all(words in i.message for i in out.issues)
    assert any(f"generator dirs, {listing[0]}:" in i.message for i in out.issues)
    assert len(out.apps) == (1 if good_survives else 0)


def test_two_entries_making_one_name_apply_neither_and_name_both() -> None:
    template = {**TEMPLATE, "name": "same"}
    out = expand_generator(git_generator(["apps/*"], template=template), 0, LISTING)
    assert out.apps == {}
    assert out.broken == {"same"}
    messages = " ".join(i.message for i in out.issues)
    assert "apps/legacy" in messages
    assert "apps/web" in messages
    assert {i.path for i in out.issues} == {("generators", 0, "template", "name")}


def test_a_generated_app_named_like_a_written_one_is_not_applied() -> None:
    written = App.model_validate({"name": "web-app", "source": "platform", "path": "x"})
    generator = git_generator(["apps/*"])
    expanded = {"dirs": expand_generator(generator, 0, LISTING)}
    merged = merge([written], [generator], expanded)
    assert [a.name for a in merged.apps] == ["web-app", "api-app", "legacy-app"]
    assert merged.apps[0] is written
    assert "written app" in merged.issues[0].message
    assert merged.issues[0].path == ("generators", 0, "template", "name")


def test_two_generators_making_one_name_keep_the_first() -> None:
    first = git_generator(["apps/web"])
    second = Generator.model_validate(
        {
            "name": "other",
            "list": [{"n": "web"}],
            "template": {**TEMPLATE, "name": "{params.n}-app", "path": "x"},
        }
    )
    expanded = {
        "dirs": expand_generator(first, 0, LISTING),
        "other": expand_generator(second, 1, None),
    }
    merged = merge([], [first, second], expanded)
    assert merged.generated == {"dirs": {"web-app": merged.apps[0]}, "other": {}}
    assert merged.issues[0].generator == "other"
    assert "generator dirs" in merged.issues[0].message


@pytest.mark.parametrize(("cap", "failed"), [(3, False), (2, True)])
def test_max_apps_caps_each_generator(cap: int, failed: bool) -> None:
    generator = git_generator(["apps/*"], maxApps=cap)
    out = expand_generator(generator, 0, LISTING)
    assert out.failed is failed
    assert (out.issues[0].path if failed else None) == (
        ("generators", 0, "maxApps") if failed else None
    )
    if failed:
        assert out.apps == {}
        assert "3 directories match, more than maxApps (2)" in out.issues[0].message


def test_a_huge_listing_is_refused_fast_and_keeps_what_the_generator_had() -> None:
    generator = git_generator(["apps/*"])  # default cap: 500
    listing = [f"apps/d{i}" for i in range(100_000)]
    out = expand_generator(generator, 0, listing)
    assert out.failed
    before = {
        "dirs": {"x-app": App.model_validate({"name": "x-app", "source": "platform", "path": "x"})}
    }
    merged = merge([], [generator], {"dirs": out}, before)
    assert [a.name for a in merged.apps] == ["x-app"]


@pytest.mark.parametrize("pattern", ["apps/[z-a]", "apps/[abc", "../x", "/", ""])
def test_bad_globs_are_refused_when_loaded(pattern: str) -> None:
    with pytest.raises(ValueError, match="glob"):
        git_generator([pattern])


def test_list_longer_than_max_apps_is_refused_when_loaded() -> None:
    with pytest.raises(ValueError, match="more than maxApps"):
        Generator.model_validate(
            {"name": "l", "maxApps": 1, "list": [{}, {}], "template": TEMPLATE}
        )


def _apps(*names: str) -> dict[str, App]:
    return {n: App.model_validate({"name": n, "source": "platform", "path": "x"}) for n in names}


def _expanded(names: list[str]) -> Expanded:
    return Expanded("dirs", apps=_apps(*names))


@pytest.mark.parametrize(
    ("guard", "before", "after", "held"),
    [
        ({}, ["a", "b", "c"], [], True),  # everything removed: always held
        ({}, ["a"], [], True),
        ({}, ["a", "b", "c", "d"], ["a", "b"], False),  # 50%: not more than 50%
        ({}, ["a", "b", "c", "d"], ["a"], True),  # 75% of 4
        ({"maxShare": 0.8}, ["a", "b", "c", "d"], ["a"], False),
        ({"minApps": 4}, ["a", "b", "c", "d"], ["a"], False),
        ({}, ["a", "b", "c"], ["a", "b", "c", "d"], False),  # only additions
        ({}, [], [], False),
    ],
)
def test_prune_guard_holds_big_drops_and_empty_results(
    guard: dict[str, Any], before: list[str], after: list[str], held: bool
) -> None:
    generator = git_generator(["apps/*"], pruneGuard=guard)
    previous = {"dirs": _apps(*before)}
    merged = merge([], [generator], {"dirs": _expanded(after)}, previous)
    assert ("dirs" in merged.held) is held
    expected = before if held else after
    assert sorted(a.name for a in merged.apps) == sorted(expected)
    if held:
        assert "fleet sync dirs --confirm-prune" in merged.held["dirs"]
        assert merged.issues[-1].path == ("generators", 0, "pruneGuard")
        confirmed = merge(
            [], [generator], {"dirs": _expanded(after)}, previous, frozenset({"dirs"})
        )
        assert sorted(a.name for a in confirmed.apps) == sorted(after)


def test_a_broken_entry_keeps_the_app_it_made_before() -> None:
    template = {**TEMPLATE, "name": "{path.basename}", "namespace": "{path.basename}"}
    generator = git_generator(["apps/*"], template=template)
    out = expand_generator(generator, 0, ["apps/web", "apps/api", "apps/Bad"])
    previous = {"dirs": _apps("web", "api")}
    out2 = expand_generator(generator, 0, ["apps/web", "apps/api", "apps/web.x"])
    assert out2.broken == {"web.x"}  # a name, but not a namespace
    merged = merge([], [generator], {"dirs": out}, previous)
    assert sorted(merged.generated["dirs"]) == ["api", "web"]


def test_a_generator_not_yet_listed_keeps_its_apps() -> None:
    generator = git_generator(["apps/*"])
    merged = merge([], [generator], {}, {"dirs": _apps("a-app")})
    assert [a.name for a in merged.apps] == ["a-app"]
    assert merged.generator_of("a-app") == "dirs"


@pytest.mark.parametrize(
    ("value", "result"),
    [
        ("{path}", "apps/web"),
        ("x-{path.basename}-y", "x-web-y"),
        ("{cluster.name}/{path}", "{cluster.name}/apps/web"),
        (["{path.basename}", 3], ["web", 3]),
        ({"k": "{path.basename}"}, {"k": "web"}),
    ],
)
def test_fill(value: Any, result: Any) -> None:
    assert fill(value, {"path": "apps/web", "path.basename": "web"}, ()) == result

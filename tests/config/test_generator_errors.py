"""Generator mistakes a config load catches, each with file:line:col and the field.

A list generator is expanded in full when the config is loaded; a Git-directory
generator once with a sample directory, so template mistakes show before any fetch.
"""

from __future__ import annotations

import pytest

from fleet.config import check_fleet_config, load_fleet_config
from tests.config.conftest import WriteConfig
from tests.config.test_fleet_errors import BASE

WRITTEN = """\
apps:
  - name: web-app
    source: platform
    path: apps/web
"""

GENERATOR = """\
generators:
  - name: dirs
    gitDirectories: {source: platform, include: ["apps/*"]}
    template:
      name: "{path.basename}-app"
      source: platform
      path: "{path}"
"""


CASES: list[tuple[str, str, list[str]]] = [
    (
        "a valid git generator and a written app",
        WRITTEN + GENERATOR,
        [],
    ),
    (
        "unknown source of a git generator",
        WRITTEN + GENERATOR.replace("{source: platform,", "{source: platfrom,"),
        [
            "fleet.yaml:20:30: generators[0].gitDirectories.source: no source named "
            "'platfrom' (did you mean 'platform'?)"
        ],
    ),
    (
        "a chart source for a directory listing",
        WRITTEN.replace(
            "apps:", "  - {name: podinfo, chart: {repository: https://c.example, name: p}}\napps:"
        )
        + GENERATOR.replace("{source: platform,", "{source: podinfo,"),
        [
            "fleet.yaml:21:30: generators[0].gitDirectories.source: source 'podinfo' is a Helm "
            "chart source: gitDirectories lists the directories of a Git source"
        ],
    ),
    (
        "a template key no app has",
        WRITTEN + GENERATOR + "      prnue: true\n",
        [
            "fleet.yaml:25:14: generators[0].template.prnue: generator dirs, a directory such "
            "as sample/directory: unknown key 'prnue' (allowed here: clusters, decryption, "
            "deletionPolicy, dependsOn, health, helm, ignoreDifferences, name, namespace, path, "
            "project, renderer, rollout, secretChecksums, secretRefs, source, syncPolicy)"
        ],
    ),
    (
        "a placeholder the generator does not give",
        WRITTEN + GENERATOR.replace('path: "{path}"', 'path: "{params.x}"'),
        [
            "fleet.yaml:24:13: generators[0].template.path: generator dirs, a directory "
            "such as sample/directory: unknown placeholder '{params.x}': this generator gives "
            "{path} and {path.basename} (and {cluster.*})"
        ],
    ),
    (
        "a template source that does not exist",
        WRITTEN + GENERATOR.replace("      source: platform\n", "      source: nope\n"),
        ["fleet.yaml:23:15: generators[0].template.source: no source named 'nope'"],
    ),
    (
        "a list entry making the name of a written app",
        WRITTEN
        + """\
generators:
  - name: tenants
    list: [{t: blue}, {t: web}]
    template: {name: "{params.t}-app", source: platform, path: "x/{params.t}"}
""",
        [
            "fleet.yaml:21:22: generators[0].template.name: generator tenants makes app "
            "'web-app', which a written app already is: the generated one is not applied"
        ],
    ),
    (
        "two list entries making one name",
        WRITTEN
        + """\
generators:
  - name: tenants
    list: [{t: blue}, {t: blue}]
    template: {name: "{params.t}", source: platform, path: "x"}
""",
        [
            "fleet.yaml:21:22: generators[0].template.name: generator tenants, list[1]: "
            "makes app 'blue', as list[0] does: neither is applied"
        ],
    ),
    (
        "a generator named like an app, and twice",
        WRITTEN
        + GENERATOR.replace("name: dirs", "name: web-app")
        + GENERATOR.replace("generators:\n", "")
        .replace("name: dirs", "name: web-app")
        .replace('"{path.basename}-app"', '"b-{path.basename}"'),
        [
            "fleet.yaml:19:11: generators[0].name: an app is named 'web-app' too: give the "
            "generator its own name (fleet sync NAME --confirm-prune must name one thing)",
            "fleet.yaml:25:11: generators[1].name: duplicate name 'web-app' (also generators[0])",
        ],
    ),
    (
        "neither directories nor a list",
        WRITTEN + "generators:\n  - {name: g, template: {}}\n",
        ["fleet.yaml:19:5: generators[0]: say where entries come from: gitDirectories or list"],
    ),
    (
        "a glob leaving the repository",
        WRITTEN + GENERATOR.replace('include: ["apps/*"]', 'include: ["../*"]'),
        [
            "fleet.yaml:20:49: generators[0].gitDirectories.include: glob '../*' must name "
            "directories inside the repository"
        ],
    ),
    (
        "maxApps out of bounds",
        WRITTEN + GENERATOR + "    maxApps: 0\n",
        ["fleet.yaml:25:14: generators[0].maxApps: Input should be greater than or equal to 1"],
    ),
    (
        "a template naming a project that does not exist",
        WRITTEN + GENERATOR + "      project: nope\n",
        ["fleet.yaml:25:16: generators[0].template.project: no project named 'nope'"],
    ),
    (
        "a generated app on a cluster in no wave of the fleet's rollout",
        WRITTEN.replace(
            "    path: apps/web\n", "    path: apps/web\n    clusters: {names: [dev-1]}\n"
        )
        + GENERATOR
        + "rollout: {waves: [{name: dev, selector: {names: [dev-1]}}]}\n",
        [
            "fleet.yaml:23:7: generators[0].template.clusters: app directory-app targets "
            "prod-eu-1, in no wave of the fleet's rollout; add a wave that selects them"
        ],
    ),
    (
        "a dependsOn naming no app",
        WRITTEN + GENERATOR + "      dependsOn: [nope]\n",
        ["fleet.yaml:25:19: generators[0].template.dependsOn[0]: no app named 'nope'"],
    ),
]


@pytest.mark.parametrize(("text", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_generator_errors(write_config: WriteConfig, text: str, expected: list[str]) -> None:
    path = write_config(BASE + text)
    _, issues = check_fleet_config(path)
    assert [str(issue) for issue in issues] == expected


def test_generators_are_loaded_not_expanded_into_the_written_apps(
    write_config: WriteConfig,
) -> None:
    config = load_fleet_config(write_config(BASE + WRITTEN + GENERATOR))
    assert [app.name for app in config.apps] == ["web-app"]
    [generator] = config.generators
    assert generator.git_directories is not None
    assert generator.git_directories.include == ["apps/*"]
    assert generator.max_apps == 500

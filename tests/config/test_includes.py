"""``include:``: a fleet config split across files and directories, checked as one."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from fleet.config import ConfigError, ConfigIssue, check_fleet_config, load_fleet_config
from fleet.config.includes import MAX_FILE_BYTES

MAIN = """\
include:
  - clusters.yaml
  - apps/
clusters:
  - name: dev
    kubeconfig: kubeconfigs/prod.yaml
    context: prod-eu-1
sources:
  - name: platform
    url: https://git.example.com/platform.git
    branch: main
"""
CLUSTERS = """\
clusters:
  - name: prod
    kubeconfig: kubeconfigs/prod.yaml
    context: prod-us-1
"""


def app(name: str, source: str = "platform") -> str:
    return f"  - name: {name}\n    source: {source}\n    path: apps/{name}\n"


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return Path(os.path.relpath(root / "fleet.yaml"))  # as a user names it: relative


def errors(path: Path, **kwargs: object) -> list[ConfigIssue]:
    _, issues = check_fleet_config(path, **kwargs)  # type: ignore[arg-type]
    return [issue for issue in issues if issue.severity == "error"]


def test_files_and_directories_are_merged_in_order(config_dir: Path) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN,
            "clusters.yaml": CLUSTERS,
            "apps/b-web.yaml": "apps:\n" + app("web"),
            "apps/a-api.yaml": "apps:\n" + app("api") + app("worker"),
            "apps/notes.txt": "not yaml, not read",
        },
    )
    config = load_fleet_config(path)
    assert [c.name for c in config.clusters] == ["dev", "prod"]
    # A directory is every *.yaml in it, sorted by name.
    assert [a.name for a in config.apps] == ["api", "worker", "web"]
    assert config.targets(config.app("web"))  # merged apps see merged clusters


def test_nested_includes_are_relative_to_the_including_file(config_dir: Path) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN.replace("  - apps/\n", "  - teams/index.yaml\n"),
            "clusters.yaml": CLUSTERS,
            "teams/index.yaml": "include: [payments/apps.yaml]\n",
            "teams/payments/apps.yaml": "apps:\n" + app("checkout"),
        },
    )
    assert [a.name for a in load_fleet_config(path).apps] == ["checkout"]


def test_errors_point_into_the_included_file(config_dir: Path) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN,
            "clusters.yaml": CLUSTERS,
            "apps/web.yaml": "apps:\n" + app("web") + app("api", source="platfrom"),
        },
    )
    (issue,) = errors(path)
    assert (issue.file, issue.line, issue.column) == ("apps/web.yaml", 6, 13)
    assert issue.path == ("apps", 1, "source")
    assert "no source named 'platfrom'" in issue.message
    assert str(issue).startswith("apps/web.yaml:6:13: apps[1].source:")


def test_schema_errors_point_into_the_included_file(config_dir: Path) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN,
            "clusters.yaml": CLUSTERS,
            "apps/web.yaml": "apps:\n" + app("web") + "    prnue: true\n",
        },
    )
    (issue,) = errors(path)
    assert (issue.file, issue.line, issue.path) == ("apps/web.yaml", 5, ("apps", 0, "prnue"))


def test_duplicates_across_files_name_both_files(config_dir: Path) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN,
            "clusters.yaml": CLUSTERS,
            "apps/a.yaml": "apps:\n" + app("web"),
            "apps/b.yaml": "# team b\napps:\n" + app("web"),
        },
    )
    (issue,) = errors(path)
    assert issue.file == "apps/b.yaml"
    assert issue.message == (
        "duplicate app name 'web': defined in apps/a.yaml:2:11 and in apps/b.yaml:3:11"
    )


def test_a_cluster_defined_in_the_main_file_and_an_include_is_a_duplicate(
    config_dir: Path,
) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN,
            "clusters.yaml": CLUSTERS.replace("prod", "dev", 1),
            "apps/web.yaml": "apps:\n" + app("web"),
        },
    )
    messages = [i.message for i in errors(path)]
    assert messages == [
        "duplicate cluster name 'dev': defined in fleet.yaml:5:11 and in clusters.yaml:2:11"
    ]


@pytest.mark.parametrize("entry", ["../outside.yaml", "apps/../../outside.yaml"])
def test_an_include_cannot_leave_the_root(config_dir: Path, entry: str) -> None:
    root = config_dir / "config"
    (config_dir / "outside.yaml").write_text("apps:\n" + app("stolen"))
    path = write(root, {"fleet.yaml": f"include: ['{entry}']\n", "apps/x.yaml": ""})
    (issue,) = errors(path)
    assert "outside the config's root directory" in issue.message
    assert issue.path == ("include", 0)


def test_a_symlink_out_of_the_root_is_refused(config_dir: Path) -> None:
    root = config_dir / "config"
    (config_dir / "secret.yaml").write_text("apps:\n" + app("stolen"))
    path = write(root, {"fleet.yaml": "include: [apps/]\n"})
    (root / "apps").mkdir()
    (root / "apps" / "evil.yaml").symlink_to(config_dir / "secret.yaml")
    (root / "linked-dir").symlink_to(config_dir)
    (issue,) = errors(path)
    assert "apps/evil.yaml leads outside the config's root directory" in issue.message
    path.write_text("include: [linked-dir/secret.yaml]\n")
    (issue,) = errors(path)
    assert "outside the config's root directory" in issue.message


def test_a_symlink_inside_the_root_is_followed(config_dir: Path) -> None:
    path = write(config_dir, {"fleet.yaml": MAIN, "clusters.yaml": CLUSTERS})
    (config_dir / "shared").mkdir()
    (config_dir / "shared" / "web.yaml").write_text("apps:\n" + app("web"))
    (config_dir / "apps").mkdir()
    (config_dir / "apps" / "web.yaml").symlink_to(config_dir / "shared" / "web.yaml")
    assert [a.name for a in load_fleet_config(path).apps] == ["web"]


def test_the_root_can_be_wider_than_the_main_files_directory(config_dir: Path) -> None:
    """A config source's root is the checkout, even when the config is in a folder."""
    (config_dir / "common.yaml").write_text("apps:\n" + app("web"))
    path = write(
        config_dir / "config",
        {"fleet.yaml": MAIN.replace("  - apps/\n", "  - ../common.yaml\n")},
    )
    (config_dir / "config" / "clusters.yaml").write_text(CLUSTERS)
    (config_dir / "config" / "kubeconfigs").symlink_to(config_dir / "kubeconfigs")
    assert "outside" in errors(path)[0].message
    assert [a.name for a in load_fleet_config(path, root=config_dir).apps] == ["web"]


def test_cycles_are_an_error_naming_the_chain(config_dir: Path) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": "include: [a.yaml]\n",
            "a.yaml": "include: [b.yaml]\n",
            "b.yaml": "include: [a.yaml]\n",
        },
    )
    (issue,) = errors(path)
    assert issue.file == "b.yaml"
    assert issue.message == "include cycle: a.yaml -> b.yaml -> a.yaml"
    path.write_text("include: [fleet.yaml]\n")
    assert errors(path)[0].message == "include cycle: fleet.yaml -> fleet.yaml"


def test_a_file_included_twice_is_an_error(config_dir: Path) -> None:
    path = write(
        config_dir,
        {"fleet.yaml": "include: [apps/, apps/web.yaml]\n", "apps/web.yaml": "apps: []\n"},
    )
    (issue,) = errors(path)
    assert issue.message == "apps/web.yaml is included twice (first by fleet.yaml)"


def test_only_list_sections_may_be_included(config_dir: Path) -> None:
    path = write(
        config_dir,
        {"fleet.yaml": "include: [team.yaml]\n", "team.yaml": "rollout: {waves: []}\napps: []\n"},
    )
    (issue,) = errors(path)
    assert (issue.file, issue.line, issue.column) == ("team.yaml", 1, 1)
    assert "'rollout' is not allowed in an included file" in issue.message


@pytest.mark.parametrize(
    ("include", "message"),
    [
        ("[missing.yaml]", "include 'missing.yaml': no such file or directory"),
        ("[/etc/fleet/apps.yaml]", "write a path relative to this file"),
        ("apps.yaml", "expected a list of files or directories"),
        ("[3]", "expected a file or directory path"),
    ],
)
def test_bad_include_entries(config_dir: Path, include: str, message: str) -> None:
    path = write(config_dir, {"fleet.yaml": f"include: {include}\n"})
    (issue,) = errors(path)
    assert message in issue.message
    assert issue.file == "fleet.yaml"


def test_yaml_errors_in_an_included_file_name_it(config_dir: Path) -> None:
    path = write(config_dir, {"fleet.yaml": "include: [bad.yaml]\n", "bad.yaml": "apps: [\n"})
    (issue,) = errors(path)
    assert issue.file == "bad.yaml"
    assert "invalid YAML" in issue.message


def test_an_oversized_included_file_is_not_read(config_dir: Path) -> None:
    path = write(config_dir, {"fleet.yaml": "include: [big.yaml]\n"})
    (config_dir / "big.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    (issue,) = errors(path)
    assert "big.yaml is larger than" in issue.message


def test_without_include_nothing_changes(config_dir: Path) -> None:
    path = write(config_dir, {"fleet.yaml": MAIN.split("clusters:", 1)[1].join(["clusters:", ""])})
    config = load_fleet_config(path)
    assert [c.name for c in config.clusters] == ["dev"]


def test_an_invalid_included_config_raises_with_every_file_named(config_dir: Path) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN,
            "clusters.yaml": "clusters:\n  - name: Prod!\n",
            "apps/web.yaml": "apps:\n" + app("web", source="nope"),
        },
    )
    with pytest.raises(ConfigError) as caught:
        load_fleet_config(path)
    files = {issue.file for issue in caught.value.errors}
    assert files == {"clusters.yaml", "apps/web.yaml"}


def generator(name: str, source: str = "platform") -> str:
    return (
        f"  - name: {name}\n    list: [{{team: a}}]\n    template:\n"
        f"      name: '{name}-{{params.team}}'\n      source: {source}\n"
        "      path: 'teams/{params.team}'\n"
    )


def test_generators_may_live_in_included_files(config_dir: Path) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN + "generators:\n" + generator("main-gen"),
            "clusters.yaml": CLUSTERS,
            "apps/teams.yaml": "generators:\n" + generator("teams"),
        },
    )
    config = load_fleet_config(path)
    assert [g.name for g in config.generators] == ["main-gen", "teams"]


def test_generator_errors_and_duplicates_point_into_the_included_files(
    config_dir: Path,
) -> None:
    path = write(
        config_dir,
        {
            "fleet.yaml": MAIN,
            "clusters.yaml": CLUSTERS,
            "apps/a.yaml": "generators:\n" + generator("teams"),
            "apps/b.yaml": "# team b\ngenerators:\n"
            + generator("teams")
            + generator("other", source="platfrom"),
        },
    )
    duplicate, unknown = errors(path)
    assert duplicate.file == "apps/b.yaml"
    assert duplicate.message == (
        "duplicate generator name 'teams': defined in apps/a.yaml:2:11 and in apps/b.yaml:3:11"
    )
    assert (unknown.file, unknown.path[:3]) == ("apps/b.yaml", ("generators", 1, "template"))
    assert "no source named 'platfrom'" in unknown.message

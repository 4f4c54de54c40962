"""The fleet-wide ``health`` section: keys, directories, and what ``fleet validate`` says."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from fleet.cli import main
from fleet.config import check_fleet_config, load_fleet_config
from tests.config.conftest import WriteConfig

SOURCE = """\
sources:
  - {name: checks, url: "https://git.example.com/argocd-checks.git", tag: v2.13.0}
"""


def test_inline_scripts_and_directories_load(write_config: WriteConfig, config_dir: Path) -> None:
    (config_dir / "customizations").mkdir()
    config = load_fleet_config(
        write_config(
            SOURCE
            + dedent(
                """\
            health:
              lua:
                argoproj.io/Rollout: 'return {status = "Healthy"}'
                cert-manager.io_Certificate: 'return {status = "Healthy"}'
                "*.crossplane.io/*": 'return {status = "Healthy"}'
                Service: 'return {status = "Healthy"}'
              luaDirectories:
                - path: customizations
                - source: checks
                  path: resource_customizations
            """
            )
        )
    )
    # Argo CD's group_Kind spelling (from argocd-cm keys) is read as group/Kind.
    assert list(config.health.lua) == [
        "argoproj.io/Rollout",
        "cert-manager.io/Certificate",
        "*.crossplane.io/*",
        "Service",
    ]
    host, in_git = config.health.lua_directories
    assert host.path == str(config_dir / "customizations")  # from the config's directory
    assert host.source is None
    assert (in_git.source, in_git.path) == ("checks", "resource_customizations")


def test_no_health_section_means_no_checks(write_config: WriteConfig) -> None:
    config = load_fleet_config(write_config(SOURCE))
    assert config.health.lua == {}
    assert config.health.lua_directories == []


@pytest.mark.parametrize(
    ("section", "where", "message"),
    [
        ("lua: {'apps/Deploy ment': 'return {}'}", "health.lua", "write group/Kind"),
        ("lua: {'a/b/c': 'return {}'}", "health.lua", "write group/Kind"),
        ("lua: {'argoproj.io/Rollout': '   '}", "health.lua", "empty script"),
        (
            "lua: {'argoproj.io/Rollout': 'return 1', 'argoproj.io_Rollout': 'return 2'}",
            "health.lua",
            "given twice",
        ),
        ("luaDirectories: [{path: missing}]", "health.luaDirectories[0].path", "no directory"),
        (
            "luaDirectories: [{source: nosuch, path: x}]",
            "health.luaDirectories[0].source",
            "no source named 'nosuch'",
        ),
        (
            "luaDirectories: [{source: checks, path: ../outside}]",
            "health.luaDirectories[0]",
            "must stay inside the source",
        ),
        (
            "luaDirectories: [{source: checks, path: /etc}]",
            "health.luaDirectories[0]",
            "must stay inside the source",
        ),
        ("lua: [not, a, mapping]", "health.lua", ""),
        ("luaFiles: x", "health.luaFiles", ""),
    ],
)
def test_mistakes_are_refused_with_their_place(
    write_config: WriteConfig, section: str, where: str, message: str
) -> None:
    path = write_config(SOURCE + f"health:\n  {section}\n")
    _, issues = check_fleet_config(path)
    errors = [i for i in issues if i.severity == "error"]
    assert errors, issues
    assert any(where in str(i) and message in str(i) for i in errors), [str(i) for i in errors]


def test_a_missing_host_directory_is_a_warning_with_allow_missing_files(
    write_config: WriteConfig,
) -> None:
    path = write_config(SOURCE + "health:\n  luaDirectories: [{path: missing}]\n")
    _, issues = check_fleet_config(path, missing_files="warning")
    assert [i.severity for i in issues if "no directory" in i.message] == ["warning"]


def test_validate_names_the_file_and_field_of_a_lua_syntax_error(
    write_config: WriteConfig, config_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = config_dir / "tree" / "cert-manager.io" / "Certificate" / "health.lua"
    script.parent.mkdir(parents=True)
    script.write_text('local hs = {}\nhs.status = "Healthy"\nreturn hs end\n')
    path = write_config(
        SOURCE
        + dedent(
            """\
        health:
          lua:
            argoproj.io/Rollout: |
              if obj.status == nil then
                return {status = "Progressing"
              end
          luaDirectories:
            - path: tree
        """
        )
    )
    assert main(["validate", "--config", str(path)]) == 1
    out = capsys.readouterr().out
    assert (
        'fleet.yaml:5:26: health.lua["argoproj.io/Rollout"]: Lua syntax error: '
        "fleet.yaml health.lua[argoproj.io/Rollout]:3: '}' expected (to close '{' at line 2) "
        "near 'end'"
    ) in out
    assert f"health.luaDirectories[0].path: {script}:3: '<eof>' expected near 'end'" in out
    script.write_text('return {status = "Healthy"}\n')
    (config_dir / path).write_text(
        (config_dir / path).read_text().replace('"Progressing"', '"Progressing"}')
    )
    assert main(["validate", "--config", str(path)]) == 0

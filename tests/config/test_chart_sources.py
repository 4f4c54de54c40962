"""Chart sources and tag ranges in the fleet config: what is accepted, what is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleet.config import ConfigError, load_fleet_config
from fleet.runtime.charts import chart_spec
from fleet.runtime.desired import DesiredStateBuilder
from tests.config.conftest import WriteConfig

CONFIG = """\
clusters: []
sources:
  - name: charts
{source}
apps:
  - name: demo
    source: charts
    path: .
"""


def load(write_config: WriteConfig, source: str, files: bool = False):  # type: ignore[no-untyped-def]
    indented = "\n".join("    " + line for line in source.strip().splitlines())
    return load_fleet_config(write_config(CONFIG.format(source=indented)), files=files)


def errors(write_config: WriteConfig, source: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load(write_config, source)
    return [str(issue) for issue in raised.value.errors]


def test_a_chart_source_maps_onto_the_adapter_spec(
    write_config: WriteConfig, config_dir: Path
) -> None:
    config = load(
        write_config,
        """
chart:
  repository: oci://registry.example.com/charts
  name: podinfo
  version: ">=6.0.0 <7.0.0"
  caFile: ca.crt
auth: {usernameFile: token, passwordFile: token}
""",
        files=True,
    )
    source = config.source("charts")
    assert source.is_chart
    assert source.location == "oci://registry.example.com/charts"
    spec = chart_spec(source, DesiredStateBuilder(config, config_dir / "state"))
    assert (spec.repository, spec.chart, spec.version, spec.is_oci) == (
        "oci://registry.example.com/charts",
        "podinfo",
        ">=6.0.0 <7.0.0",
        True,
    )
    assert spec.auth.ca_file == config_dir / "ca.crt"
    assert spec.auth.username_file == config_dir / "token"
    assert spec.limits.max_archive_bytes == 16 << 20  # settings render.maxFileSize


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (
            "url: https://git.example.com/x.git\nbranch: main\n"
            "chart: {repository: https://c.example.com, name: x}",
            "sources[0].url: a chart source takes no url, branch",
        ),
        (
            "chart: {repository: https://c.example.com, name: x, version: '>=abc'}",
            "sources[0].chart.version: invalid version range: 'abc'",
        ),
        (
            "chart: {repository: ftp://c.example.com, name: x}",
            "sources[0].chart.repository: chart repository",
        ),
        (
            "chart: {repository: https://user:pw@c.example.com, name: x}",
            "sources[0].chart.repository",
        ),
        (
            "chart: {repository: https://c.example.com, name: x, plainHttp: true}",
            "plainHttp is for oci:// registries",
        ),
        (
            "chart: {repository: http://c.example.com, name: x}\nauth: {tokenFile: token}",
            "would send its credentials over plain HTTP",
        ),
        (
            "chart: {repository: oci://r.example.com, name: x, plainHttp: true}\n"
            "auth: {tokenFile: token}",
            "would send its credentials over plain HTTP",
        ),
        ("chart: {repository: https://c.example.com, name: Bad/Name}", "invalid chart name"),
        ("tag: v1", "say where the source is: url (Git) or chart (Helm)"),
    ],
)
def test_bad_chart_sources_are_refused_naming_the_field(
    write_config: WriteConfig, source: str, needle: str
) -> None:
    found = errors(write_config, source)
    assert any(needle in line for line in found), found
    assert not any("pw@" in line for line in found)


def test_credentials_over_http_are_allowed_when_asked(write_config: WriteConfig) -> None:
    config = load(
        write_config,
        "chart: {repository: http://c.example.com, name: x}\n"
        "auth: {tokenFile: token, allowInsecureHttp: true}",
    )
    assert config.source("charts").is_chart


def test_a_missing_ca_file_is_reported(write_config: WriteConfig) -> None:
    with pytest.raises(ConfigError) as raised:
        load(
            write_config,
            "chart: {repository: https://c.example.com, name: x, caFile: nowhere.pem}",
            files=True,
        )
    assert any("sources[0].chart.caFile" in str(issue) for issue in raised.value.errors)


GIT = "url: https://git.example.com/x.git\n"


def test_a_git_tag_may_be_a_range(write_config: WriteConfig) -> None:
    source = load(write_config, GIT + "tag: '>=1.4.0 <2.0.0'").source("charts")
    assert source.tag_range == ">=1.4.0 <2.0.0"
    assert load(write_config, GIT + "tag: v1.4.0").source("charts").tag_range is None


@pytest.mark.parametrize(
    ("source", "needle"),
    [
        (GIT + "tag: '>=1.x.y'", "sources[0].tag: invalid tag range"),
        (GIT + "branch: '^1.2'", "a version range is for tag, not branch"),
    ],
)
def test_bad_tag_ranges_are_refused(write_config: WriteConfig, source: str, needle: str) -> None:
    found = errors(write_config, source)
    assert any(needle in line for line in found), found


VALUES_FROM = """\
clusters: []
sources:
  - {{name: platform, url: "https://git.example.com/x.git", branch: main}}
  - {{name: charts, chart: {{repository: "https://c.example.com", name: demo}}}}
apps:
  - name: demo
    source: charts
    path: .
    helm:
      valuesFrom:
        - {{source: {source}, path: "{path}"}}
"""


def test_values_from_names_a_git_source_and_a_templated_path(write_config: WriteConfig) -> None:
    config = load_fleet_config(
        write_config(VALUES_FROM.format(source="platform", path="values/{cluster.name}.yaml")),
        files=False,
    )
    app = config.app("demo")
    assert app.values_sources() == ["platform"]
    from fleet.config import Cluster

    cluster = Cluster.model_validate(
        {"name": "eu-1", "server": "https://127.0.0.1:6443", "tokenFile": "token"}
    )
    assert app.helm_for(cluster).values_from == [("platform", "values/eu-1.yaml")]


@pytest.mark.parametrize(
    ("source", "path", "needle"),
    [
        ("platfrom", "v.yaml", "apps[0].helm.valuesFrom[0].source: no source named 'platfrom'"),
        ("charts", "v.yaml", "'charts' is a chart source; values come from Git"),
        ("platform", "../v.yaml", "apps[0].helm.valuesFrom[0].path"),
    ],
)
def test_bad_values_from_is_refused_naming_the_entry(
    write_config: WriteConfig, source: str, path: str, needle: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load_fleet_config(write_config(VALUES_FROM.format(source=source, path=path)), files=False)
    found = [str(issue) for issue in raised.value.errors]
    assert any(needle in line for line in found), found


def test_an_app_of_a_chart_source_renders_the_whole_chart(write_config: WriteConfig) -> None:
    text = CONFIG.format(source="    chart: {repository: 'https://c.example.com', name: x}")
    with pytest.raises(ConfigError) as raised:
        load_fleet_config(write_config(text.replace("path: .", "path: charts/x")), files=False)
    found = [str(issue) for issue in raised.value.errors]
    assert any("apps[0].path: an app of a chart source renders the chart" in f for f in found)

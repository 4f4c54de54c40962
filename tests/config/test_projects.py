"""Projects in the fleet config: each mistake reported with file:line:col, and the engine
bounds and adoption setting each app's syncs get from its project."""

from __future__ import annotations

import pytest

from fleet.config import check_fleet_config, load_fleet_config, sync_options
from fleet.model.refs import ObjectRef
from tests.config.conftest import WriteConfig

# Lines 1-17: two clusters, two sources. Projects start at line 18, apps after them.
BASE = """\
clusters:
  - name: prod-eu-1
    server: https://127.0.0.1:6443
    tokenFile: token
    labels: {env: prod, team: web}
  - name: dev-1
    server: https://127.0.0.1:6444
    tokenFile: token
    labels: {env: dev, team: web}
sources:
  - name: platform
    url: file:///srv/git/platform.git
    branch: main
  - name: sandbox
    url: file:///srv/git/sandbox.git
    branch: main
projects:
"""

WEB_PROJECT = """\
  - name: web
    sources: [platform]
    clusters: {matchLabels: {team: web}}
    namespaces: [web, "web-*"]
    kinds: {deny: [rbac.authorization.k8s.io/*]}
    clusterKinds: [/Namespace]
"""

CASES: list[tuple[str, str, list[str]]] = [
    (
        "an unknown project, with the near miss",
        BASE
        + WEB_PROJECT
        + """\
apps:
  - name: shop
    source: platform
    path: apps/shop
    project: wbe
""",
        ["fleet.yaml:28:14: apps[0].project: no project named 'wbe' (did you mean 'web'?)"],
    ),
    (
        "a source the project does not allow",
        BASE
        + WEB_PROJECT
        + """\
apps:
  - name: shop
    source: sandbox
    path: apps/shop
    project: web
""",
        [
            "fleet.yaml:26:13: apps[0].source: source 'sandbox' is not allowed by project "
            "'web' (sources: platform)"
        ],
    ),
    (
        "targets outside the project's clusters",
        BASE
        + WEB_PROJECT.replace("{team: web}", "{env: dev}")
        + """\
apps:
  - name: shop
    source: platform
    path: apps/shop
    project: web
""",
        [
            "fleet.yaml:25:5: apps[0].clusters: cluster 'prod-eu-1' targeted by this app is "
            "outside project 'web' (clusters: env=dev)"
        ],
    ),
    (
        "a namespace outside the project's globs",
        BASE
        + WEB_PROJECT
        + """\
apps:
  - name: shop
    source: platform
    path: apps/shop
    namespace: shop
    project: web
""",
        [
            "fleet.yaml:28:16: apps[0].namespace: namespace 'shop' is outside the namespaces of "
            "project 'web' (web, web-*)"
        ],
    ),
    (
        "unknown names in a project, a duplicate project, a bad kind pattern",
        BASE
        + WEB_PROJECT
        + """\
  - name: web
    sources: [platfrom, "team-*"]
    clusters: {names: [prod-eu-2]}
    namespaces: ["*"]
    clusterKinds: [a/b/c]
apps: []
""",
        [
            "fleet.yaml:24:11: projects[1].name: duplicate name 'web' (also projects[0])",
            "fleet.yaml:25:15: projects[1].sources[0]: no source named 'platfrom' "
            "(did you mean 'platform'?)",
            "fleet.yaml:26:24: projects[1].clusters.names[0]: no cluster named 'prod-eu-2' "
            "(did you mean 'prod-eu-1'?)",
            "fleet.yaml:28:20: projects[1].clusterKinds[0]: invalid kind pattern 'a/b/c': write "
            "GROUP/KIND with one '/', '/KIND' for the core group, or KIND alone",
        ],
    ),
    (
        "a project without namespaces",
        BASE
        + """\
  - name: web
    sources: [platform]
apps: []
""",
        ["fleet.yaml:18:5: projects[0]: missing required key 'namespaces'"],
    ),
]


@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_reports(write_config: WriteConfig, name: str, text: str, expected: list[str]) -> None:
    _, issues = check_fleet_config(write_config(text))
    assert [str(issue) for issue in issues] == expected


UNBOUNDED = (
    BASE
    + WEB_PROJECT
    + """\
apps:
  - name: shop
    source: platform
    path: apps/shop
    project: web
  - name: loose
    source: sandbox
    path: apps/loose
"""
)


def test_an_app_with_no_project_is_a_warning_for_validate_only(write_config: WriteConfig) -> None:
    path = write_config(UNBOUNDED)
    _, issues = check_fleet_config(path, warn_unbounded=True)
    assert [str(issue) for issue in issues] == [
        "fleet.yaml:29:11: warning: apps[1].name: app 'loose' belongs to no project: it may "
        "write any object into any namespace of its clusters (give it a project; see "
        "docs/config.md, Projects)"
    ]
    config = load_fleet_config(path)  # the daemon loads it as before
    assert config.warnings == []
    assert sync_options(config.app("loose"), config.project_of(config.app("loose"))).bounds is None


def test_an_app_gets_its_projects_bounds_and_adoption_setting(write_config: WriteConfig) -> None:
    text = UNBOUNDED.replace(
        "    project: web\n", "    project: web\n    syncPolicy: {adopt: true}\n"
    )
    config = load_fleet_config(write_config(text))
    shop = config.app("shop")
    options = sync_options(shop, config.project_of(shop))
    assert options.adopt is True
    assert sync_options(config.app("loose")).adopt is False
    bounds = options.bounds
    assert bounds is not None
    assert bounds.name == "web"
    assert bounds.refusal(ObjectRef("apps", "Deployment", "web-api", "api")) is None
    assert bounds.refusal(ObjectRef("", "Namespace", "", "web")) is None
    assert "kinds.deny rbac.authorization.k8s.io/*" in str(
        bounds.refusal(ObjectRef("rbac.authorization.k8s.io", "RoleBinding", "web", "admin"))
    )
    assert "outside the namespaces" in str(
        bounds.refusal(ObjectRef("", "Secret", "kube-system", "x"))
    )


def test_impersonation_is_refused_not_ignored(write_config: WriteConfig) -> None:
    """fleet does not apply as a service account: the key is an error, not a silent no-op."""
    text = (
        BASE
        + WEB_PROJECT
        + (
            "apps:\n  - name: shop\n    source: platform\n    path: apps/shop\n"
            "    impersonate: {serviceAccount: deployer}\n"
        )
    )
    _, issues = check_fleet_config(write_config(text))
    assert [str(issue).split(" (allowed here")[0] for issue in issues] == [
        "fleet.yaml:28:5: apps[0].impersonate: unknown key 'impersonate'"
    ]

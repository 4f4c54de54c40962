"""``fleet import argocd`` carries argocd-cm's Lua health checks into ``health.lua``.

The ConfigMap is written after Argo CD's documented forms: one key per kind
(``resource.customizations.health.<group>_<kind>``, wildcards included) and the older
``resource.customizations`` block. The output passes ``fleet validate`` and its scripts
decide ``fleet health`` on objects of their kinds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fleet.cli import main

ARGOCD_CM = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  namespace: argocd
  labels: {app.kubernetes.io/part-of: argocd}
data:
  url: https://argocd.example.com
  resource.customizations.health.argoproj.io_Rollout: |
    hs = {}
    if obj.status ~= nil and obj.status.phase == "Paused" then
      hs.status = "Suspended"
      hs.message = "rollout is paused"
      return hs
    end
    hs.status = "Progressing"
    hs.message = "waiting for the rollout"
    return hs
  resource.customizations.health.ec2.aws.crossplane.io_*: |
    return {status = "Healthy", message = "crossplane " .. obj.kind}
  resource.customizations.useOpenLibs.argoproj.io_Rollout: "true"
  resource.customizations.ignoreDifferences.apps_Deployment: |
    jsonPointers: [/spec/replicas]
  resource.customizations: |
    cert-manager.io/Certificate:
      health.lua: |
        if obj.status ~= nil and obj.status.conditions ~= nil then
          for _, c in ipairs(obj.status.conditions) do
            if c.type == "Ready" and c.status == "True" then
              return {status = "Healthy", message = c.message}
            end
          end
        end
        return {status = "Progressing", message = "certificate not ready"}
      actions: |
        discovery.lua: return {}
"""

GUESTBOOK = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: guestbook, namespace: argocd}
spec:
  project: default
  source:
    repoURL: https://github.com/argoproj/argocd-example-apps.git
    targetRevision: HEAD
    path: guestbook
  destination: {server: https://kubernetes.default.svc, namespace: guestbook}
"""


def fleet(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_argocd_cm_health_checks_become_health_lua(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "argocd-cm.yaml").write_text(ARGOCD_CM)
    (tmp_path / "guestbook.yaml").write_text(GUESTBOOK)
    out = tmp_path / "fleet.yaml"
    code, printed, err = fleet(
        capsys, "import", "argocd", str(tmp_path / "argocd-cm.yaml"),
        str(tmp_path / "guestbook.yaml"), "--out", str(out),
        "--credentials-dir", str(tmp_path / "creds"),
    )  # fmt: skip
    assert code == 0, err
    assert "health checks: 3" in printed + err
    written = out.read_text()
    config = yaml.safe_load(written)
    lua = config["health"]["lua"]
    assert sorted(lua) == [
        "argoproj.io/Rollout",
        "cert-manager.io/Certificate",
        "ec2.aws.crossplane.io/*",
    ]
    assert (
        lua["argoproj.io/Rollout"]
        == yaml.safe_load(ARGOCD_CM)["data"]["resource.customizations.health.argoproj.io_Rollout"]
    )
    # Scripts are written as blocks, and what was left says so.
    assert "argoproj.io/Rollout: |" in written
    assert "useOpenLibs" in written
    assert "ignoreDifferences.apps_Deployment" in written
    assert "actions" in written
    assert "url" in written  # a setting that is not a health check, named as left out

    # The in-cluster Application's service-account files are not on this host.
    code, printed, err = fleet(capsys, "validate", "--config", str(out), "--allow-missing-files")
    assert code == 0, printed + err

    objects = tmp_path / "objects.yaml"
    objects.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "argoproj.io/v1alpha1",
                    "kind": "Rollout",
                    "metadata": {"name": "web", "namespace": "shop"},
                    "status": {"phase": "Paused"},
                },
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "Certificate",
                    "metadata": {"name": "tls", "namespace": "shop"},
                    "status": {
                        "conditions": [{"type": "Ready", "status": "True", "message": "ok"}]
                    },
                },
                {
                    "apiVersion": "ec2.aws.crossplane.io/v1beta1",
                    "kind": "VPC",
                    "metadata": {"name": "main"},
                },
            ]
        )
    )
    code, printed, err = fleet(capsys, "health", str(objects), "--config", str(out), "--json")
    assert code == 0, err
    verdicts = [(v["status"], v["message"]) for v in json.loads(printed)]
    assert verdicts == [
        ("Suspended", "rollout is paused"),
        ("Healthy", "ok"),
        ("Healthy", "crossplane VPC"),
    ]


def test_a_script_that_does_not_compile_is_carried_and_then_named_by_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = ARGOCD_CM.replace(
        '      hs.status = "Suspended"\n', '      hs.status = "Suspended"\n    end end\n'
    )
    (tmp_path / "argocd-cm.yaml").write_text(broken)
    out = tmp_path / "fleet.yaml"
    code, _, err = fleet(
        capsys, "import", "argocd", str(tmp_path / "argocd-cm.yaml"), "--out", str(out)
    )
    assert code == 0, err
    code, printed, err = fleet(capsys, "validate", "--config", str(out), "--allow-missing-files")
    assert code != 0
    assert "Lua syntax error" in printed + err
    assert "argoproj.io/Rollout" in printed + err

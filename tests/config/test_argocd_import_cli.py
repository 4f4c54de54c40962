"""``fleet import argocd`` as a command: hostile files, outputs it must not clobber."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from fleet.cli import main
from fleet.cli.import_argocd import MAX_FILE_BYTES

APP = """\
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata: {name: web}
spec:
  source: {repoURL: https://example.com/r.git, targetRevision: main, path: web}
  destination: {server: https://kubernetes.default.svc, namespace: web}
"""
#: Nine levels of ten aliases each: 10^9 strings if expanded.
BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)
)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(["import", "argocd", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


HOSTILE: list[tuple[str, bytes, str]] = [
    ("a file over the size limit", b"#" * (MAX_FILE_BYTES + 1), "larger than 4 MiB, not read"),
    ("a YAML alias bomb", BOMB.encode(), "alias"),
    ("not UTF-8", b"kind: \xff\xfe\n", "not UTF-8 text"),
    ("broken YAML", b"kind: [unclosed\n", "invalid YAML"),
    ("a document that is a list", b"- a\n- b\n", ":1: a document is not a mapping"),
    (
        "Helm values text with an alias bomb",
        (
            APP.replace("path: web}", "path: web, helm: {values: VALUES}}").replace(
                "VALUES", yaml.safe_dump(BOMB, default_style='"').strip()
            )
        ).encode(),
        "alias",
    ),
]


@pytest.mark.parametrize(
    ("content", "message"), [(c, m) for _, c, m in HOSTILE], ids=[r[0] for r in HOSTILE]
)
def test_hostile_input_is_refused_naming_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    out = tmp_path / "fleet.yaml"
    code, stdout, err = run(capsys, str(bad), "--out", str(out))
    assert code == 1
    assert f"fleet import argocd: {bad}" in err or "Application web" in err, err
    assert message in err, err
    assert not out.exists()
    assert not stdout


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.yaml"))
    assert code == 1
    assert f"{tmp_path / 'nope.yaml'}: cannot read" in err


def test_folders_and_lists_are_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in" / "deep").mkdir(parents=True)
    (tmp_path / "in" / "deep" / "web.yaml").write_text(APP)
    items = yaml.safe_load(APP.replace("name: web", "name: api").replace("path: web", "path: api"))
    (tmp_path / "in" / "list.yml").write_text(yaml.safe_dump({"kind": "List", "items": [items]}))
    (tmp_path / "in" / "notes.txt").write_text("not read")
    code, out, err = run(capsys, str(tmp_path / "in"))
    assert code == 0, err
    assert [a["name"] for a in yaml.safe_load(out)["apps"]] == ["web", "api"]


def test_an_existing_output_is_kept_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "app.yaml"
    source.write_text(APP)
    out = tmp_path / "fleet.yaml"
    out.write_text("mine\n")
    code, _, err = run(capsys, str(source), "--out", str(out))
    assert code == 1
    assert "exists (give --force" in err
    assert out.read_text() == "mine\n"
    code, _, err = run(capsys, str(source), "--out", str(out), "--force")
    assert code == 0, err
    assert yaml.safe_load(out.read_text())["apps"][0]["name"] == "web"


SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: c
  labels: {argocd.argoproj.io/secret-type: cluster}
stringData:
  name: c
  server: https://c.example.com
  config: '{"bearerToken": "tok-Zq9"}'
"""


def test_credential_files_are_not_overwritten_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "secret.yaml"
    source.write_text(SECRET)
    creds = tmp_path / "creds"
    creds.mkdir(mode=0o755)
    (creds / "c.token").write_text("old")
    code, _, err = run(capsys, str(source), "--credentials-dir", str(creds))
    assert code == 1
    assert "c.token exists" in err
    assert (creds / "c.token").read_text() == "old"
    code, out, err = run(capsys, str(source), "--credentials-dir", str(creds), "--force")
    assert code == 0, err
    assert (creds / "c.token").read_text() == "tok-Zq9"
    assert stat.S_IMODE((creds / "c.token").stat().st_mode) == 0o600
    assert stat.S_IMODE(creds.stat().st_mode) == 0o700
    assert yaml.safe_load(out)["clusters"][0]["tokenFile"] == f"{creds}/c.token"
    assert "tok-Zq9" not in out


def test_the_command_is_registered(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["import", "--help"])
    assert "argocd" in capsys.readouterr().out

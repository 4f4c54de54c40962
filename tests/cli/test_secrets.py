"""``fleet secrets``: encrypt/decrypt/edit/rotate/updatekeys with real age keys, .sops.yaml
creation rules, SOPS_AGE_KEY_FILE, and an $EDITOR script that checks its temp file."""

from __future__ import annotations

import json
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

import pyrage
import pytest
import yaml

from fleet.cli import main

SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n"


@dataclass(frozen=True)
class Key:
    identity: str
    recipient: str
    file: Path


@pytest.fixture(autouse=True)
def no_sops_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SOPS_AGE_KEY_FILE", "SOPS_AGE_KEY", "SOPS_AGE_RECIPIENTS", "EDITOR", "VISUAL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "runtime"))
    (tmp_path / "runtime").mkdir(mode=0o700)
    monkeypatch.chdir(tmp_path)


def make_key(directory: Path, name: str) -> Key:
    identity = pyrage.x25519.Identity.generate()
    path = directory / f"{name}.txt"
    path.write_text(f"{identity}\n")
    return Key(str(identity), str(identity.to_public()), path)


def fleet(capsysbinary: pytest.CaptureFixture[bytes], *argv: str) -> tuple[int, bytes, str]:
    code = main(["secrets", *argv])
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def test_encrypt_then_decrypt_to_stdout(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    key = make_key(tmp_path, "dev")
    (tmp_path / "db.yaml").write_text(SECRET)
    code, encrypted, err = fleet(
        capsysbinary,
        "encrypt",
        "db.yaml",
        "--age",
        key.recipient,
        "--encrypted-regex",
        "^(data|stringData)$",
    )
    assert code == 0, err
    assert b"hunter2" not in encrypted
    assert b"name: db" in encrypted
    (tmp_path / "db.enc.yaml").write_bytes(encrypted)
    assert (tmp_path / "db.yaml").read_text() == SECRET  # not touched without -i

    code, plain, err = fleet(
        capsysbinary, "decrypt", "db.enc.yaml", "--age-key-file", str(key.file)
    )
    assert code == 0, err
    assert yaml.safe_load(plain) == yaml.safe_load(SECRET)


def test_identities_from_sops_age_key_file_and_errors_on_stderr(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    prod, dev = make_key(tmp_path, "prod"), make_key(tmp_path, "dev")
    (tmp_path / "db.yaml").write_text(SECRET)
    assert fleet(capsysbinary, "encrypt", "-i", "db.yaml", "--age", prod.recipient)[0] == 0

    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(dev.file))
    code, out, err = fleet(capsysbinary, "decrypt", "db.yaml")
    assert code == 1
    assert out == b""
    assert err.startswith("fleet secrets: db.yaml: no key for any recipient")
    assert prod.recipient in err

    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(prod.file))
    code, out, _ = fleet(capsysbinary, "decrypt", "db.yaml")
    assert code == 0
    assert b"hunter2" in out

    monkeypatch.delenv("SOPS_AGE_KEY_FILE")
    code, _, err = fleet(capsysbinary, "decrypt", "db.yaml")
    assert code == 1
    assert "no age identity was given" in err
    code, _, err = fleet(capsysbinary, "decrypt", "db.yaml", "--age-key-file", "nope.txt")
    assert code == 1
    assert err.startswith("fleet secrets: nope.txt: cannot read age key file")


def test_creation_rules_pick_the_environment_key_by_path(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    prod, dev = make_key(tmp_path, "prod"), make_key(tmp_path, "dev")
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n"
        "  - path_regex: clusters/prod/.*\\.yaml$\n"
        "    encrypted_regex: ^(data|stringData)$\n"
        f"    age: {prod.recipient}\n"
        "  - path_regex: clusters/dev/\n"
        f"    age: [{dev.recipient}]\n"
    )
    for env in ("prod", "dev"):
        (tmp_path / "clusters" / env).mkdir(parents=True)
        (tmp_path / "clusters" / env / "db.yaml").write_text(SECRET)
    os.chdir(tmp_path / "clusters")  # the rule is found from the file's directory upwards
    assert fleet(capsysbinary, "encrypt", "-i", "prod/db.yaml")[0] == 0
    assert fleet(capsysbinary, "encrypt", "-i", "dev/db.yaml")[0] == 0

    prod_doc = yaml.safe_load((tmp_path / "clusters/prod/db.yaml").read_text())
    dev_doc = yaml.safe_load((tmp_path / "clusters/dev/db.yaml").read_text())
    assert [a["recipient"] for a in prod_doc["sops"]["age"]] == [prod.recipient]
    assert prod_doc["sops"]["encrypted_regex"] == "^(data|stringData)$"
    assert prod_doc["kind"] == "Secret"
    assert [a["recipient"] for a in dev_doc["sops"]["age"]] == [dev.recipient]
    assert dev_doc["kind"].startswith("ENC[")  # the dev rule encrypts everything

    code, _, err = fleet(capsysbinary, "decrypt", "prod/db.yaml", "--age-key-file", str(dev.file))
    assert code == 1
    assert prod.recipient in err

    (tmp_path / "clusters" / "other.yaml").write_text(SECRET)
    code, _, err = fleet(capsysbinary, "encrypt", "other.yaml")
    assert code == 1
    assert "no creation rule matches clusters/other.yaml" in err


def test_dotenv_and_json_by_extension(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    key = make_key(tmp_path, "k")
    (tmp_path / "app.env").write_text("# db\nPASSWORD=pw\n")
    (tmp_path / "app.json").write_text('{"password": "pw", "port": 5432}')
    for name in ("app.env", "app.json"):
        original = (tmp_path / name).read_bytes()
        assert fleet(capsysbinary, "encrypt", "-i", name, "--age", key.recipient)[0] == 0
        encrypted = (tmp_path / name).read_bytes()
        assert b"=pw" not in encrypted
        assert b'"pw"' not in encrypted
        assert b"# db" not in encrypted
        code, plain, _ = fleet(capsysbinary, "decrypt", name, "--age-key-file", str(key.file))
        assert code == 0
        if name.endswith(".env"):
            assert plain == original
        else:
            assert json.loads(plain) == json.loads(original)


EDITOR_SCRIPT = """\
import os, stat, sys
path = sys.argv[1]
mode = stat.S_IMODE(os.stat(path).st_mode)
with open(os.environ["EDIT_LOG"], "w") as log:
    log.write(f"{path}\\n{mode:o}\\n")
text = open(path).read()
open(path, "w").write(text.replace("hunter2", os.environ.get("NEW_VALUE", "hunter2")))
sys.exit(int(os.environ.get("EDITOR_EXIT", "0")))
"""


def test_edit_uses_a_private_temp_file_and_removes_it(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(tmp_path, "k")
    (tmp_path / "db.yaml").write_text(SECRET)
    assert fleet(capsysbinary, "encrypt", "-i", "db.yaml", "--age", key.recipient)[0] == 0
    script = tmp_path / "editor.py"
    script.write_text(EDITOR_SCRIPT)
    log = tmp_path / "edit.log"
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.setenv("EDIT_LOG", str(log))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key.file))
    before = yaml.safe_load((tmp_path / "db.yaml").read_text())

    monkeypatch.setenv("NEW_VALUE", "correct-horse")
    code, _, err = fleet(capsysbinary, "edit", "db.yaml")
    assert code == 0, err
    temp_path, mode = log.read_text().splitlines()
    assert Path(temp_path).parent == tmp_path / "runtime"
    assert temp_path.endswith(".yaml")
    assert mode == "600"
    assert not Path(temp_path).exists()
    assert list((tmp_path / "runtime").iterdir()) == []
    after = yaml.safe_load((tmp_path / "db.yaml").read_text())
    assert after["sops"]["age"] == before["sops"]["age"]  # same data key, same recipients
    code, plain, _ = fleet(capsysbinary, "decrypt", "db.yaml")
    assert yaml.safe_load(plain)["stringData"]["password"] == "correct-horse"

    unchanged = (tmp_path / "db.yaml").read_bytes()
    monkeypatch.setenv("NEW_VALUE", "ignored")
    monkeypatch.setenv("EDITOR_EXIT", "3")
    code, _, err = fleet(capsysbinary, "edit", "db.yaml")
    assert code == 1
    assert "the editor exited with 3" in err
    assert (tmp_path / "db.yaml").read_bytes() == unchanged
    assert list((tmp_path / "runtime").iterdir()) == []

    monkeypatch.setenv("EDITOR_EXIT", "0")
    monkeypatch.delenv("NEW_VALUE")
    code, _, err = fleet(capsysbinary, "edit", "db.yaml")
    assert code == 0
    assert "unchanged" in err
    assert (tmp_path / "db.yaml").read_bytes() == unchanged


def test_rotate_and_updatekeys_in_place(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    old, new = make_key(tmp_path, "old"), make_key(tmp_path, "new")
    (tmp_path / "db.yaml").write_text(SECRET)
    (tmp_path / "db.yaml").chmod(0o640)
    assert fleet(capsysbinary, "encrypt", "-i", "db.yaml", "--age", old.recipient)[0] == 0
    before = (tmp_path / "db.yaml").read_text()

    code, _, err = fleet(capsysbinary, "rotate", "db.yaml", "--age-key-file", str(old.file))
    assert code == 0, err
    rotated = (tmp_path / "db.yaml").read_text()
    assert rotated != before
    assert stat.S_IMODE((tmp_path / "db.yaml").stat().st_mode) == 0o640

    code, _, err = fleet(
        capsysbinary,
        "updatekeys",
        "db.yaml",
        "--age",
        f"{new.recipient},{old.recipient}",
        "--age-key-file",
        str(old.file),
    )
    assert code == 0, err
    doc = yaml.safe_load((tmp_path / "db.yaml").read_text())
    assert [a["recipient"] for a in doc["sops"]["age"]] == [new.recipient, old.recipient]
    assert doc["stringData"] == yaml.safe_load(rotated)["stringData"]
    code, plain, _ = fleet(capsysbinary, "decrypt", "db.yaml", "--age-key-file", str(new.file))
    assert code == 0
    assert yaml.safe_load(plain) == yaml.safe_load(SECRET)


def test_encrypt_without_any_recipient_says_how_to_give_one(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    (tmp_path / "db.yaml").write_text(SECRET)
    code, out, err = fleet(capsysbinary, "encrypt", "db.yaml")
    assert code == 1
    assert out == b""
    assert "no age recipient: pass --age" in err
    code, _, err = fleet(capsysbinary, "encrypt", "db.yaml", "--age", "age1nonsense")
    assert code == 1
    assert "'age1nonsense' is not an age recipient" in err


def test_updatekeys_takes_recipients_from_the_creation_rule(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    old, new = make_key(tmp_path, "old"), make_key(tmp_path, "new")
    (tmp_path / "db.yaml").write_text(SECRET)
    assert fleet(capsysbinary, "encrypt", "-i", "db.yaml", "--age", old.recipient)[0] == 0
    (tmp_path / ".sops.yaml").write_text(f"creation_rules:\n  - age: {new.recipient}\n")
    code, _, err = fleet(capsysbinary, "updatekeys", "db.yaml", "--age-key-file", str(old.file))
    assert code == 0, err
    code, plain, _ = fleet(capsysbinary, "decrypt", "db.yaml", "--age-key-file", str(new.file))
    assert code == 0
    assert yaml.safe_load(plain) == yaml.safe_load(SECRET)


def test_input_type_overrides_the_extension_and_ini_is_refused(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    key = make_key(tmp_path, "k")
    (tmp_path / "conf.ini").write_text("[db]\npassword = pw\n")
    code, _, err = fleet(capsysbinary, "encrypt", "conf.ini", "--age", key.recipient)
    assert code == 1
    assert "conf.ini: INI files are not supported; use --input-type binary" in err
    code, encrypted, err = fleet(
        capsysbinary, "encrypt", "conf.ini", "--age", key.recipient, "--input-type", "binary"
    )
    assert code == 0, err
    (tmp_path / "conf.ini.enc").write_bytes(encrypted)
    code, plain, _ = fleet(
        capsysbinary,
        "decrypt",
        "conf.ini.enc",
        "--input-type",
        "binary",
        "--age-key-file",
        str(key.file),
    )
    assert code == 0
    assert plain == b"[db]\npassword = pw\n"


WRITER_SCRIPT = """\
import os, sys
open(sys.argv[1], "w").write(os.environ["NEW_TEXT"])
"""


def test_edit_creates_a_new_file_and_refuses_text_that_does_not_parse(
    tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    key = make_key(tmp_path, "k")
    script = tmp_path / "writer.py"
    script.write_text(WRITER_SCRIPT)
    monkeypatch.setenv("EDITOR", f"{sys.executable} {script}")
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key.file))

    monkeypatch.setenv("NEW_TEXT", "token: abc\n")
    code, _, err = fleet(capsysbinary, "edit", "new.yaml", "--age", key.recipient)
    assert code == 0, err
    assert b"abc" not in (tmp_path / "new.yaml").read_bytes()
    code, plain, _ = fleet(capsysbinary, "decrypt", "new.yaml")
    assert plain == b"token: abc\n"

    before = (tmp_path / "new.yaml").read_bytes()
    monkeypatch.setenv("NEW_TEXT", "token: [unclosed\n")
    code, _, err = fleet(capsysbinary, "edit", "new.yaml")
    assert code == 1
    assert err.startswith("fleet secrets: new.yaml: invalid YAML at line 2")
    assert "unclosed" not in err
    assert (tmp_path / "new.yaml").read_bytes() == before
    assert list((tmp_path / "runtime").iterdir()) == []

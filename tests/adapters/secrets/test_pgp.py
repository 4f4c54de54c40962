"""PGP recipients through the host's gpg: sops' own functional-test file (sops 3.6.1,
with encrypted comments) opened with sops' published test key."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.adapters.secrets import SopsError, decrypt_text, rotate_text
from fleet.adapters.secrets.sops.api import open_for_edit, reseal
from tests.adapters.secrets.conftest import FIXTURES

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="needs gpg (Debian: gnupg)")

EXPECTED = b"# first comment in file\nlorem: ipsum\n# this-is-a-comment\ndolor: sit\n"


@pytest.fixture
def gnupg_home(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A throwaway keyring holding the sops test key (a short path: gpg-agent's socket)."""
    home = Path(tempfile.mkdtemp(prefix="gpg-"))
    home.chmod(0o700)
    monkeypatch.setenv("GNUPGHOME", str(home))
    key = FIXTURES / "sops-functional-tests-key1.asc"
    subprocess.run(["gpg", "--batch", "--quiet", "--import", str(key)], check=True)
    try:
        yield home
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], check=False, env=dict(os.environ))
        shutil.rmtree(home, ignore_errors=True)


def test_real_sops_file_with_encrypted_comments_decrypts_exactly(gnupg_home: Path) -> None:
    data = (FIXTURES / "sops-comments.enc.yaml").read_bytes()
    assert decrypt_text(data, "yaml", [], path="comments.enc.yaml", pgp=True) == EXPECTED


def test_pgp_is_only_tried_when_asked(gnupg_home: Path) -> None:
    data = (FIXTURES / "sops-comments.enc.yaml").read_bytes()
    with pytest.raises(SopsError, match=r"no age recipient in the sops block \(key types: pgp"):
        decrypt_text(data, "yaml", [], path="comments.enc.yaml")


def test_without_the_secret_key_the_fingerprint_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    empty = Path(tempfile.mkdtemp(prefix="gpg-"))
    empty.chmod(0o700)
    monkeypatch.setenv("GNUPGHOME", str(empty))
    try:
        data = (FIXTURES / "sops-comments.enc.yaml").read_bytes()
        with pytest.raises(SopsError) as caught:
            decrypt_text(data, "yaml", [], path="comments.enc.yaml", pgp=True)
        message = str(caught.value)
        assert "PGP FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4" in message
        assert "no age identity was given" in message
    finally:
        subprocess.run(["gpgconf", "--kill", "gpg-agent"], check=False, env=dict(os.environ))
        shutil.rmtree(empty, ignore_errors=True)


def test_edit_keeps_the_pgp_recipient_and_rotate_refuses(gnupg_home: Path) -> None:
    data = (FIXTURES / "sops-comments.enc.yaml").read_bytes()
    plain, opened = open_for_edit(data, "yaml", [], path="c.yaml", pgp=True)
    edited = reseal(plain.replace(b"ipsum", b"changed"), opened)
    assert b"FBC7B9E2A4F9289AC0C1D4843D16CEE4A27381B4" in edited
    assert decrypt_text(edited, "yaml", [], path="c.yaml", pgp=True) == EXPECTED.replace(
        b"ipsum", b"changed"
    )
    with pytest.raises(SopsError, match="cannot rotate: the file also has pgp keys"):
        rotate_text(data, "yaml", [], path="c.yaml", pgp=True)

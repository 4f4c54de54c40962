"""Commit signatures: with trusted keys configured, only a commit they signed is handed out."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleet.adapters.git import GitSourceSpec, SignatureTrust, UntrustedCommit
from fleet.adapters.git.signatures import ssh_key_fingerprint
from tests.adapters.git.conftest import MakeMirror
from tests.support.gitrepos import WorkRepo, git
from tests.support.gitservers import generate_ssh_key


@pytest.fixture
def signer(tmp_path: Path) -> Path:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed (apt-get install openssh-client)")
    return generate_ssh_key(tmp_path / "signer", comment="release-bot@example.com")


def _public(key: Path) -> str:
    return key.with_name(key.name + ".pub").read_text().strip()


def _source(origin: WorkRepo, trust: SignatureTrust) -> GitSourceSpec:
    return GitSourceSpec("platform", origin.origin.as_uri(), branch="main", trust=trust)


def test_a_commit_signed_by_a_trusted_ssh_key_is_accepted(
    origin: WorkRepo, signer: Path, make_mirror: MakeMirror
) -> None:
    signed = origin.commit("signed release", ssh_signing_key=signer)
    origin.push()
    trust = SignatureTrust(ssh_public_keys=(_public(signer),))

    revision = make_mirror(_source(origin, trust)).fetch()

    assert revision.sha == signed
    fingerprint = ssh_key_fingerprint(_public(signer))
    assert revision.signed_by == f"ssh {fingerprint} (release-bot@example.com)"
    shown = subprocess.run(
        ["ssh-keygen", "-l", "-f", str(signer)], capture_output=True, text=True, check=True
    )
    assert fingerprint in shown.stdout  # our fingerprint is the one ssh-keygen prints


def test_an_unsigned_commit_is_refused(
    origin: WorkRepo, signer: Path, make_mirror: MakeMirror
) -> None:
    unsigned = origin.commit("unsigned change")
    origin.push()
    mirror = make_mirror(_source(origin, SignatureTrust(ssh_public_keys=(_public(signer),))))

    with pytest.raises(UntrustedCommit) as caught:
        mirror.fetch()

    assert caught.value.sha == unsigned
    assert f"commit {unsigned} is not trusted: the commit is not signed" in str(caught.value)
    assert mirror.resolve(verify=False).sha == unsigned  # previews may still look at it


def test_a_commit_signed_by_an_untrusted_key_is_refused(
    origin: WorkRepo, signer: Path, tmp_path: Path, make_mirror: MakeMirror
) -> None:
    stranger = generate_ssh_key(tmp_path / "stranger")
    origin.commit("signed by someone else", ssh_signing_key=stranger)
    origin.push()

    with pytest.raises(UntrustedCommit) as caught:
        make_mirror(_source(origin, SignatureTrust(ssh_public_keys=(_public(signer),)))).fetch()

    assert ssh_key_fingerprint(_public(stranger)) in caught.value.reason
    assert "does not trust" in caught.value.reason


def test_a_commit_altered_after_signing_is_refused(
    origin: WorkRepo, signer: Path, make_mirror: MakeMirror
) -> None:
    origin.commit("the message that was signed", ssh_signing_key=signer)
    raw = git(origin.path, "cat-file", "commit", "HEAD")
    forged_raw = raw.replace("the message that was signed", "a message that was not")
    forged = git(
        origin.path, "hash-object", "-t", "commit", "-w", "--stdin", stdin=forged_raw.encode()
    )
    git(origin.path, "update-ref", "refs/heads/main", forged.strip())
    origin.push()

    with pytest.raises(UntrustedCommit, match="does not match its content"):
        make_mirror(_source(origin, SignatureTrust(ssh_public_keys=(_public(signer),)))).fetch()


def test_a_source_trusting_no_key_refuses_every_commit(
    origin: WorkRepo, signer: Path, make_mirror: MakeMirror
) -> None:
    origin.commit("signed, but nobody is trusted", ssh_signing_key=signer)
    origin.push()

    with pytest.raises(UntrustedCommit, match="trusts no SSH keys"):
        make_mirror(_source(origin, SignatureTrust())).fetch()


def test_resolving_another_revision_checks_it_too(
    origin: WorkRepo, signer: Path, make_mirror: MakeMirror
) -> None:
    unsigned = origin.head()
    origin.commit("signed tip", ssh_signing_key=signer)
    origin.push()
    mirror = make_mirror(_source(origin, SignatureTrust(ssh_public_keys=(_public(signer),))))
    mirror.fetch()

    with pytest.raises(UntrustedCommit):
        mirror.resolve(unsigned)


@pytest.fixture
def gnupg_home() -> Iterator[Path]:
    """A GnuPG home short enough for its agent socket; the agent is stopped afterwards."""
    if shutil.which("gpg") is None or shutil.which("gpgv") is None:
        pytest.skip("gpg and gpgv are not installed (apt-get install gnupg gpgv)")
    home = Path(tempfile.mkdtemp(prefix="fleet-gpg-"))
    home.chmod(0o700)
    try:
        yield home
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False)
        shutil.rmtree(home, ignore_errors=True)


def _gpg_key(home: Path, email: str) -> str:
    """A new signing key without passphrase in ``home``; returns its fingerprint."""
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
    subprocess.run(
        [*gpg, "--passphrase", "", "--quick-gen-key", email, "ed25519", "sign", "never"],
        check=True,
        capture_output=True,
    )
    listed = subprocess.run(
        [*gpg, "--with-colons", "--list-keys", email], check=True, capture_output=True, text=True
    ).stdout
    return next(line.split(":")[9] for line in listed.splitlines() if line.startswith("fpr:"))


def _export(home: Path, fingerprint: str, path: Path) -> Path:
    exported = subprocess.run(
        ["gpg", "--homedir", str(home), "--armor", "--export", fingerprint],
        check=True,
        capture_output=True,
    ).stdout
    path.write_bytes(exported)
    return path


def test_gpg_signatures_are_checked_against_the_trusted_keyring(
    origin: WorkRepo, gnupg_home: Path, tmp_path: Path, make_mirror: MakeMirror
) -> None:
    trusted = _gpg_key(gnupg_home, "Release Bot <release@example.com>")
    other = _gpg_key(gnupg_home, "Someone Else <else@example.com>")
    trust = SignatureTrust(gpg_public_key_files=(_export(gnupg_home, trusted, tmp_path / "k.asc"),))
    signed = origin.commit("gpg signed", gpg_key=trusted, gnupg_home=gnupg_home)
    origin.push()
    mirror = make_mirror(_source(origin, trust))

    revision = mirror.fetch()

    assert revision.sha == signed
    assert revision.signed_by == f"gpg {trusted} (Release Bot <release@example.com>)"

    origin.commit("gpg signed by another key", gpg_key=other, gnupg_home=gnupg_home)
    origin.push()
    with pytest.raises(UntrustedCommit) as caught:
        mirror.fetch()
    assert caught.value.reason == f"it is signed by OpenPGP key {other[-16:]}, which is not trusted"

"""known_hosts selection follows OpenSSH: names with ports, hashes, wildcards, negation, markers."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fleet.adapters.git.known_hosts import (
    HostKey,
    KnownHostsSyntaxError,
    keys_for_host,
    lookup_name,
)

ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk3hq1m2cWWz6tEEKi7E1nSR5yxwqDTOi8LT1tXUMWd"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE9kJ3lZaGpE1g0n7cT0bVv0B2j2JjHcfVn5x2O2gkGh"
KEY = HostKey(*ED25519.split())
OTHER_KEY = HostKey(*OTHER.split())
PATH = Path("/etc/fleet/known_hosts")


def _trusted(text: str, host: str = "git.example.com", port: int | None = None) -> list[HostKey]:
    return list(keys_for_host(text, PATH, host, port).trusted)


def test_lookup_names_carry_the_port_unless_it_is_22() -> None:
    assert lookup_name("Git.Example.com", None) == "git.example.com"
    assert lookup_name("git.example.com", 22) == "git.example.com"
    assert lookup_name("git.example.com", 2222) == "[git.example.com]:2222"


@pytest.mark.parametrize(
    ("line", "host", "port", "trusted"),
    [
        (f"git.example.com {ED25519}", "git.example.com", None, True),
        (f"GIT.example.COM {ED25519}", "git.example.com", 22, True),
        (f"other.example.com,git.example.com {ED25519}", "git.example.com", None, True),
        (f"git.example.com {ED25519}", "git.example.com", 2222, False),
        (f"[git.example.com]:2222 {ED25519}", "git.example.com", 2222, True),
        (f"[git.example.com]:2222 {ED25519}", "git.example.com", None, False),
        (f"*.example.com {ED25519}", "git.example.com", None, True),
        (f"git.example.co? {ED25519}", "git.example.com", None, True),
        (f"*.example.com,!git.example.com {ED25519}", "git.example.com", None, False),
        (f"[*.example.com]:* {ED25519}", "git.example.com", 2222, True),
        (f"gitXexample.com {ED25519}", "git.example.com", None, False),  # '.' is not a wildcard
    ],
)
def test_host_patterns(line: str, host: str, port: int | None, trusted: bool) -> None:
    assert _trusted(line + " comment here\n", host, port) == ([KEY] if trusted else [])


def test_hashed_names_written_by_ssh_keygen_are_matched(tmp_path: Path) -> None:
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed (apt-get install openssh-client)")
    path = tmp_path / "known_hosts"
    path.write_text(f"git.example.com {ED25519}\n[git.example.com]:2222 {OTHER}\n")
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], check=True, capture_output=True)
    text = path.read_text()
    assert "example" not in text

    assert _trusted(text, "git.example.com") == [KEY]
    assert _trusted(text, "git.example.com", 2222) == [OTHER_KEY]
    assert _trusted(text, "gitlab.example.com") == []


def test_revoked_keys_are_removed_and_certificate_authorities_reported() -> None:
    text = (
        f"# comment\n\ngit.example.com {ED25519}\ngit.example.com {OTHER}\n"
        f"@revoked * {OTHER}\n@cert-authority *.example.com {ED25519}\n"
    )
    keys = keys_for_host(text, PATH, "git.example.com", None)

    assert keys.trusted == (KEY,)
    assert keys.revoked == (OTHER_KEY,)
    assert keys.unsupported == (
        f"{PATH}:4: key is marked @revoked",
        f"{PATH}:6: host certificates are not supported",
    )


def test_the_file_given_to_libssh2_holds_only_the_selected_keys() -> None:
    text = f"git.example.com {ED25519}\nother.example.com {OTHER}\n"

    keys = keys_for_host(text, PATH, "git.example.com", 2200)

    assert keys.libssh2_file() == ""
    keys = keys_for_host(
        text.replace("git.example.com", "[git.example.com]:2200"), PATH, "git.example.com", 2200
    )
    assert keys.libssh2_file() == f"[git.example.com]:2200 {ED25519}\n"


def test_unsupported_key_types_are_reported_not_passed_on() -> None:
    sk = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIB+f"
    keys = keys_for_host(f"git.example.com {sk}\n", PATH, "git.example.com", None)

    assert keys.trusted == ()
    assert "unsupported" in keys.unsupported[0]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("git.example.com ssh-ed25519\n", ":1: expected 'hosts key-type base64-key'"),
        ("# ok\ngit.example.com ssh-ed25519 !!notbase64\n", ":2: the key is not valid base64"),
        (f"git.example.com ssh-rsa {ED25519.split()[1]}\n", "key data is 'ssh-ed25519'"),
        (f"@trusted git.example.com {ED25519}\n", "unknown marker '@trusted'"),
        (f"|1|bad {ED25519}\n", "malformed hashed host name"),
    ],
)
def test_malformed_lines_are_errors_naming_file_and_line(text: str, problem: str) -> None:
    with pytest.raises(KnownHostsSyntaxError, match=str(PATH)) as caught:
        keys_for_host(text, PATH, "git.example.com", None)

    assert problem in str(caught.value)

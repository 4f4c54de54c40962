"""Is a commit signed by a key the source trusts? Asked of ``ssh-keygen`` and ``gpgv``.

Git signs the commit object minus its ``gpgsig`` header; pygit2's
``Commit.gpg_signature`` returns exactly that pair (signature, signed payload), which is
what the verifying tools need. The verification itself is left to the tools users
already trust for it:

- SSH signatures: ``ssh-keygen -Y find-principals`` names the trusted key that made the
  signature (from an allowed_signers file written from the trusted keys, namespace
  ``git``), then ``ssh-keygen -Y verify`` checks the signature over the payload.
- OpenPGP signatures: ``gpgv`` with a keyring holding only the trusted public keys.
  ``gpgv`` rather than ``gpg --verify``: it is GnuPG's tool for exactly this check, needs
  no trust database or agent, and so leaves no daemon running.

Commits never change, so a verdict is cached per commit for the verifier's lifetime.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fleet.adapters.git.specs import SignatureTrust

_SSH_ARMOR = b"-----BEGIN SSH SIGNATURE-----"
_PGP_ARMOR = b"-----BEGIN PGP SIGNATURE-----"
_PGP_KEY_ARMOR = "-----BEGIN PGP PUBLIC KEY BLOCK-----"
_TOOL_TIMEOUT = 30.0


class SignatureRejected(Exception):
    """Why a commit's signature is not accepted (unsigned, unknown key, bad signature)."""


@dataclass(frozen=True, slots=True)
class _Verdict:
    signer: str | None
    reason: str | None


def ssh_key_fingerprint(public_key_line: str) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it, from an OpenSSH public key line."""
    blob = base64.b64decode(public_key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


class SignatureVerifier:
    """Checks signatures against one source's trusted keys; scratch files live in ``workdir``."""

    def __init__(self, trust: SignatureTrust, workdir: Path) -> None:
        self.trust = trust
        self.workdir = workdir
        self._verdicts: dict[str, _Verdict] = {}

    def verify(self, commit_id: str, signed: tuple[bytes, bytes] | None) -> str:
        """The trusted signer of ``signed`` (signature, payload); raises SignatureRejected."""
        verdict = self._verdicts.get(commit_id)
        if verdict is None:
            try:
                verdict = _Verdict(self._check(signed), None)
            except SignatureRejected as rejected:
                verdict = _Verdict(None, str(rejected))
            self._verdicts[commit_id] = verdict
        if verdict.signer is None:
            raise SignatureRejected(verdict.reason)
        return verdict.signer

    def _check(self, signed: tuple[bytes, bytes] | None) -> str:
        if signed is None or not signed[0]:
            raise SignatureRejected("the commit is not signed")
        signature, payload = signed
        self.workdir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.workdir, prefix="verify-") as scratch:
            if signature.lstrip().startswith(_SSH_ARMOR):
                return self._check_ssh(signature, payload, Path(scratch))
            if signature.lstrip().startswith(_PGP_ARMOR):
                return self._check_gpg(signature, payload, Path(scratch))
        raise SignatureRejected("the signature is neither an SSH nor an OpenPGP signature")

    def _check_ssh(self, signature: bytes, payload: bytes, scratch: Path) -> str:
        keys = self.trust.ssh_public_keys
        if not keys:
            raise SignatureRejected("it has an SSH signature, and the source trusts no SSH keys")
        tool = _tool("ssh-keygen", "openssh-client")
        allowed = scratch / "allowed_signers"
        allowed.write_text(
            "".join(f'trusted-{n} namespaces="git" {_key_part(k)}\n' for n, k in enumerate(keys))
        )
        signature_file = scratch / "signature"
        signature_file.write_bytes(signature)
        found = _run(
            [tool, "-Y", "find-principals", "-f", str(allowed), "-s", str(signature_file)], b""
        )
        if found.returncode != 0:
            signer = _run(
                [tool, "-Y", "check-novalidate", "-n", "git", "-s", str(signature_file)], payload
            )
            which = _ssh_key_named_in(signer.stdout + signer.stderr)
            raise SignatureRejected(f"it is signed by {which}, which the source does not trust")
        principal = found.stdout.decode().split()[0]
        argv = [tool, "-Y", "verify", "-f", str(allowed), "-I", principal, "-n", "git"]
        verified = _run([*argv, "-s", str(signature_file)], payload)
        if verified.returncode != 0:
            raise SignatureRejected(
                "its SSH signature does not match its content (altered after signing?)"
            )
        key = keys[int(principal.removeprefix("trusted-"))]
        comment = " ".join(key.split()[2:])
        return f"ssh {ssh_key_fingerprint(key)}" + (f" ({comment})" if comment else "")

    def _check_gpg(self, signature: bytes, payload: bytes, scratch: Path) -> str:
        files = self.trust.gpg_public_key_files
        if not files:
            raise SignatureRejected("it has an OpenPGP signature; the source trusts no GPG keys")
        tool = _tool("gpgv", "gpgv")
        keyring = scratch / "trusted.gpg"
        keyring.write_bytes(b"".join(_openpgp_binary(path) for path in files))
        (scratch / "home").mkdir(mode=0o700)
        signature_file = scratch / "signature.asc"
        signature_file.write_bytes(signature)
        payload_file = scratch / "payload"
        payload_file.write_bytes(payload)
        argv = [tool, "--homedir", str(scratch / "home"), "--status-fd", "1"]
        result = _run(
            [*argv, "--keyring", str(keyring), str(signature_file), str(payload_file)], b""
        )
        status = _gpg_status(result.stdout.decode(errors="replace"))
        if result.returncode == 0 and "VALIDSIG" in status and "GOODSIG" in status:
            fingerprint = status["VALIDSIG"].split()[0]
            user = status["GOODSIG"].partition(" ")[2]
            return f"gpg {fingerprint}" + (f" ({user})" if user else "")
        if "BADSIG" in status:
            raise SignatureRejected("its OpenPGP signature does not match its content")
        if "EXPKEYSIG" in status or "REVKEYSIG" in status:
            raise SignatureRejected("it is signed by an expired or revoked OpenPGP key")
        key_id = (status.get("ERRSIG") or status.get("NO_PUBKEY") or "unknown").split()[0]
        raise SignatureRejected(f"it is signed by OpenPGP key {key_id}, which is not trusted")


def _tool(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SignatureRejected(f"cannot verify it: {name} is not installed (install {package})")
    return found


def _run(argv: list[str], stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, timeout=_TOOL_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise SignatureRejected(f"{Path(argv[0]).name} did not answer in time") from error


def _key_part(public_key_line: str) -> str:
    """``type base64`` of a public key line (comments may hold spaces; drop them)."""
    fields = public_key_line.split()
    if len(fields) < 2:
        raise SignatureRejected(f"a trusted SSH key is not an OpenSSH public key: {fields!r}")
    return f"{fields[0]} {fields[1]}"


def _ssh_key_named_in(output: bytes) -> str:
    for word in output.decode(errors="replace").split():
        if word.startswith("SHA256:"):
            return f"SSH key {word.rstrip('.')}"
    return "an SSH key"


def _gpg_status(text: str) -> dict[str, str]:
    status: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("[GNUPG:] "):
            keyword, _, rest = line[len("[GNUPG:] ") :].partition(" ")
            status.setdefault(keyword, rest)
    return status


def _openpgp_binary(path: Path) -> bytes:
    """A public key file as binary packets: gpgv keyrings cannot be ASCII-armored."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise SignatureRejected(f"cannot read trusted key file {path}: {error.strerror}") from None
    text = data.decode("ascii", errors="replace").replace("\r\n", "\n")
    if _PGP_KEY_ARMOR not in text:
        return data
    blocks = []
    for block in text.split(_PGP_KEY_ARMOR)[1:]:
        body = block.split("-----END PGP PUBLIC KEY BLOCK-----")[0]
        _headers, _, armored = body.strip("\r\n").partition("\n\n")
        lines = [line.strip() for line in (armored or body).splitlines()]
        blocks.append(base64.b64decode("".join(x for x in lines if x and not x.startswith("="))))
    return b"".join(blocks)

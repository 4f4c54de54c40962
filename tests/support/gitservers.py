"""Real Git servers on loopback for tests: ``git daemon``, ``git http-backend``, ``sshd``.

Each server is a context manager that starts on a free loopback port and, on exit, stops
every process and thread it started. They serve bare repositories from a directory the
caller owns (usually ``tmp_path``), so the adapter under test talks to exactly the servers
a user would run, over real sockets:

- :class:`GitDaemon` serves ``git://`` with ``--export-all --base-path``.
- :class:`GitHttpServer` runs ``git http-backend`` as a CGI program behind a threaded
  ``http.server`` that demands HTTP basic auth (a token is a basic-auth password), over
  HTTPS when given a certificate (:func:`self_signed_certificate` makes one).
- :class:`SshServer` runs ``/usr/sbin/sshd -D -e`` with its own host key and one authorized
  client key, logging in as the current user, whose shell finds ``git-upload-pack``.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime
import getpass
import io
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address
from pathlib import Path
from types import TracebackType
from typing import IO, Self, cast

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

LOOPBACK = "127.0.0.1"
SSHD = "/usr/sbin/sshd"


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port() -> int:
    """A TCP port that was free a moment ago (for servers that cannot bind port 0).

    Taken below the kernel's ephemeral range where it can: a port the kernel may hand to
    any outgoing connection (the daemon's own, a simulator's) between this check and the
    server's bind would make the server fail with "address already in use".
    """
    low, _ = _ephemeral_range()
    if low > 11000:
        for _ in range(50):
            port = random.randrange(10000, low)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                try:
                    sock.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """Block until something accepts on ``port``, or fail if ``process`` died first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), 0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on {LOOPBACK}:{port} after {timeout}s")


def stop_process_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate a server started with ``start_new_session`` and all the children it forked."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    # Children of the group (a git daemon's per-connection forks) may outlive the leader.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


class _Server:
    """Context-manager plumbing shared by the servers."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class GitDaemon(_Server):
    """``git daemon`` serving every repository below ``base_path`` on ``git://``."""

    def __init__(self, base_path: Path) -> None:
        self.base_path = base_path
        self.port = 0
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, repo: str) -> str:
        return f"git://{LOOPBACK}:{self.port}/{repo}"

    def start(self) -> None:
        for _attempt in range(5):  # another process may grab the port between probe and bind
            self.port = free_port()
            process = subprocess.Popen(
                [
                    "git",
                    "daemon",
                    "--export-all",
                    "--reuseaddr",
                    "--informative-errors",
                    f"--base-path={self.base_path}",
                    f"--listen={LOOPBACK}",
                    f"--port={self.port}",
                    str(self.base_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                wait_for_port(self.port, process)
            except RuntimeError:
                stop_process_group(process)
                continue
            self._process = process
            return
        raise RuntimeError("git daemon did not start")

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process)
            self._process = None


class _GitCgiHandler(BaseHTTPRequestHandler):
    """Basic auth, then hand the request to ``git http-backend`` and relay its answer."""

    server: _GitHttpd
    # libgit2 wants a framed body (length or chunks); one request per connection keeps
    # shutdown from waiting on idle keep-alive connections.
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: requests are counted, not printed."""

    def _serve(self) -> None:
        self.server.requests.append(f"{self.command} {self.path}")
        if not self._authorized():
            self.server.rejected += 1
            self.send_response(HTTPStatus.UNAUTHORIZED)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        body = self._request_body()
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.server.project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.0",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": self.server.username,
            "REMOTE_ADDR": self.client_address[0],
        }
        if "Git-Protocol" in self.headers:
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        if "Content-Encoding" in self.headers:
            env["HTTP_CONTENT_ENCODING"] = self.headers["Content-Encoding"]
        backend = subprocess.Popen(
            ["git", "http-backend"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
        )
        assert backend.stdin is not None
        assert backend.stdout is not None
        feeder = threading.Thread(target=_feed, args=(backend.stdin, body))
        feeder.start()
        try:
            self._relay(cast(io.BufferedReader, backend.stdout))
        finally:
            feeder.join()
            backend.stdout.close()
            backend.wait()

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        return (user, password) == (self.server.username, self.server.password)

    def _request_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _relay(self, output: io.BufferedReader) -> None:
        status = "200 OK"
        headers: list[tuple[str, str]] = []
        for raw in iter(output.readline, b""):
            line = raw.decode("latin-1").rstrip("\r\n")
            if not line:
                break
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            else:
                headers.append((name, value.strip()))
        code, _, reason = status.partition(" ")
        self.send_response(int(code), reason or None)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Connection", "close")
        self.end_headers()
        while chunk := output.read1(65536):
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        self.wfile.write(b"0\r\n\r\n")


def _feed(pipe: IO[bytes], body: bytes) -> None:
    with contextlib.suppress(BrokenPipeError):
        pipe.write(body)
    with contextlib.suppress(BrokenPipeError):
        pipe.close()


class _GitHttpd(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True  # server_close() joins every request thread

    project_root: Path
    username: str
    password: str
    requests: list[str]
    rejected: int


class GitHttpServer(_Server):
    """``git http-backend`` over HTTP on loopback; every request needs basic auth.

    With ``tls`` (certificate and key files, see :func:`self_signed_certificate`) it serves
    HTTPS instead.
    """

    def __init__(
        self,
        project_root: Path,
        username: str,
        password: str,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        self.project_root = project_root
        self.username = username
        self.password = password
        self.tls = tls
        self._httpd: _GitHttpd | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    @property
    def rejected(self) -> int:
        """How many requests were refused for missing or wrong credentials."""
        assert self._httpd is not None
        return self._httpd.rejected

    def url(self, repo: str) -> str:
        return f"{'https' if self.tls else 'http'}://{LOOPBACK}:{self.port}/{repo}"

    def start(self) -> None:
        httpd = _GitHttpd((LOOPBACK, 0), _GitCgiHandler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            # The handshake then happens in the request's thread, not in the accept loop.
            httpd.socket = context.wrap_socket(
                httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        httpd.project_root = self.project_root
        httpd.username = self.username
        httpd.password = self.password
        httpd.requests = []
        httpd.rejected = 0
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="git-http"
        )
        self._thread.start()

    def stop(self) -> None:
        if self._httpd is not None and self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._httpd.server_close()
        self._httpd = None
        self._thread = None


def self_signed_certificate(directory: Path, host: str = LOOPBACK) -> tuple[Path, Path]:
    """A certificate for ``host`` (an IP address) signed by itself, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleet test server")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ip_address(host))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "server.crt", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def sshd_missing_reason() -> str | None:
    """Why SSH tests cannot run here, or None when ``sshd`` and ``ssh-keygen`` exist."""
    if not os.access(SSHD, os.X_OK):
        return f"{SSHD} is not installed (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "ssh-keygen is not installed (apt-get install openssh-client)"
    return None


def generate_ssh_key(path: Path, comment: str = "fleet-test") -> Path:
    """An unencrypted ed25519 key pair at ``path`` and ``path.pub``; returns ``path``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        stdin=subprocess.DEVNULL,
    )
    return path


def _openssh_version() -> tuple[int, int]:
    result = subprocess.run([SSHD, "-V"], capture_output=True, text=True, check=False)
    found = re.search(r"OpenSSH_(\d+)\.(\d+)", result.stdout + result.stderr)
    return (int(found[1]), int(found[2])) if found else (0, 0)


class SshServer(_Server):
    """An ``sshd`` on loopback with its own host key, accepting one client key.

    It runs unprivileged when the tests do, and as root it needs ``/run/sshd`` (the
    privilege-separation directory the Debian package normally creates at boot), which
    it creates when missing.
    """

    def __init__(self, directory: Path, client_public_key: Path) -> None:
        self.directory = directory
        self.client_public_key = client_public_key
        self.host_key = directory / "ssh_host_ed25519_key"
        self.user = getpass.getuser()
        self.port = 0
        self.log = directory / "sshd.log"
        self._process: subprocess.Popen[bytes] | None = None

    def url(self, repo_path: Path) -> str:
        return f"ssh://{self.user}@{LOOPBACK}:{self.port}{repo_path}"

    def known_hosts_line(self, host_public_key: Path | None = None) -> str:
        """The known_hosts entry for this server (or claiming ``host_public_key`` for it)."""
        key = (host_public_key or self.host_key.with_suffix(".pub")).read_text().split()
        return f"[{LOOPBACK}]:{self.port} {key[0]} {key[1]}\n"

    def start(self) -> None:
        reason = sshd_missing_reason()
        if reason:
            raise RuntimeError(reason)
        if os.geteuid() == 0:
            os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.host_key.exists():
            generate_ssh_key(self.host_key, comment="fleet-test-host")
        authorized = self.directory / "authorized_keys"
        authorized.write_text(self.client_public_key.read_text())
        authorized.chmod(0o600)
        for _attempt in range(5):
            self.port = free_port()
            config = self.directory / "sshd_config"
            config.write_text(self._config(authorized))
            with self.log.open("ab") as log:
                process = subprocess.Popen(
                    [SSHD, "-D", "-e", "-f", str(config)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
            try:
                wait_for_port(self.port, process)
            except RuntimeError:
                stop_process_group(process)
                continue
            self._process = process
            return
        raise RuntimeError(f"sshd did not start; see {self.log}:\n{self.log.read_text()}")

    def _config(self, authorized: Path) -> str:
        lines = [
            f"ListenAddress {LOOPBACK}",
            f"Port {self.port}",
            f"HostKey {self.host_key}",
            f"AuthorizedKeysFile {authorized}",
            "AuthenticationMethods publickey",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "UsePAM no",
            "StrictModes no",
            "PidFile none",
            "LogLevel VERBOSE",
            "MaxStartups 100",
        ]
        if _openssh_version() >= (9, 8):
            lines.append("PerSourcePenalties no")  # failed-auth tests must not lock us out
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        if self._process is not None:
            stop_process_group(self._process)
            self._process = None

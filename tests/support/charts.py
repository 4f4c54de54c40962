"""Helm charts for tests: packaged with tarfile, served by a chart repository or a registry.

- :func:`package_chart` writes a chart archive (``name/Chart.yaml``, ``values.yaml``,
  templates) as ``helm package`` would lay it out, deterministically.
- :class:`ChartRepository` is a real HTTP chart repository on loopback (a threaded
  ``http.server`` serving ``index.yaml`` and the archives, with the ``digest`` of each),
  optionally demanding basic auth.
- :class:`Registry` runs the CNCF distribution registry (Debian's ``docker-registry``)
  with a temporary config: filesystem storage under the test's directory, a loopback
  port, and optionally htpasswd (basic) auth. :func:`push_chart` pushes an archive to it
  with the plain distribution API (blob upload POST then PUT, manifest PUT) and Helm's
  media types, as ``helm push`` does.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import threading
import urllib.request
import warnings
from collections.abc import Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.support.gitservers import LOOPBACK, free_port, stop_process_group, wait_for_port

REGISTRY = "/usr/bin/docker-registry"
HELM_CONFIG = "application/vnd.cncf.helm.config.v1+json"
HELM_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"

CONFIGMAP_TEMPLATE = """apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Release.Name }}-settings
data:
  chartVersion: {{ .Chart.Version | quote }}
  color: {{ .Values.color | quote }}
"""


def package_chart(
    name: str,
    version: str,
    templates: Mapping[str, str] | None = None,
    values: str = "color: blue\n",
    extra: Mapping[str, bytes] | None = None,
) -> bytes:
    """A chart archive (``.tgz``) as ``helm package`` lays it out; same input, same bytes."""
    files: dict[str, bytes] = {
        f"{name}/Chart.yaml": (
            f"apiVersion: v2\nname: {name}\nversion: {version}\ntype: application\n"
        ).encode(),
        f"{name}/values.yaml": values.encode(),
    }
    for rel, text in (templates or {"templates/configmap.yaml": CONFIGMAP_TEMPLATE}).items():
        files[f"{name}/{rel}"] = text.encode()
    for rel, data in (extra or {}).items():
        files[rel] = data
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1_700_000_000
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    import gzip

    return gzip.compress(raw.getvalue(), mtime=0)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ChartRepository:
    """An HTTP chart repository on loopback serving the charts :meth:`add` was given."""

    def __init__(
        self,
        credentials: tuple[str, str] | None = None,
        *,
        token: str | None = None,
        tls: tuple[Path, Path] | None = None,
    ) -> None:
        """``credentials``: demand basic auth; ``token``: demand that bearer token;
        ``tls``: (certificate, key) files to serve HTTPS with."""
        self.charts: dict[str, list[tuple[str, bytes]]] = {}
        self.credentials = credentials
        self.token = token
        self.tls = tls
        self.requests: list[tuple[str, str | None]] = []  # (path, Authorization)
        self.lies_about: set[str] = set()  # "name-version": index digest deliberately wrong
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{LOOPBACK}:{self._server.server_address[1]}/charts"

    def add(self, name: str, version: str, archive: bytes) -> None:
        self.charts.setdefault(name, []).append((version, archive))

    def index(self) -> bytes:
        entries = {
            name: [
                {
                    "apiVersion": "v2",
                    "name": name,
                    "version": version,
                    "digest": (
                        "0" * 64 if f"{name}-{version}" in self.lies_about else sha256(archive)
                    ),
                    "urls": [f"{name}-{version}.tgz"],
                    "created": "2026-01-01T00:00:00Z",
                }
                for version, archive in versions
            ]
            for name, versions in self.charts.items()
        }
        return json.dumps({"apiVersion": "v1", "entries": entries}).encode()  # JSON is YAML

    def _respond(self, handler: BaseHTTPRequestHandler) -> None:
        auth = handler.headers.get("Authorization")
        self.requests.append((handler.path, auth))
        expected: str | None = None
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(":".join(self.credentials).encode()).decode()
        elif self.token is not None:
            expected = f"Bearer {self.token}"
        if expected is not None and auth != expected:
            handler.send_response(HTTPStatus.UNAUTHORIZED)
            handler.send_header("WWW-Authenticate", 'Basic realm="charts"')
            handler.end_headers()
            return
        body: bytes | None = None
        if handler.path == "/charts/index.yaml":
            body = self.index()
        else:
            for name, versions in self.charts.items():
                for version, archive in versions:
                    if handler.path == f"/charts/{name}-{version}.tgz":
                        body = archive
        if body is None:
            handler.send_response(HTTPStatus.NOT_FOUND)
            handler.end_headers()
            return
        handler.send_response(HTTPStatus.OK)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def __enter__(self) -> Self:
        repository = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                repository._respond(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        if self.tls is not None:
            import ssl

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


def registry_missing() -> str | None:
    """Why the registry tests cannot run here, or None."""
    if shutil.which(REGISTRY) is None:
        return f"{REGISTRY} is not installed (Debian package docker-registry; .ci/run installs it)"
    return None


class Registry:
    """``docker-registry`` on loopback with storage under ``directory``."""

    def __init__(self, directory: Path, credentials: tuple[str, str] | None = None) -> None:
        self.directory = directory
        self.credentials = credentials
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.port}"

    def __enter__(self) -> Self:
        self.directory.mkdir(parents=True, exist_ok=True)
        auth = ""
        if self.credentials is not None:
            with warnings.catch_warnings():  # crypt: the one stdlib bcrypt; fine in 3.11
                warnings.simplefilter("ignore", DeprecationWarning)
                import crypt

                hashed = crypt.crypt(
                    self.credentials[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)
                )
            (self.directory / "htpasswd").write_text(f"{self.credentials[0]}:{hashed}\n")
            auth = (
                f"auth:\n  htpasswd:\n    realm: fleet-test\n    path: {self.directory}/htpasswd\n"
            )
        config = self.directory / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.directory}/data\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: {self.host}\n  secret: fleet-test-secret\n{auth}"
        )
        self._process = subprocess.Popen(
            [REGISTRY, "serve", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_for_port(self.port, self._process)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._process is not None:
            stop_process_group(self._process)

    def push_chart(self, repository: str, version: str, archive: bytes) -> str:
        """Push ``archive`` as ``repository:version`` (Helm's layout); the manifest digest."""
        config = json.dumps({"name": repository.rsplit("/", 1)[-1], "version": version}).encode()
        for blob in (config, archive):
            self._upload(repository, blob)
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": HELM_CONFIG,
                    "digest": f"sha256:{sha256(config)}",
                    "size": len(config),
                },
                "layers": [
                    {
                        "mediaType": HELM_LAYER,
                        "digest": f"sha256:{sha256(archive)}",
                        "size": len(archive),
                    }
                ],
            }
        ).encode()
        tag = version.replace("+", "_")
        self._call(
            "PUT",
            f"/v2/{repository}/manifests/{tag}",
            manifest,
            {"Content-Type": OCI_MANIFEST},
        )
        return f"sha256:{sha256(manifest)}"

    def _upload(self, repository: str, blob: bytes) -> None:
        _, headers = self._call("POST", f"/v2/{repository}/blobs/uploads/", b"", {})
        location = headers["Location"]
        separator = "&" if "?" in location else "?"
        self._call(
            "PUT",
            f"{location}{separator}digest=sha256:{sha256(blob)}",
            blob,
            {"Content-Type": "application/octet-stream"},
        )

    def _call(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[bytes, dict[str, str]]:
        url = path if path.startswith("http") else f"http://{self.host}{path}"
        request = urllib.request.Request(url, data=body, method=method, headers=headers)
        if self.credentials is not None:
            token = base64.b64encode(":".join(self.credentials).encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read(), dict(response.headers)

"""Charts in OCI registries, pulled with the distribution API as ``helm pull oci://`` does.

``oci://host[:port]/path`` plus the chart name is the repository ``path/chart`` on
``host``. A range is resolved against the repository's tags (``GET /v2/<name>/tags/list``,
following ``Link`` pages; Helm stores ``+`` of a version as ``_`` in a tag). The tag's
manifest (OCI image manifest) must carry Helm's config media type and exactly one chart
layer; its digest, when the registry states it, must match the bytes received, and the
layer's digest is what the archive is checked against and stored by.

Authentication follows the registry's challenge: ``WWW-Authenticate: Bearer realm=...``
means fetching a pull token from the realm (with the source's basic credentials, if
any), ``Basic`` means sending them directly. Credentials go to a realm on another host
only over HTTPS.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from yarl import URL

from fleet.adapters.charts.repository import pick
from fleet.adapters.charts.specs import (
    HELM_CHART_MEDIA_TYPE,
    HELM_CONFIG_MEDIA_TYPE,
    OCI_MANIFEST_MEDIA_TYPE,
    ChartError,
    ChartNotFound,
    ChartRejected,
    ChartSpec,
    ResolvedChart,
)
from fleet.adapters.charts.transport import (
    basic_credentials,
    basic_header,
    read_capped,
    same_origin,
    unreachable,
)

_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')
_NEXT_LINK = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")
_MAX_MANIFEST = 4 << 20
_MAX_TAG_PAGES = 50


@dataclass(slots=True)
class Registry:
    """One registry conversation: the base URL, the repository name, the token won."""

    spec: ChartSpec
    session: aiohttp.ClientSession
    base: URL = field(init=False)
    name: str = field(init=False)
    authorization: str | None = None

    def __post_init__(self) -> None:
        rest = self.spec.repository.removeprefix("oci://").strip("/")
        host, _, path = rest.partition("/")
        scheme = "http" if self.spec.plain_http else "https"
        self.base = URL(f"{scheme}://{host}")
        self.name = f"{path}/{self.spec.chart}" if path else self.spec.chart

    async def get(
        self, path: str, cap: int, what: str, accept: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        url = self.base.join(URL(path))
        for attempt in range(2):
            headers = {"Accept": accept} if accept else {}
            # Never to another host (a Link header may point anywhere).
            if self.authorization is not None and same_origin(url, self.base):
                headers["Authorization"] = self.authorization
            try:
                async with self.session.get(url, headers=headers) as response:
                    if response.status == 401 and attempt == 0:
                        await self._authenticate(response.headers.get("WWW-Authenticate", ""))
                        continue
                    if response.status in (401, 403):
                        raise self.spec.error(
                            ChartError,
                            f"{what}: the registry refused the credentials "
                            f"(HTTP {response.status})",
                        )
                    if response.status == 404:
                        raise self.spec.error(ChartNotFound, f"{what}: not found in {self.name}")
                    if response.status >= 400:
                        raise self.spec.error(ChartError, f"{what}: HTTP {response.status}")
                    body = await read_capped(response, cap, what, self.spec)
                    return body, dict(response.headers)
            except (aiohttp.ClientError, TimeoutError, OSError) as error:
                raise unreachable(self.spec, url, error) from None
        raise self.spec.error(ChartError, f"{what}: the registry asked to authenticate twice")

    async def _authenticate(self, challenge: str) -> None:
        scheme, _, params_text = challenge.partition(" ")
        credentials = basic_credentials(self.spec)
        if scheme.lower() == "basic":
            if credentials is None:
                raise self.spec.error(
                    ChartError, "the registry wants credentials: set auth.usernameFile/passwordFile"
                )
            self.authorization = basic_header(*credentials)
            return
        if scheme.lower() != "bearer":
            raise self.spec.error(ChartError, f"unsupported registry authentication {scheme!r}")
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        realm = URL(params.get("realm", ""))
        if not realm.is_absolute():
            raise self.spec.error(ChartError, "the registry's token challenge names no realm")
        query = {"scope": params.get("scope") or f"repository:{self.name}:pull"}
        if "service" in params:
            query["service"] = params["service"]
        headers: dict[str, str] = {}
        if credentials is not None:
            if realm.scheme != "https" and realm.host != self.base.host:
                raise self.spec.error(
                    ChartError, f"refusing to send credentials to token realm {realm} over http"
                )
            headers["Authorization"] = basic_header(*credentials)
        try:
            async with self.session.get(realm.with_query(query), headers=headers) as response:
                if response.status in (401, 403):
                    raise self.spec.error(
                        ChartError,
                        "the registry's token service refused the credentials "
                        f"(HTTP {response.status})",
                    )
                if response.status >= 400:
                    raise self.spec.error(ChartError, f"token service: HTTP {response.status}")
                body = await read_capped(response, 1 << 20, "token", self.spec)
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise unreachable(self.spec, realm, error) from None
        try:
            answer = json.loads(body)
            token = answer.get("token") or answer.get("access_token")
        except (ValueError, AttributeError):
            token = None
        if not isinstance(token, str) or not token:
            raise self.spec.error(ChartError, "the registry's token service gave no token")
        self.authorization = f"Bearer {token}"


async def resolve(
    session: aiohttp.ClientSession, spec: ChartSpec
) -> tuple[ResolvedChart, Registry]:
    registry = Registry(spec, session)
    tags = await _tags(registry)
    versions = {tag.replace("_", "+"): tag for tag in tags}
    version = pick(spec, list(versions), f"registry {registry.base.host}/{registry.name}")
    tag = versions[version]
    body, headers = await registry.get(
        f"/v2/{registry.name}/manifests/{tag}",
        _MAX_MANIFEST,
        f"manifest of {spec.chart}:{tag}",
        accept=OCI_MANIFEST_MEDIA_TYPE,
    )
    manifest_digest = "sha256:" + hashlib.sha256(body).hexdigest()
    stated = headers.get("Docker-Content-Digest")
    if stated and stated.startswith("sha256:") and stated != manifest_digest:
        raise spec.error(
            ChartRejected,
            f"manifest of {spec.chart}:{tag}: the registry says {stated}, the bytes are "
            f"{manifest_digest}; not used",
        )
    layer = _chart_layer(spec, tag, body)
    size = layer.get("size")
    if isinstance(size, int) and size > spec.limits.max_archive_bytes:
        raise spec.error(
            ChartRejected,
            f"chart {spec.chart} {version} is {size} bytes, more than "
            f"{spec.limits.max_archive_bytes} allowed (settings render.maxFileSize)",
        )
    resolved = ResolvedChart(
        chart=spec.chart,
        version=version,
        digest=str(layer["digest"]),
        url=f"{registry.base.host}/{registry.name}@{manifest_digest}",
    )
    return resolved, registry


async def download(registry: Registry, chart: ResolvedChart) -> bytes:
    spec = registry.spec
    body, _ = await registry.get(
        f"/v2/{registry.name}/blobs/{chart.digest}",
        spec.limits.max_archive_bytes,
        f"chart layer of {chart.chart} {chart.version}",
    )
    return body


async def _tags(registry: Registry) -> list[str]:
    tags: list[str] = []
    path: str | None = f"/v2/{registry.name}/tags/list?n=1000"
    for _ in range(_MAX_TAG_PAGES):
        if path is None:
            break
        body, headers = await registry.get(path, 8 << 20, f"tags of {registry.name}")
        try:
            page = json.loads(body)
        except ValueError:
            raise registry.spec.error(ChartError, "the registry's tag list is not JSON") from None
        tags += [tag for tag in (page.get("tags") or []) if isinstance(tag, str)]
        link = _NEXT_LINK.search(headers.get("Link", ""))
        path = link.group(1) if link else None
    return tags


def _chart_layer(spec: ChartSpec, tag: str, body: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(body)
    except ValueError:
        raise spec.error(ChartRejected, f"manifest of {spec.chart}:{tag} is not JSON") from None
    config = manifest.get("config") if isinstance(manifest, dict) else None
    if not isinstance(config, dict) or config.get("mediaType") != HELM_CONFIG_MEDIA_TYPE:
        raise spec.error(
            ChartRejected, f"{spec.chart}:{tag} is not a Helm chart (config media type)"
        )
    layers = [
        layer
        for layer in manifest.get("layers") or []
        if isinstance(layer, dict) and layer.get("mediaType") == HELM_CHART_MEDIA_TYPE
    ]
    if len(layers) != 1 or not str(layers[0].get("digest", "")).startswith("sha256:"):
        raise spec.error(
            ChartRejected, f"{spec.chart}:{tag} must have one chart layer with a sha256 digest"
        )
    return layers[0]

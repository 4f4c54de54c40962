"""Argo CD's declarative cluster Secrets, and the destinations that name clusters.

A cluster Secret (label ``argocd.argoproj.io/secret-type: cluster``) holds ``name``,
``server`` and ``config`` (JSON: ``bearerToken``, ``tlsClientConfig``, ...). It becomes a
fleet cluster with the Secret's labels. Credentials never go into the fleet config:
fleet's clusters take them from files (``tokenFile``, ``caFile``, or a ``kubeconfig``).
With a credentials directory the import returns those files for the caller to write
(mode 0600); without one the entry names where the file should go and a note says which
Secret field to put there.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.config.argocd.entries import (
    ArgoImportError,
    Entry,
    Origin,
    fleet_name,
    label_problem,
    mapping,
    text,
    unique,
)

SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
IN_CLUSTER_NAME = "in-cluster"
_SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
#: Where credential files are said to go when the import writes none.
PLACEHOLDER_DIR = "/etc/fleet/clusters"
#: ``config`` keys fleet has no place for, and why.
_CONFIG_NOT_CARRIED = {
    "username": "fleet signs in with a bearer token or a kubeconfig, not a password",
    "password": "fleet signs in with a bearer token or a kubeconfig, not a password",
    "awsAuthConfig": "write a kubeconfig whose user runs `aws eks get-token` and set kubeconfig",
    "proxyUrl": "fleet reaches clusters directly",
    "disableCompression": "not needed by fleet",
}


@dataclass(frozen=True, slots=True)
class CredentialFile:
    """A file the caller writes into the credentials directory (mode 0600)."""

    name: str
    content: bytes
    what: str


def is_cluster_secret(body: Mapping[str, Any]) -> bool:
    labels = mapping(mapping(body.get("metadata")).get("labels"))
    return body.get("kind") == "Secret" and labels.get(SECRET_TYPE_LABEL) == "cluster"


def secret_fields(body: Mapping[str, Any], origin: Origin) -> dict[str, str]:
    """The Secret's values as text: ``stringData`` over base64-decoded ``data``."""
    fields: dict[str, str] = {}
    for key, value in mapping(body.get("data")).items():
        try:
            fields[str(key)] = base64.b64decode(str(value), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ArgoImportError(f"{origin}: data.{key} is not base64 of UTF-8 text") from None
    for key, value in mapping(body.get("stringData")).items():
        fields[str(key)] = text(value)
    return fields


class ClusterRegistry:
    """The fleet clusters of an import, found by Argo CD server URL or cluster name."""

    def __init__(self, credentials_dir: str | None) -> None:
        self.credentials_dir = credentials_dir
        self.entries: dict[str, Entry] = {}
        self.credentials: list[CredentialFile] = []
        self._by_server: dict[str, str] = {}
        self._by_argo_name: dict[str, str] = {}
        self._taken: set[str] = set()

    # -- cluster Secrets ------------------------------------------------------------------

    def add_secret(self, body: Mapping[str, Any], origin: Origin) -> None:
        fields = secret_fields(body, origin)
        server = fields.get("server", "").rstrip("/")
        if not server:
            raise ArgoImportError(f"{origin}: a cluster Secret needs a server")
        argo_name = fields.get("name") or origin.name
        name = unique(fleet_name(argo_name), self._taken)
        entry = Entry({"name": name}, origin)
        if name != argo_name:
            entry.note(f"Argo CD name '{argo_name}' is not a fleet name: renamed {name}", "name")
        self._labels(entry, body)
        self._connection(entry, server, fields.get("config", ""), origin)
        for key, why in (
            ("namespaces", "a fleet cluster is not limited to namespaces: use a project"),
            ("clusterResources", "a fleet cluster is not limited: use a project"),
            ("project", "fleet clusters belong to no project: bound apps with projects"),
        ):
            if fields.get(key):
                entry.note(f"{key}: not carried ({why})")
        self.entries[name] = entry
        self._by_server.setdefault(server, name)
        self._by_argo_name.setdefault(argo_name, name)

    def _labels(self, entry: Entry, body: Mapping[str, Any]) -> None:
        labels: dict[str, str] = {}
        for key, value in mapping(mapping(body.get("metadata")).get("labels")).items():
            if key == SECRET_TYPE_LABEL:
                continue
            problem = label_problem(key, value)
            if problem is None:
                labels[key] = value
            else:
                entry.note(f"label {key}={value}: not carried ({problem})", "labels")
        if labels:
            entry.data["labels"] = labels
        if mapping(mapping(body.get("metadata")).get("annotations")):
            entry.note("metadata.annotations: not carried (fleet clusters have labels only)")

    def _connection(self, entry: Entry, server: str, raw: str, origin: Origin) -> None:
        try:
            config = mapping(json.loads(raw)) if raw.strip() else {}
        except json.JSONDecodeError as exc:
            raise ArgoImportError(f"{origin}: config is not JSON ({exc.msg})") from None
        name = entry.data["name"]
        tls = mapping(config.get("tlsClientConfig"))
        exec_config = mapping(config.get("execProviderConfig"))
        for key, why in _CONFIG_NOT_CARRIED.items():
            if key in config:
                entry.note(f"config.{key}: not carried ({why})")
        if tls.get("insecure") is True:
            entry.note("tlsClientConfig.insecure: not carried (fleet always verifies the server)")
        if tls.get("serverName"):
            entry.note("tlsClientConfig.serverName: not carried (put it in a kubeconfig)")
        if tls.get("certData") or tls.get("keyData") or exec_config:
            self._kubeconfig(entry, server, tls, exec_config)
            return
        entry.data["server"] = server
        if server.startswith("http://"):
            entry.data["allowInsecureHttp"] = True
            entry.note("server is plain http://: the token travels in clear", "server")
        ca = tls.get("caData")
        if isinstance(ca, str) and ca:
            entry.data["caFile"] = self._file(
                entry, f"{name}.ca.crt", _decoded(ca, origin), "tlsClientConfig.caData"
            )
        token = config.get("bearerToken")
        if isinstance(token, str) and token:
            entry.data["tokenFile"] = self._file(
                entry, f"{name}.token", token.encode(), "config.bearerToken"
            )
        else:
            entry.data["tokenFile"] = f"{PLACEHOLDER_DIR}/{name}/token"
            entry.note(
                "no bearerToken in the Secret: put a token for this cluster in tokenFile",
                "tokenFile",
            )

    def _kubeconfig(
        self, entry: Entry, server: str, tls: Mapping[str, Any], exec_config: Mapping[str, Any]
    ) -> None:
        name = entry.data["name"]
        cluster: dict[str, Any] = {"server": server}
        if tls.get("caData"):
            cluster["certificate-authority-data"] = tls["caData"]
        user: dict[str, Any] = {}
        if tls.get("certData"):
            user["client-certificate-data"] = tls["certData"]
        if tls.get("keyData"):
            user["client-key-data"] = tls["keyData"]
        if exec_config:
            user["exec"] = {
                key: exec_config[key]
                for key in ("command", "args", "env", "apiVersion", "installHint")
                if key in exec_config
            }
        kubeconfig = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
            "current-context": name,
        }
        content = json.dumps(kubeconfig, indent=2).encode()
        what = "tlsClientConfig and execProviderConfig, as a kubeconfig"
        entry.data["kubeconfig"] = self._file(entry, f"{name}.kubeconfig", content, what)
        entry.data["context"] = name

    def _file(self, entry: Entry, file_name: str, content: bytes, what: str) -> str:
        """The path the entry names; the file itself is returned only with a directory."""
        if self.credentials_dir is not None:
            self.credentials.append(CredentialFile(file_name, content, what))
            return f"{self.credentials_dir.rstrip('/')}/{file_name}"
        name = entry.data["name"]
        path = f"{PLACEHOLDER_DIR}/{name}/{file_name.removeprefix(name + '.')}"
        entry.note(
            f"write {what} of this Secret to {path} (mode 0600), or import again "
            "with --credentials-dir DIR to have the files written",
        )
        return path

    # -- destinations -------------------------------------------------------------------

    def resolve(self, server: str, name: str) -> tuple[str, str | None]:
        """The fleet cluster for an Argo CD destination, made up if no Secret defined it,
        and a note when it was."""
        server = server.rstrip("/")
        if server and server in self._by_server:
            return self._by_server[server], None
        if name and name in self._by_argo_name:
            return self._by_argo_name[name], None
        if server == IN_CLUSTER_SERVER or name == IN_CLUSTER_NAME or (not server and not name):
            return self._in_cluster(), None
        cluster = unique(fleet_name(name or server.split("://")[-1].split(":")[0]), self._taken)
        entry = Entry(
            {"name": cluster}, Origin("added for a destination", 0, "Cluster", name or server)
        )
        if server:
            entry.data["server"] = server
            entry.data["tokenFile"] = f"{PLACEHOLDER_DIR}/{cluster}/token"
        else:
            entry.data["kubeconfig"] = f"{PLACEHOLDER_DIR}/{cluster}/kubeconfig"
        entry.note(
            "no cluster Secret was imported for this destination: give its server and a "
            "token file (or a kubeconfig)"
        )
        self.entries[cluster] = entry
        if server:
            self._by_server[server] = cluster
        if name:
            self._by_argo_name[name] = cluster
        return cluster, f"destination {name or server}: no cluster Secret for it was imported"

    def _in_cluster(self) -> str:
        found = self._by_server.get(IN_CLUSTER_SERVER)
        if found is not None:
            return found
        name = unique(IN_CLUSTER_NAME, self._taken)
        entry = Entry(
            {
                "name": name,
                "server": IN_CLUSTER_SERVER,
                "caFile": f"{_SERVICE_ACCOUNT}/ca.crt",
                "tokenFile": f"{_SERVICE_ACCOUNT}/token",
            },
            Origin("added for a destination", 0, "Cluster", IN_CLUSTER_NAME),
        )
        entry.note(
            "Argo CD's own cluster: these files exist when fleet runs in a pod of that "
            "cluster; elsewhere, point kubeconfig at it instead"
        )
        self.entries[name] = entry
        self._by_server[IN_CLUSTER_SERVER] = name
        self._by_argo_name[IN_CLUSTER_NAME] = name
        return name

    def servers(self) -> dict[str, str]:
        """Server URL -> fleet cluster name."""
        return dict(self._by_server)

    def argo_names(self) -> dict[str, str]:
        """Argo CD cluster name -> fleet cluster name."""
        return dict(self._by_argo_name)


def _decoded(data: str, origin: Origin) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise ArgoImportError(f"{origin}: tlsClientConfig.caData is not base64") from None

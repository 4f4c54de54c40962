"""Roll workloads when a Secret they use changes (an app's ``secretChecksums: true``).

Kubernetes restarts nothing when a Secret's data changes. As Helm users do by hand, the
pod template of each workload that uses a Secret of the app (``env`` ``secretKeyRef``,
``envFrom`` ``secretRef``, a ``secret`` or projected volume) gets an annotation that
changes with that Secret's data, so a rotation rolls it. The annotation is a keyed digest
(HMAC with the daemon's secret digest key): a plain hash of a short password could be
guessed back from the annotation by anyone who can read the Deployment.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fleet.model.manifests import Manifest

ANNOTATION = "fleet.dev/secret-checksum"

_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}


def with_secret_checksums(manifests: Sequence[Manifest], key: bytes) -> list[Manifest]:
    """``manifests`` with each workload using a Secret of them annotated (see above)."""
    secrets = {
        (m.ref.namespace, m.ref.name): _data(m.body)
        for m in manifests
        if m.ref.kind == "Secret" and m.ref.group == ""
    }
    if not secrets:
        return list(manifests)
    out: list[Manifest] = []
    for manifest in manifests:
        template = _pod_template(manifest.body)
        used = sorted(
            name for name in _secret_names(template) if (manifest.ref.namespace, name) in secrets
        )
        if template is None or not used:
            out.append(manifest)
            continue
        canonical = json.dumps(
            {name: secrets[(manifest.ref.namespace, name)] for name in used}, sort_keys=True
        )
        digest = hmac.new(key, canonical.encode(), hashlib.sha256).hexdigest()[:32]
        body = copy.deepcopy(dict(manifest.body))
        target = _pod_template(body)
        assert isinstance(target, dict)
        metadata = target.setdefault("metadata", {})
        metadata.setdefault("annotations", {})[ANNOTATION] = f"hmac-sha256:{digest}"
        out.append(Manifest(manifest.ref, body, manifest.origin))
    return out


def _data(body: Mapping[str, Any]) -> dict[str, str]:
    """A Secret's values (stringData folded into data), as text for hashing."""
    values: dict[str, str] = {}
    for name, encoded in (body.get("data") or {}).items():
        try:
            values[str(name)] = base64.b64decode(str(encoded), validate=True).hex()
        except (binascii.Error, ValueError):
            values[str(name)] = str(encoded).encode().hex()
    for name, text in (body.get("stringData") or {}).items():
        values[str(name)] = str(text).encode().hex()
    return values


def _pod_template(body: Mapping[str, Any]) -> Any:
    kind = body.get("kind")
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return None
    if kind in _TEMPLATE_KINDS:
        template = spec.get("template")
    elif kind == "CronJob":
        job = spec.get("jobTemplate")
        inner = job.get("spec") if isinstance(job, Mapping) else None
        template = inner.get("template") if isinstance(inner, Mapping) else None
    else:
        return None
    return template if isinstance(template, Mapping) else None


def _secret_names(template: Any) -> Iterator[str]:
    if not isinstance(template, Mapping):
        return
    pod = template.get("spec")
    if not isinstance(pod, Mapping):
        return
    for group in ("containers", "initContainers", "ephemeralContainers"):
        for container in _list(pod.get(group)):
            for env in _list(container.get("env")):
                ref = _get(env, "valueFrom", "secretKeyRef", "name")
                if ref:
                    yield ref
            for source in _list(container.get("envFrom")):
                ref = _get(source, "secretRef", "name")
                if ref:
                    yield ref
    for volume in _list(pod.get("volumes")):
        ref = _get(volume, "secret", "secretName")
        if ref:
            yield ref
        for source in _list(_get_any(volume, "projected", "sources")):
            ref = _get(source, "secret", "name")
            if ref:
                yield ref


def _list(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _get_any(value: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _get(value: Any, *keys: str) -> str | None:
    found = _get_any(value, *keys)
    return found if isinstance(found, str) else None

"""Span attributes: OpenTelemetry's semantic conventions where they exist, ``fleet.*`` else.

Kubernetes names follow the ``k8s.*`` conventions (``k8s.cluster.name``,
``k8s.namespace.name``, ``k8s.deployment.name`` ...); revisions follow ``vcs.*``
(``vcs.ref.head.revision``, ``vcs.ref.head.name``, ``vcs.repository.url.full``). Kinds
without a convention get ``fleet.object.kind`` and ``fleet.object.name``.

Nothing secret becomes an attribute: no object body or value is ever passed in, URLs lose
their credentials (:func:`fleet.adapters.git.redact_url`), and every free text (error
messages, commit summaries) goes through the same redaction as history.
"""

from __future__ import annotations

from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from fleet.adapters.git import Revision, redact_url
from fleet.adapters.store.redaction import redact
from fleet.model.refs import ObjectRef

APP = "fleet.app"
CLUSTER = "k8s.cluster.name"
NAMESPACE = "k8s.namespace.name"
SOURCE = "fleet.source"
REVISION = "vcs.ref.head.revision"
REF_NAME = "vcs.ref.head.name"
REF_TYPE = "vcs.ref.head.type"
REPOSITORY = "vcs.repository.url.full"

#: Kinds with a semantic-convention name attribute (``k8s.<kind>.name``).
_CONVENTION_KINDS = {
    ("apps", "Deployment"): "k8s.deployment.name",
    ("apps", "StatefulSet"): "k8s.statefulset.name",
    ("apps", "DaemonSet"): "k8s.daemonset.name",
    ("apps", "ReplicaSet"): "k8s.replicaset.name",
    ("batch", "Job"): "k8s.job.name",
    ("batch", "CronJob"): "k8s.cronjob.name",
    ("", "Pod"): "k8s.pod.name",
    ("", "Namespace"): NAMESPACE,
}

Attributes = dict[str, AttributeValue]

_MAX_TEXT = 500


def safe_text(text: str) -> str:
    """Free text fit for an attribute or a status: redacted and short."""
    cleaned = redact(text)
    return cleaned if len(cleaned) <= _MAX_TEXT else cleaned[: _MAX_TEXT - 3] + "..."


def object_attributes(ref: ObjectRef) -> Attributes:
    """Where an object is and what it is called, by the conventions where they exist."""
    attributes: Attributes = {"fleet.object.kind": ref.kind, "fleet.object.name": ref.name}
    if ref.group:
        attributes["fleet.object.group"] = ref.group
    if ref.namespace:
        attributes[NAMESPACE] = ref.namespace
    convention = _CONVENTION_KINDS.get((ref.group, ref.kind))
    if convention is not None and ref.name:
        attributes[convention] = ref.name
    return attributes


def revision_attributes(revision: Revision | None, repository: str | None = None) -> Attributes:
    """The commit (and, when known, the repository without its credentials)."""
    attributes: Attributes = {}
    if repository:
        attributes[REPOSITORY] = redact_url(repository)
    if revision is None:
        return attributes
    attributes[REVISION] = revision.sha
    ref = revision.ref
    for prefix, kind in (("refs/heads/", "branch"), ("refs/tags/", "tag")):
        if ref.startswith(prefix):
            attributes[REF_NAME] = ref.removeprefix(prefix)
            attributes[REF_TYPE] = kind
            break
    if revision.summary:
        attributes["fleet.commit.summary"] = safe_text(revision.summary)
    return attributes


def record_error(span: Span, message: str, error: BaseException | None = None) -> None:
    """Status Error with a redacted description, and an ``exception`` event.

    Not ``span.record_exception``: that writes the raw message and a stack trace, and
    another library's message may quote a credential.
    """
    text = safe_text(message or (str(error) if error is not None else "error"))
    span.set_status(Status(StatusCode.ERROR, text))
    if error is not None:
        span.add_event(
            "exception",
            {"exception.type": type(error).__name__, "exception.message": text},
        )
        span.set_attribute("error.type", type(error).__name__)

"""How fleet marks the objects it manages, and the annotation names it reads.

A label (``fleet.dev/app``) lets watches and lists select an app's objects cheaply; an
annotation (``fleet.dev/tracking-id``) names app, group, kind, namespace and name, so
that a label copied onto another object (by a Helm chart, or by hand) does not make fleet
think it owns it. Prune trusts only the annotation.
"""

from __future__ import annotations

from dataclasses import dataclass

from fleet.model.refs import ObjectRef

PREFIX = "fleet.dev/"

APP_LABEL = PREFIX + "app"
TRACKING_ANNOTATION = PREFIX + "tracking-id"

#: The field manager of every write fleet makes.
FIELD_MANAGER = "fleet"


def tracking_id(app: str, ref: ObjectRef) -> str:
    """``app:group/Kind:namespace/name``, the value of the tracking annotation."""
    return f"{app}:{ref.group}/{ref.kind}:{ref.namespace}/{ref.name}"


@dataclass(frozen=True, slots=True)
class TrackingId:
    app: str
    ref: ObjectRef


def parse_tracking_id(value: str) -> TrackingId | None:
    """The app and reference named by a tracking annotation, or None if malformed."""
    try:
        app, group_kind, namespaced_name = value.split(":", 2)
        group, kind = group_kind.split("/", 1)
        namespace, name = namespaced_name.split("/", 1)
    except ValueError:
        return None
    if not app or not kind or not name:
        return None
    return TrackingId(app=app, ref=ObjectRef(group, kind, namespace, name))

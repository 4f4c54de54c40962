"""Whose object is it: fleet writes only objects it created for this app, unless told to.

A live object in the way of a desired one is this app's when its tracking annotation
names this app and this very object. Otherwise fleet would take it over, and later delete
it when it leaves Git, so the sync is refused before anything is written:

- tracked by another fleet app: always refused (Argo CD's FailOnSharedResource, always on);
- made by someone else (no tracking annotation, an unreadable one, or one copied from
  another object): refused unless adoption is allowed.

Adoption is allowed by the app (``syncPolicy.adopt: true``), by the manifest in Git
(``fleet.dev/adopt: "true"``, or Flux's ``kustomize.toolkit.fluxcd.io/ssa: Merge``, which
says the object may exist already), or by the live object itself: ``fleet.dev/adopt:
"true"`` set by whoever made it, or the marks Argo CD and Flux leave on what they apply for
an application of the same name (Argo CD's ``argocd.argoproj.io/tracking-id``, Flux's
``kustomize.toolkit.fluxcd.io/name`` label), so an app moved over from either is taken over
where it stands. Pure: given the live object and the manifest's annotations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fleet.model import annotations as names
from fleet.model.refs import ObjectRef
from fleet.model.tracking import TRACKING_ANNOTATION, parse_tracking_id

Obj = Mapping[str, Any]

SHARED = "SharedResource"
REFUSED = "AdoptionRefused"


@dataclass(frozen=True, slots=True)
class ClaimProblem:
    """Why the sync may not write ``ref``: a reason word and a sentence."""

    reason: str
    message: str


def _meta(obj: Obj, key: str) -> Mapping[str, Any]:
    value = (obj.get("metadata") or {}).get(key)
    return value if isinstance(value, Mapping) else {}


def _flag(annotations: Mapping[str, Any]) -> bool | str:
    """The ``fleet.dev/adopt`` value: True, False, or the unreadable text."""
    if names.ADOPT not in annotations:
        return False
    text = str(annotations[names.ADOPT]).strip().lower()
    if text in ("true", "false"):
        return text == "true"
    return str(annotations[names.ADOPT])


def _same_app(owner_app: str, app: str) -> bool:
    # Argo CD names an app outside its own namespace "<namespace>_<app>".
    return owner_app == app or owner_app.endswith(f"_{app}")


def adoption_allowed(
    app: str, ref: ObjectRef, live: Obj, desired_annotations: Mapping[str, Any], adopt: bool
) -> bool | str:
    """Whether the app may take over ``live``; a string is an unreadable annotation."""
    for marks in (desired_annotations, _meta(live, "annotations")):
        flag = _flag(marks)
        if isinstance(flag, str):
            return flag
        if flag:
            return True
    if adopt:
        return True
    if str(desired_annotations.get(names.FLUX_SSA, "")).strip().lower() == "merge":
        return True
    argo = parse_tracking_id(str(_meta(live, "annotations").get(names.ARGO_TRACKING_ID, "")))
    if argo is not None and argo.ref == ref and _same_app(argo.app, app):
        return True
    return _meta(live, "labels").get(names.FLUX_KUSTOMIZATION_NAME) == app


def claim_problem(
    app: str,
    ref: ObjectRef,
    live: Obj | None,
    desired_annotations: Mapping[str, Any],
    adopt: bool,
) -> ClaimProblem | None:
    """Why this sync may not write ``ref`` over ``live``, or None when it may."""
    if live is None:
        return None
    value = _meta(live, "annotations").get(TRACKING_ANNOTATION)
    owner = parse_tracking_id(str(value)) if value is not None else None
    if owner is not None and owner.app != app:
        return ClaimProblem(SHARED, f"already tracked by app {owner.app!r}; nothing was changed")
    if owner is not None and owner.ref == ref:
        return None
    allowed = adoption_allowed(app, ref, live, desired_annotations, adopt)
    if allowed is True:
        return None
    if isinstance(allowed, str):
        return ClaimProblem(
            REFUSED,
            f"annotation {names.ADOPT}: expected 'true' or 'false', got {allowed!r};"
            " nothing was changed",
        )
    if value is None:
        whose = "exists on the cluster but fleet did not create it (no tracking annotation)"
    elif owner is None:
        whose = f"exists on the cluster with an unreadable tracking annotation {str(value)!r}"
    else:
        whose = f"exists on the cluster with a tracking annotation copied from {owner.ref}"
    return ClaimProblem(
        REFUSED,
        f"{whose}; fleet takes over objects it did not create only when allowed"
        f' (syncPolicy.adopt: true, or the annotation {names.ADOPT}: "true"); nothing was'
        " changed",
    )

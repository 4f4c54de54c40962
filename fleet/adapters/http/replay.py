"""Refusing webhook deliveries that were already received (replays).

A push only wakes pollers, so a replayed delivery cannot deploy anything; but each one
costs a fetch of every matching source, so a captured delivery sent again and again is
a cheap way to keep fleet and the Git server busy. Three checks, after the signature:

- the forge's delivery id (GitHub ``X-GitHub-Delivery``, GitLab ``X-Gitlab-Event-UUID``
  or ``Idempotency-Key``, Gitea ``X-Gitea-Delivery``, Standard Webhooks ``webhook-id``,
  fleet's ``X-Fleet-Delivery``) seen before within the window is a replay;
- the same signed body seen before within the window is a replay, whatever id it came
  with (GitHub and Gitea do not sign the id header, so a replayer could change it;
  every real push body differs, by its commits and ids);
- a signed timestamp (Standard Webhooks' ``webhook-timestamp``) further than the window
  from now is refused as stale.

Only deliveries whose signature was good are remembered, so nobody can make fleet
refuse a delivery it has not received yet. Memory is bounded.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping

from fleet.adapters.http.webhooks import WebhookRejected

#: Header names holding a delivery id, by forge (lower case).
DELIVERY_HEADERS: dict[str, tuple[str, ...]] = {
    "github": ("x-github-delivery",),
    "gitlab": ("x-gitlab-event-uuid", "idempotency-key", "webhook-id"),
    "gitea": ("x-gitea-delivery",),
    "generic": ("x-fleet-delivery", "idempotency-key"),
}
#: Deliveries remembered at most; beyond it the oldest are forgotten first.
MAX_REMEMBERED = 100_000


class ReplayGuard:
    def __init__(
        self,
        window: float,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.window = window
        self._monotonic = monotonic
        self._wall_clock = wall_clock
        self._seen: OrderedDict[str, float] = OrderedDict()

    def admit(self, forge: str, headers: Mapping[str, str], body: bytes) -> None:
        """Remember a verified delivery; raise WebhookRejected if it is a replay."""
        lowered = {name.lower(): value for name, value in headers.items()}
        self._check_timestamp(lowered.get("webhook-timestamp"))
        now = self._monotonic()
        self._forget_before(now - self.window)
        keys = [f"{forge} body {hashlib.sha256(body).hexdigest()}"]
        for name in DELIVERY_HEADERS.get(forge, ()):
            delivery = lowered.get(name, "").strip()
            if delivery:
                keys.append(f"{forge} id {delivery[:200]}")
        for key in keys:
            if key in self._seen:
                what = "delivery id" if " id " in key else "body"
                raise WebhookRejected(
                    409, f"replayed delivery refused: this {what} was already received"
                )
        for key in keys:
            self._seen[key] = now
        while len(self._seen) > MAX_REMEMBERED:
            self._seen.popitem(last=False)

    def _check_timestamp(self, text: str | None) -> None:
        if text is None:
            return
        try:
            sent = float(text.strip())
        except ValueError:
            raise WebhookRejected(401, "webhook-timestamp is not a number") from None
        if abs(self._wall_clock() - sent) > self.window:
            raise WebhookRejected(
                401, "webhook-timestamp is outside the replay window: stale or replayed delivery"
            )

    def _forget_before(self, oldest: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if at >= oldest:
                return
            del self._seen[key]

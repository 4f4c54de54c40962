"""The fake daemon's rollouts: a canned rollout per app, steered like the real one.

Shapes are those of ``AppRollout.as_json`` (fleet.runtime.rollout_state); the state
changes the way the coordinator's do (promote needs a soak, resume a halt or abort).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fleet.adapters.http.server import ApiError
from tests.cli.fakedaemon import SHA_A, SHA_B

JSON = dict[str, Any]


def rollout_state(app: str, status: str = "Soaking", **overrides: Any) -> JSON:
    state: JSON = {
        "app": app,
        "revision": SHA_B,
        "head": SHA_B,
        "trigger": "webhook",
        "status": status,
        "message": "wave canary soaking: it must stay healthy until its soak ends",
        "halt_reason": "",
        "automated": True,
        "rollback_on_halt": True,
        "clusters": {"dev": "Succeeded", "prod": "Pending", "staging": "Pending"},
        "revisions": {"dev": SHA_B, "prod": SHA_B, "staging": SHA_B},
        "pins": {},
        "holds": [],
        "rolled_back": {},
        "blocked": {},
        "waves": [
            {
                "name": "canary",
                "done": ["dev"],
                "in_progress": [],
                "pending": [],
                "failed": [],
                "soak_seconds": 600.0,
                "soak_left": 125.0,
                "failure_budget": 0,
                "budget_used": 0,
                "promoted": False,
            },
            {
                "name": "rest",
                "done": [],
                "in_progress": [],
                "pending": ["prod", "staging"],
                "failed": [],
                "soak_seconds": 0.0,
                "soak_left": None,
                "failure_budget": 1,
                "budget_used": 0,
                "promoted": False,
            },
        ],
    }
    state.update(overrides)
    return state


@dataclass
class FakeRollouts:
    states: dict[str, JSON] = field(default_factory=dict)
    actions: list[tuple[str, str]] = field(default_factory=list)
    rollbacks: list[JSON] = field(default_factory=list)

    def status(self, app: str) -> JSON:
        if app not in self.states:
            raise ApiError(404, f"no app named {app}")
        return self.states[app]

    def act(self, app: str, action: str) -> JSON:
        state = self.status(app)
        self.actions.append((app, action))
        allowed = {"resume": ("Halted", "Aborted"), "abort": ("Progressing", "Soaking", "Halted")}
        allowed["promote"] = ("Soaking",)
        if action not in allowed:
            raise ApiError(404, f"no rollout action {action!r} (one of resume, abort, promote)")
        if state["status"] not in allowed[action]:
            verb = {"resume": "nothing to resume", "abort": "nothing to abort"}
            why = verb.get(action, "no soak to skip")
            raise ApiError(409, f"the rollout of {app} is {state['status']}: {why}")
        if action == "promote":
            state["waves"][0].update(promoted=True, soak_left=None)
            state["waves"][1].update(pending=["staging"], in_progress=["prod"])
        state["status"] = {"resume": "Progressing", "abort": "Aborted"}.get(action, "Progressing")
        if action == "abort":
            state["halt_reason"] = "aborted by a user; prod, staging stay where they are"
        return state

    def rollback(
        self, app: str, cluster: str | None, to_sync_id: int | None, revision: str | None, now: bool
    ) -> JSON:
        self.status(app)
        self.rollbacks.append(
            {"app": app, "cluster": cluster, "to": to_sync_id, "revision": revision, "now": now}
        )
        if to_sync_id is not None and to_sync_id != 7:
            raise ApiError(404, f"no sync with id {to_sync_id}")
        clusters = [cluster] if cluster else ["dev", "prod", "staging"]
        first = clusters if now else clusters[:1]
        state = self.states[app]
        state["holds"] = [{"cluster": c, "revision": SHA_A, "reason": "rollback"} for c in clusters]
        return {
            "app": app,
            "queued": [{"cluster": c, "sync_id": None} for c in first],
            "waiting": [c for c in clusters if c not in first],
            "targets": dict.fromkeys(clusters, SHA_A),
            "skipped": {},
            "rollout": state,
        }

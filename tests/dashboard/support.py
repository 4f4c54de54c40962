"""What the dashboard tests share: a daemon with named tokens, a second app, signing in.

:func:`start_dashboard` starts ``fleet run`` from an e2e :class:`World` with two apps
(the seed's ``web`` and a small ``notes`` app in a namespace of its own), selfHeal off so
drift stays visible (the notes app's prune guard stops any deletion until it is
confirmed), and three tokens: the daemon's admin token, a ``read`` token and a
``sync`` token (``api_tokens`` in the settings, each from a file).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.dashboard.browser import Browser
from tests.e2e.daemon_support import JSON, FleetDaemon, World, eventually

APPS = ("web", "notes")


def notes_files(namespace: str, annotation: str = "plain") -> dict[str, str]:
    """The ``notes`` app: a Namespace and a ConfigMap (with one annotation and one value)."""
    return {
        "apps/notes/namespace.yaml": (
            f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {namespace}\n"
        ),
        "apps/notes/configmap.yaml": (
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
            f"  namespace: {namespace}\n  annotations:\n"
            f"    example.com/note: {annotation!r}\n"
            f"data:\n  note: {annotation!r}\n"
        ),
    }


@dataclass
class Dashboard:
    """A running daemon and what a test needs to use its pages."""

    world: World
    daemon: FleetDaemon
    tokens: dict[str, str]
    notes_namespace: str

    @property
    def url(self) -> str:
        return self.daemon.url

    @property
    def names(self) -> list[str]:
        return self.world.names

    async def converged(self, revision: str | None = None, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        for app in APPS:
            await self.daemon.wait_converged(
                self.names, revision or self.world.source.work.head(), timeout=timeout, app=app
            )


async def start_dashboard(
    w: World, *, rollout: JSON | None = None, wait: bool = True, **settings: Any
) -> Dashboard:
    """Commit the notes app, start the daemon with read and sync tokens (and the fleet's
    ``rollout`` if given); with ``wait``, wait for every app to converge."""
    notes_namespace = f"{w.namespace}-notes"
    for kube in w.kubes.values():
        if kube.handle.sim is None:
            w.stack.push_async_callback(kube.delete_namespace, notes_namespace)
    await w.source.commit("add the notes app", notes_files(notes_namespace))
    tokens = {"read": secrets.token_hex(16), "sync": secrets.token_hex(16)}
    entries = []
    for scope, value in tokens.items():
        path = w.directory / f"token-{scope}"
        path.write_text(value + "\n")
        path.chmod(0o600)
        entries.append({"name": f"{scope}-user", "token_file": str(path), "scopes": [scope]})
    config = w.config(sync_policy={"selfHeal": False})
    config["apps"].append(
        {
            "name": "notes",
            "source": "platform",
            "path": "apps/notes",
            "namespace": notes_namespace,
            "syncPolicy": {
                "automated": True,
                "prune": True,
                "selfHeal": False,
                # Deleting either of its two objects needs a confirmation.
                "pruneGuard": {"maxShare": 0.2, "minObjects": 1},
            },
        }
    )
    if rollout is not None:
        config["rollout"] = rollout
    daemon = await w.daemon(config, api_tokens=entries, **settings)
    dashboard = Dashboard(w, daemon, {**tokens, "admin": daemon.token}, notes_namespace)
    if wait:
        await dashboard.converged()
    return dashboard


async def sign_in(browser: Browser, dashboard: Dashboard, scope: str) -> None:
    """Sign in on /login with the token of ``scope`` (read, sync or admin)."""
    await browser.get(dashboard.url + "/login")
    await browser.wait_for("form input[name='token']", what="the login form")
    await browser.type_into("form input[name='token']", dashboard.tokens[scope])
    # The login form's own button (a signed-in header has a sign-out button before it).
    await browser.click("main form button[type='submit']")

    async def signed_in() -> bool:
        return "/login" not in await browser.url()

    seen: list[str] = []

    async def signed_in_or_why() -> bool:
        if await signed_in():
            return True
        seen[:] = [await browser.url(), (await browser.text())[:500]]
        return False

    await eventually(
        signed_in_or_why,
        timeout=10,
        what=f"signed in with the {scope} token",
        explain=lambda: "\n".join(seen),
    )


async def cells(browser: Browser) -> dict[tuple[str, str], JSON]:
    """The Fleet matrix as shown: (app, cluster) -> the cell's data-* and title."""
    found = await browser.elements("td.cell")
    # A cell's app is its column's header (th[data-app]), its cluster its row's
    # tr[data-cluster] (docs/dashboard.md, DOM contract).
    places = await browser.script(
        """
        const apps = [...document.querySelectorAll('table.matrix thead th')]
            .map(th => th.dataset.app || '');
        return [...document.querySelectorAll('td.cell')].map(td =>
            [apps[td.cellIndex] || '', td.parentElement.dataset.cluster || '']);
        """
    )
    assert len(places) == len(found), "the page changed while it was read"
    shown: dict[tuple[str, str], JSON] = {}
    for cell, (app, cluster) in zip(found, places, strict=True):
        assert app, f"a cell without its column's app: {cell}"
        assert cluster, f"a cell without its row's cluster: {cell}"
        cell["data"].update(app=app, cluster=cluster)
        key = (app, cluster)
        assert key not in shown, f"two cells for {key}"
        shown[key] = {
            **cell["data"],
            "title": cell["title"],
            "text": cell["text"],
            "symbols": " ".join(
                c.strip('"') for c in (cell["before"], cell["after"]) if c not in ("none", "")
            ),
        }
    return shown


async def counts(browser: Browser) -> dict[str, int]:
    found = await browser.elements("[data-count]")
    return {e["data"]["count"]: int(e["text"].strip()) for e in found}


def cell_is(cell: Mapping[str, Any] | None, sync: str, health: str | None = None) -> bool:
    return (
        cell is not None
        and cell.get("sync") == sync
        and (health is None or cell.get("health") == health)
    )

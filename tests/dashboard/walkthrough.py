"""The README's demo walk-through, followed on the dashboard in a headless Chromium.

    .venv/bin/python -m tests.dashboard.walkthrough [--dir DIR]

Starts the demo as ``fleet demo`` does (``setup_demo`` + ``run_demo``: three simulated
clusters dev, staging and prod, a Git repository, the daemon), signs in on the printed
dashboard URL with the demo's token, and checks that each step of the README shows on
the pages: the first convergence wave by wave on the Fleet page, a commit rolling out
dev -> staging -> prod with its subject and author in History, a hand-made drift healed
(Events, History, the cell back to Synced), and the revert rolling out the same way.
``test_walkthrough.py`` runs the same steps under pytest.
"""

from __future__ import annotations

import argparse
import io
import logging
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import aiohttp
import anyio

from fleet.runtime.demo import ENVIRONMENTS, dashboard_url, run_demo, setup_demo
from tests.dashboard.browser import Browser, chromium_paths, start_chromium
from tests.dashboard.support import cell_is, cells
from tests.e2e.daemon_support import eventually

AUTHOR = "Walk Through"
PATCH = "apps/web/overlays/prod/deployment-patch.yaml"


def git(repo: Path, *args: str) -> str:
    """git as a user at a terminal runs it (with a known author, for History)."""
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": AUTHOR,
        "GIT_AUTHOR_EMAIL": "walk@example.com",
        "GIT_COMMITTER_NAME": AUTHOR,
        "GIT_COMMITTER_EMAIL": "walk@example.com",
    }
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, env=env, capture_output=True, text=True
    )
    return done.stdout.strip()


async def _up(url: str) -> None:
    """Wait until the daemon answers (before the browser goes there)."""

    async def answers() -> bool:
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url + "login") as response,
            ):
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await eventually(answers, timeout=60, interval=0.3, what="the demo's dashboard")


async def _rollout(
    browser: Browser, revision: str, say: Callable[[str], None], what: str, limit: float
) -> None:
    """Watch the open Fleet page until every cluster shows ``revision`` Synced and
    Healthy; check the clusters got there in wave order (dev, staging, prod)."""
    short = revision[:7]
    reached: dict[str, float] = {}
    started = time.monotonic()
    with anyio.fail_after(limit):
        while len(reached) < len(ENVIRONMENTS):
            shown = await cells(browser)
            for env in ENVIRONMENTS:
                cell = shown.get(("web", env))
                if (
                    env not in reached
                    and cell_is(cell, "Synced", "Healthy")
                    and cell is not None
                    and cell.get("revision") == short
                ):
                    reached[env] = time.monotonic() - started
            await anyio.sleep(0.2)
    order = sorted(ENVIRONMENTS, key=lambda env: reached[env])
    say(f"  {what}: " + ", ".join(f"{env} at {reached[env]:.1f} s" for env in order))
    times = [reached[env] for env in ENVIRONMENTS]
    assert times == sorted(times), f"{what}: not wave by wave: {reached}"


async def _history_shows(browser: Browser, base: str, subject: str, trigger: str = "") -> None:
    """History (prod's syncs of web) lists a sync of the commit ``subject`` by AUTHOR."""
    await browser.get(base + "history?app=web&cluster=prod")

    async def listed() -> bool:
        rows = await browser.elements('tr[data-testid="history-row"]')
        subjects = await browser.elements(
            'tr[data-testid="history-row"] [data-testid="history-subject"]'
        )
        authors = await browser.elements(
            'tr[data-testid="history-row"] [data-testid="history-author"]'
        )
        return any(
            s["text"].strip() == subject and AUTHOR in a["text"] and trigger in r["text"]
            for r, s, a in zip(rows, subjects, authors, strict=False)
        )

    await eventually(listed, timeout=20, what=f"History lists a sync of {subject!r}")


async def walk(browser: Browser, directory: Path, say: Callable[[str], None]) -> None:
    """Run the demo in ``directory`` and follow the walk-through on its dashboard."""
    setup = setup_demo(directory, port=0)
    base = dashboard_url(setup)
    token = (directory / "api-token").read_text().strip()
    printed = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # run_demo logs to daemon.log
    try:
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(lambda: run_demo(setup, out=printed))
            await _up(base)
            assert f"dashboard: {base}" in printed.getvalue(), printed.getvalue()
            await _steps(browser, setup.repo, directory, base, token, say)
            await browser.get("about:blank")  # close the stream before the daemon stops
            tasks.cancel_scope.cancel()  # Ctrl-C
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


async def _steps(
    browser: Browser,
    repo: Path,
    directory: Path,
    base: str,
    token: str,
    say: Callable[[str], None],
) -> None:
    # Sign in with the token in demo-state/api-token.
    await browser.get(base + "login")
    await browser.type_into("form input[name='token']", token)
    await browser.click("main form button[type='submit']")
    await browser.wait_for("table.matrix", what="the Fleet page after signing in")
    groups = [g["text"].split("(")[0].strip() for g in await browser.elements("tr.group th")]
    assert groups == [f"wave {env}" for env in ENVIRONMENTS], groups

    # The demo converges, wave by wave.
    await _rollout(browser, git(repo, "rev-parse", "HEAD"), say, "first version", 120)

    # 1. Change a manifest and commit: dev, then staging, then prod.
    patch = repo / PATCH
    patch.write_text(patch.read_text().replace("replicas: 3", "replicas: 4"))
    git(repo, "commit", "-qam", "prod: four replicas")
    await _rollout(browser, git(repo, "rev-parse", "HEAD"), say, "prod: four replicas", 60)
    await _history_shows(browser, base, "prod: four replicas")

    kinds: list[str] = []

    async def four_pods() -> bool:
        await browser.get(base + "apps/web?cluster=prod")
        rows = await browser.elements('tr[data-testid="resource"]')
        kinds[:] = [f"{r['data'].get('kind')}/{r['data'].get('name')}" for r in rows]
        # The Deployment's Pods (a hook Job's Pod hangs off its Job).
        pods = [
            r
            for r in rows
            if r["data"].get("kind") == "Pod"
            and str(r["data"].get("parent", "")).startswith("ReplicaSet/")
        ]
        return len(pods) == 4

    await eventually(
        four_pods,
        timeout=30,
        interval=1,
        what="four Pods in prod's resource tree",
        explain=lambda: ", ".join(kinds),
    )

    # 2. Change a live object by hand: healed, the drift in Events and History.
    from kubernetes_asyncio import client, config

    async with await config.new_client_from_config(
        config_file=str(directory / "sim" / "kubeconfig"), context="prod", persist_config=False
    ) as api:
        apps = client.AppsV1Api(api)
        await apps.patch_namespaced_deployment_scale("web", "web", {"spec": {"replicas": 1}})
        await browser.get(base + "events?app=web&cluster=prod&type=drift")

        async def drift_listed() -> bool:
            found = await browser.elements('[data-testid="event"][data-type="drift"]')
            return any("healing" in e["text"] for e in found)

        await eventually(drift_listed, timeout=30, what="the drift on the Events page")

        async def healed() -> bool:
            scale = await apps.read_namespaced_deployment_scale("web", "web")
            return bool(scale.spec.replicas == 4)

        await eventually(healed, timeout=30, what="prod's web healed to four replicas")
    await browser.get(base + "history?app=web&cluster=prod")

    async def heal_listed() -> bool:
        rows = await browser.elements('tr[data-testid="history-row"]')
        return any("drift" in r["text"] and "Succeeded" in r["text"] for r in rows)

    await eventually(heal_listed, timeout=30, what="the healing sync in History")
    await browser.get(base)

    async def prod_synced() -> bool:
        return cell_is((await cells(browser)).get(("web", "prod")), "Synced", "Healthy")

    await eventually(prod_synced, timeout=30, what="prod's cell Synced again")
    say("  drift on prod: healed, in Events and History")

    # 3. Revert the commit: every cluster goes back, wave by wave.
    git(repo, "revert", "--no-edit", "HEAD")
    await _rollout(browser, git(repo, "rev-parse", "HEAD"), say, "the revert", 60)
    await _history_shows(browser, base, 'Revert "prod: four replicas"')


async def _main(directory: Path) -> None:
    paths = chromium_paths()
    if isinstance(paths, str):
        raise SystemExit(f"the walk-through needs Chromium: {paths}")
    driver = await anyio.to_thread.run_sync(lambda: start_chromium(*paths))
    try:
        browser = Browser(driver)
        await browser.reset()
        started = time.monotonic()
        await walk(browser, directory, print)
        print(f"the walk-through shows on the dashboard ({time.monotonic() - started:.0f} s)")
    finally:
        await anyio.to_thread.run_sync(driver.quit)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="the demo's directory (default: a new one)")
    args = parser.parse_args()
    if args.dir is not None:
        anyio.run(_main, args.dir)
        return
    with tempfile.TemporaryDirectory(prefix="fleet-walkthrough-") as scratch:
        anyio.run(_main, Path(scratch) / "demo-state")


if __name__ == "__main__":
    main()

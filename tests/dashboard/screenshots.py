"""The README's dashboard screenshots, taken from a real daemon on simulated clusters.

    .venv/bin/python -m tests.dashboard.screenshots [--out docs/img]

Starts three simulated clusters (dev, staging, prod) with the seed's ``web`` app and a
``notes`` app, lets them converge, makes one drift so the pages have something to show,
then saves ``dashboard-fleet.png``, ``dashboard-app.png``, ``dashboard-diff.png``,
``dashboard-history.png`` (light) and ``dashboard-fleet-dark.png`` with the same headless
Chromium the tests use.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import anyio

from tests.dashboard.browser import Browser, chromium_paths, start_chromium
from tests.dashboard.support import cell_is, cells, sign_in, start_dashboard
from tests.e2e.conftest import cluster_handles
from tests.e2e.daemon_support import REPLICAS, eventually, world

REPO_ROOT = Path(__file__).resolve().parents[2]


async def take(out: Path) -> list[Path]:
    paths = chromium_paths()
    if isinstance(paths, str):
        raise SystemExit(f"screenshots need Chromium: {paths}")
    saved: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="fleet-screenshots-") as scratch:
        directory = Path(scratch)
        driver = await anyio.to_thread.run_sync(
            lambda: start_chromium(*paths, width=1280, height=900)
        )
        try:
            async with (
                cluster_handles(directory, 3) as handles,
                world(handles, directory) as w,
            ):
                dashboard = await start_dashboard(w)
                browser = Browser(driver)
                await browser.reset()
                await sign_in(browser, dashboard, "sync")

                # A commit that rolls out, then a hand-made drift on prod, so the matrix,
                # History and the App page have something to show.
                greeting = w.edited(
                    "base/configmap.yaml",
                    lambda doc: doc["data"].update({"GREETING": "bonjour from fleet"}),
                )
                await w.commit("web: greet in French", {"base/configmap.yaml": greeting})
                await dashboard.converged()
                prod = dashboard.names[-1]
                await w.kubes[prod].scale(w.namespace, "web", REPLICAS[w.env_of(prod)] + 2)
                await browser.get(dashboard.url + "/")

                async def drift_shown() -> bool:
                    return cell_is((await cells(browser)).get(("web", prod)), "OutOfSync")

                await eventually(drift_shown, timeout=20, what="the drift on the page")
                await anyio.sleep(1)  # the live indicator settles
                for name, path, scheme in (
                    ("dashboard-fleet.png", "/?group=env", "light"),
                    ("dashboard-app.png", "/apps/web", "light"),
                    ("dashboard-diff.png", f"/apps/web/diff?cluster={prod}", "light"),
                    ("dashboard-history.png", "/history", "light"),
                    ("dashboard-fleet-dark.png", "/?group=env", "dark"),
                ):
                    await browser.color_scheme(scheme)
                    await browser.get(dashboard.url + path)
                    await browser.wait_for("main")
                    await anyio.sleep(1)
                    await browser.screenshot(out / name)
                    saved.append(out / name)
                await browser.get("about:blank")
        finally:
            await anyio.to_thread.run_sync(driver.quit)
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "img")
    args = parser.parse_args()
    for path in anyio.run(take, args.out):
        print(path)


if __name__ == "__main__":
    main()

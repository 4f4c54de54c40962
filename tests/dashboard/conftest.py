"""Fixtures for the dashboard's browser tests: one Chromium, one daemon per module.

- ``browser``: a headless Chromium (session-wide, reset before each test: blank page,
  no cookies, light mode). The module is skipped, saying why, when chromium,
  chromedriver or selenium is missing. After every test the browser's console is read,
  and any SEVERE entry (a JavaScript error, a failed request) fails the test, except the
  entries the test said it expects (``console_allow``).
- ``axe``: axe-core's script, installed with npm on first use; skipped when npm is
  missing and nothing is cached.
- ``dash_world``: the e2e world (clusters from ``cluster_handles``, so real clusters via
  FLEET_TEST_KUBECONFIG work too; a Git server with the seed app) shared by a module.
  Modules start their daemon from it in a module fixture of their own. ``cluster_count``
  here is module-scoped; a module overrides it the same way.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.browser import (
    Browser,
    axe_source,
    chromium_paths,
    selenium_missing,
    start_chromium,
)
from tests.e2e.conftest import cluster_handles
from tests.e2e.daemon_support import World, world


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    """Module-wide, so one event loop serves a module's clusters, daemon and tests."""
    return "asyncio"


@pytest.fixture(scope="module")
def cluster_count() -> int:
    return 2


@pytest.fixture(scope="session")
def _chromium() -> Iterator[Any]:
    paths = chromium_paths()
    if isinstance(paths, str):
        pytest.skip(f"browser tests need Chromium: {paths}")
    missing = selenium_missing()
    if missing:
        pytest.skip(f"browser tests need Selenium: {missing}")
    driver = start_chromium(*paths)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def axe_script() -> str:
    try:
        return axe_source()
    except FileNotFoundError as error:
        pytest.skip(f"accessibility checks need axe-core from npm: {error}")


class ConsoleAllow:
    """Console messages a test expects (regular expressions), e.g. a refused POST."""

    def __init__(self) -> None:
        self.patterns: list[re.Pattern[str]] = []

    def __call__(self, pattern: str) -> None:
        self.patterns.append(re.compile(pattern))

    def allows(self, message: str) -> bool:
        return any(p.search(message) for p in self.patterns)


@pytest.fixture
def console_allow() -> ConsoleAllow:
    return ConsoleAllow()


@pytest.fixture
async def browser(_chromium: Any, console_allow: ConsoleAllow) -> AsyncIterator[Browser]:
    page = Browser(_chromium)
    await page.reset()
    yield page
    entries = await page.console()
    await page.get("about:blank")  # close the page's event stream before the daemon stops
    severe = [
        e
        for e in entries
        if e.get("level") == "SEVERE" and not console_allow.allows(str(e.get("message", "")))
    ]
    assert not severe, "the browser's console has errors:\n" + "\n".join(
        f"  {e.get('source')}: {e.get('message')}" for e in severe
    )


@pytest.fixture(scope="module")
async def dash_world(
    tmp_path_factory: pytest.TempPathFactory, cluster_count: int
) -> AsyncIterator[World]:
    directory: Path = tmp_path_factory.mktemp("dashboard")
    async with (
        cluster_handles(directory, cluster_count) as handles,
        world(handles, directory) as w,
    ):
        yield w

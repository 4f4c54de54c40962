"""The README's walk-through (``make demo``, then commit, drift, revert) can be followed
on the dashboard: the demo itself, started as ``fleet demo`` starts it, watched in a
real Chromium (tests/dashboard/walkthrough.py; about 35 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dashboard.browser import Browser
from tests.dashboard.walkthrough import walk

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.browser]


async def test_the_demo_walk_through_shows_on_the_dashboard(
    browser: Browser, tmp_path: Path
) -> None:
    await walk(browser, tmp_path / "demo-state", print)

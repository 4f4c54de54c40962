"""A real headless Chromium for the dashboard tests, driven by Selenium.

The browser is Debian's ``chromium`` and the driver Debian's ``chromedriver`` (both from
apt; ``FLEET_TEST_CHROMIUM`` and ``FLEET_TEST_CHROMEDRIVER`` point elsewhere). Both paths
are given to Selenium explicitly and Selenium Manager is told to stay offline, so nothing
is downloaded at test time.

Selenium blocks; the simulated clusters run on the test's event loop. So every call into
the browser goes through :meth:`Browser.call` (a worker thread), and waiting is done with
:func:`~tests.e2e.daemon_process.eventually` around short probes, never with Selenium's
own blocking waits, or the clusters would stall while the page waits for them.

axe-core comes from the npm registry, installed once per machine by :func:`axe_source`
into a cache directory (``FLEET_TEST_CACHE``, default ``~/.cache/fleet-tests``) with a
pinned version, and is injected into each page with ``execute_script``: chromedriver
evaluates such scripts through the DevTools protocol, which the page's
Content-Security-Policy does not govern.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio

from tests.e2e.daemon_process import eventually

T = TypeVar("T")

#: axe-core's version, pinned: a new release may add rules, which is a change to review.
AXE_VERSION = "4.14.1"
#: Impacts that fail a page.
AXE_FAILING = ("serious", "critical")


def chromium_paths() -> tuple[str, str] | str:
    """(browser, driver) paths, or why there are none."""
    browser = os.environ.get("FLEET_TEST_CHROMIUM") or shutil.which("chromium") or ""
    driver = os.environ.get("FLEET_TEST_CHROMEDRIVER") or shutil.which("chromedriver") or ""
    missing = [
        name
        for name, path in (("chromium", browser), ("chromedriver", driver))
        if not path or not os.access(path, os.X_OK)
    ]
    if missing:
        return (
            f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver, "
            "or set FLEET_TEST_CHROMIUM / FLEET_TEST_CHROMEDRIVER)"
        )
    return browser, driver


def selenium_missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


def start_chromium(browser: str, driver: str, *, width: int = 1400, height: int = 1000) -> Any:
    """A headless Chromium with its console log kept (every level)."""
    # Selenium Manager runs only when a path is missing; offline, it could never download.
    os.environ["SE_OFFLINE"] = "true"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in (
        "--headless=new",
        "--no-sandbox",  # containers and CI runners have no user namespaces for it
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--password-store=basic",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver, log_output=subprocess.DEVNULL)
    chrome = webdriver.Chrome(service=service, options=options)
    chrome.set_page_load_timeout(30)
    chrome.set_script_timeout(30)
    return chrome


def axe_source(cache_root: Path | None = None) -> str:
    """axe.min.js of :data:`AXE_VERSION`, installed with npm into the cache on first use.

    Raises :class:`FileNotFoundError` when npm is missing and nothing is cached.
    """
    root = cache_root or Path(
        os.environ.get("FLEET_TEST_CACHE") or Path.home() / ".cache" / "fleet-tests"
    )
    prefix = root / f"axe-core-{AXE_VERSION}"
    script = prefix / "node_modules" / "axe-core" / "axe.min.js"
    if not script.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise FileNotFoundError("npm is not installed (apt-get install npm)")
        prefix.mkdir(parents=True, exist_ok=True)
        # npm checks the tarball against the registry's integrity hash.
        subprocess.run(
            [
                npm,
                "install",
                "--prefix",
                str(prefix),
                "--no-audit",
                "--no-fund",
                "--no-save",
                "--ignore-scripts",
                f"axe-core@{AXE_VERSION}",
            ],
            check=True,
            capture_output=True,
            timeout=300,
        )
        installed = json.loads((script.parent / "package.json").read_text())["version"]
        assert installed == AXE_VERSION, f"npm installed axe-core {installed}"
    return script.read_text()


class Browser:
    """One Chromium window, with async helpers that never block the event loop."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await anyio.to_thread.run_sync(partial(function, *args, **kwargs))

    # -- navigation and reading ---------------------------------------------------------

    async def get(self, url: str) -> None:
        await self.call(self.driver.get, url)

    async def script(self, source: str, *args: Any) -> Any:
        return await self.call(self.driver.execute_script, source, *args)

    async def url(self) -> str:
        return str(await self.call(lambda: self.driver.current_url))

    async def title(self) -> str:
        return str(await self.call(lambda: self.driver.title))

    async def text(self, css: str = "body") -> str:
        """The visible text of the first element matching ``css`` ('' when none)."""
        found = await self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.innerText : '';", css
        )
        return str(found)

    async def elements(self, css: str) -> list[dict[str, Any]]:
        """Every element matching ``css``: its data-* attributes, text, title, tag, and the
        content of its ``::before`` and ``::after`` (where a style sheet puts symbols)."""
        result: list[dict[str, Any]] = await self.script(
            """
            return [...document.querySelectorAll(arguments[0])].map(e => ({
                tag: e.tagName.toLowerCase(),
                data: Object.assign({}, e.dataset),
                text: e.innerText,
                title: e.getAttribute('title') || '',
                href: e.getAttribute('href') || '',
                visible: !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length),
                before: getComputedStyle(e, '::before').content,
                after: getComputedStyle(e, '::after').content,
            }));
            """,
            css,
        )
        return result

    async def wait_for(
        self,
        css: str,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109
        what: str | None = None,
    ) -> list[dict[str, Any]]:
        """Elements matching ``css``, once there are some."""

        last_text: list[str] = []

        async def probe() -> list[dict[str, Any]] | None:
            found = await self.elements(css)
            if not found:  # what the page said instead, for the failure message
                last_text[:] = [(await self.text())[:2000]]
            return found or None

        return await eventually(
            probe,
            timeout=timeout,
            what=what or f"an element {css}",
            interval=0.05,
            explain=lambda: "page text:\n" + "".join(last_text),
        )

    async def click(self, css: str, *, navigates: bool = True) -> None:
        """Click the first element matching ``css``; with ``navigates`` (a form's button,
        a link), return once the page it leads to has loaded.

        A live update may swap the element between finding and clicking it: find again.
        """
        before = await self.mark_window() if navigates else None

        def click() -> None:
            from selenium.common.exceptions import StaleElementReferenceException
            from selenium.webdriver.common.by import By

            for attempt in range(5):
                try:
                    self.driver.find_element(By.CSS_SELECTOR, css).click()
                    return
                except StaleElementReferenceException:
                    if attempt == 4:
                        raise
                    time.sleep(0.05)

        await self.call(click)
        if before is not None:
            await self.wait_new_document(before)

    async def wait_new_document(self, marker: str) -> None:
        """Wait until the window no longer holds ``marker`` and the new page has loaded."""
        from selenium.common.exceptions import WebDriverException

        async def loaded() -> bool:
            try:
                now, state = await self.script(
                    "return [window.__fleetTestMarker || null, document.readyState];"
                )
            except WebDriverException:  # between two documents
                return False
            return bool(now != marker and state == "complete")

        await eventually(loaded, timeout=15, what="the page a click led to", interval=0.05)

    async def click_link(self, text: str, within: str = "body") -> None:
        """Follow the first link inside ``within`` whose text contains ``text``."""

        async def link_index() -> int | None:
            found = await self.script(
                """
                const links = [...document.querySelectorAll(arguments[0] + ' a[href]')];
                const i = links.findIndex(a => a.innerText.includes(arguments[1]));
                return i < 0 ? null : i;
                """,
                within,
                text,
            )
            return None if found is None else int(found) + 1

        index = await eventually(link_index, timeout=10, what=f"a link {text!r} in {within}")
        before = await self.mark_window()

        def click() -> None:
            from selenium.webdriver.common.by import By

            self.driver.find_elements(By.CSS_SELECTOR, f"{within} a[href]")[index - 1].click()

        await self.call(click)
        await self.wait_new_document(before)

    async def type_into(self, css: str, text: str) -> None:
        def type_text() -> None:
            from selenium.webdriver.common.by import By

            field = self.driver.find_element(By.CSS_SELECTOR, css)
            field.clear()
            field.send_keys(text)

        await self.call(type_text)

    async def tab_through(self, presses: int) -> list[dict[str, str]]:
        """Press Tab ``presses`` times; what had focus after each press (tag, href, text,
        and its outline, which must show where the focus is)."""

        def run() -> list[dict[str, str]]:
            from selenium.webdriver.common.action_chains import ActionChains
            from selenium.webdriver.common.keys import Keys

            seen = []
            for _ in range(presses):
                ActionChains(self.driver).send_keys(Keys.TAB).perform()
                seen.append(
                    self.driver.execute_script(
                        """
                        const e = document.activeElement;
                        const style = getComputedStyle(e);
                        return {tag: e.tagName.toLowerCase(), href: e.getAttribute('href') || '',
                                text: (e.innerText || e.value || '').trim().slice(0, 40),
                                outline: style.outlineStyle + ' ' + style.outlineWidth};
                        """
                    )
                )
            return seen

        return await self.call(run)

    async def mark_window(self) -> str:
        """Set a marker on ``window``: it survives live updates, not a reload."""
        marker = os.urandom(8).hex()
        await self.script("window.__fleetTestMarker = arguments[0];", marker)
        return marker

    async def marker(self) -> str | None:
        found = await self.script("return window.__fleetTestMarker || null;")
        return None if found is None else str(found)

    # -- the console -------------------------------------------------------------------

    async def console(self) -> list[dict[str, Any]]:
        """Console entries since the last call (the driver hands each out once)."""
        entries: list[dict[str, Any]] = await self.call(self.driver.get_log, "browser")
        return entries

    async def reset(self) -> None:
        """A blank page, no cookies, light mode: the state every test starts from."""
        await self.get("about:blank")
        await self.call(self.driver.execute_cdp_cmd, "Network.clearBrowserCookies", {})
        await self.color_scheme("light")
        await self.console()

    async def color_scheme(self, scheme: str) -> None:
        await self.call(
            self.driver.execute_cdp_cmd,
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
        )

    async def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self.call(self.driver.save_screenshot, str(path))

    # -- accessibility -----------------------------------------------------------------

    async def axe(self, axe_script: str) -> list[dict[str, Any]]:
        """axe-core's violations on the current page (every impact)."""
        await self.script(axe_script)

        def run() -> Any:
            return self.driver.execute_async_script(
                """
                const done = arguments[arguments.length - 1];
                axe.run(document, {resultTypes: ['violations']})
                    .then(r => done(r.violations.map(v => ({
                        id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ')),
                    }))))
                    .catch(e => done({error: String(e)}));
                """
            )

        result = await self.call(run)
        assert not (isinstance(result, dict) and "error" in result), result
        violations: list[dict[str, Any]] = result
        return violations

    async def assert_accessible(self, page: str, axe_script: str) -> None:
        violations = await self.axe(axe_script)
        failing = [v for v in violations if v["impact"] in AXE_FAILING]
        assert not failing, f"{page}: axe-core found serious problems:\n" + "\n".join(
            f"  {v['impact']} {v['id']}: {v['help']} at {v['nodes']}" for v in failing
        )

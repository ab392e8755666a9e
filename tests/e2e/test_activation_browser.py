"""End to end in headless Chromium (Debian's package, driven by Playwright): an agent opens
a family dossier and activates it, the parent follows the e-mailed link, sets a password
and reaches the dashboard. axe-core checks the login and dashboard pages."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core import mail
from django.test.testcases import LiveServerThread

from shared_identity.models import Membership
from tenants.models import Commune
from tests.conftest import PASSWORD, make_staff

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

pytestmark = pytest.mark.browser


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
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _axe_violations(page) -> list[dict]:
    page.add_script_tag(content=AXE.read_text())
    result = page.evaluate("async () => JSON.stringify(await axe.run(document))")
    return [v for v in json.loads(result)["violations"] if v["impact"] in ("serious", "critical")]


def test_agent_activates_a_family_and_the_parent_reaches_the_dashboard(live_url, browser):
    # given an agent of JolieVille
    commune = Commune.objects.get(slug="jolieville")
    make_staff(commune, "agent@jolieville.test")
    mail.outbox.clear()
    agent = browser.new_page()

    # when the agent signs in, opens a dossier and sends the activation link
    agent.goto(f"{live_url}/c/jolieville/console/")
    agent.fill("#id_username", "agent@jolieville.test")
    agent.fill("#id_password", PASSWORD)
    agent.get_by_role("button", name="Se connecter").click()
    agent.get_by_role("link", name="Créer un dossier famille").first.click()
    agent.fill("#id_family_name", "Sanchez")
    agent.fill("#id_guardian_first_name", "Sofia")
    agent.fill("#id_guardian_last_name", "Sanchez")
    agent.fill("#id_guardian_email", "sofia@example.fr")
    agent.fill("#id_children-0-first_name", "Alvaro")
    agent.fill("#id_children-0-last_name", "Sanchez")
    agent.fill("#id_children-0-birth_date", "2016-11-14")
    agent.get_by_role("button", name="Créer le dossier").click()
    agent.get_by_role("button", name="Activer et envoyer le lien").click()
    assert "Envoyé" in agent.content()

    # then the parent gets an e-mail with a one-time link
    assert len(mail.outbox) == 1
    path = re.search(r"https?://[^/\s]+(/c/jolieville/activation/\S+/)", mail.outbox[0].body).group(1)

    parent = browser.new_context(viewport={"width": 375, "height": 800}).new_page()
    parent.goto(f"{live_url}/connexion/")
    assert _axe_violations(parent) == []
    parent.goto(live_url + path)
    parent.fill("#id_phone", "0601020304")
    parent.fill("#id_password", "Le-cartable-bleu-2026")
    parent.fill("#id_password_confirmation", "Le-cartable-bleu-2026")
    parent.get_by_role("button", name="Enregistrer").click()
    parent.wait_for_url(f"{live_url}/")
    page = parent.content()
    assert "Commune de JolieVille" in page
    assert "Alvaro" in page
    assert _axe_violations(parent) == []
    # and the dossier is active
    assert Membership.objects.get(family__name="Sanchez").status == Membership.Status.ACTIVE

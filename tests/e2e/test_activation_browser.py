"""End to end in headless Chromium (Debian's package, driven by Playwright): an agent opens
a family dossier and activates it, the parent follows the e-mailed link, sets a password
and reaches the dashboard. axe-core checks the login and dashboard pages."""

from __future__ import annotations

import re

import pytest
from django.core import mail

from shared_identity.models import Membership
from tenants.models import Commune
from tests.conftest import PASSWORD, make_staff
from tests.e2e.conftest import axe_violations

pytestmark = pytest.mark.browser


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
    assert axe_violations(parent) == []
    parent.goto(live_url + path)
    parent.fill("#id_phone", "0601020304")
    parent.fill("#id_password", "Le-cartable-bleu-2026")
    parent.fill("#id_password_confirmation", "Le-cartable-bleu-2026")
    parent.get_by_role("button", name="Enregistrer").click()
    parent.wait_for_url(f"{live_url}/")
    page = parent.content()
    assert "Commune de JolieVille" in page
    assert "Alvaro" in page
    assert axe_violations(parent) == []
    # and the dossier is active
    assert Membership.objects.get(family__name="Sanchez").status == Membership.Status.ACTIVE

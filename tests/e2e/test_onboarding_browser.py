"""In Chromium, a new commune from start to finish: an operator provisions it; its admin opens
the invitation e-mail, creates an account and follows the onboarding checklist (identity with
a logo, a service, a site, a "Repas" prestation with its price, deadlines and opening days, the
régie with a Mollie test key checked against the fake Mollie server, the default request
categories, an agent invited), then opens it to families; families are kept out until then.
The admin opens a family dossier, enrols the child and sends the activation e-mail; the parent
activates the account and books a meal for next week from the week view. axe-core checks the
checklist page.

Online payment is switched on with a test key, and the meal is billed at month end: the cart
is validated without a checkout, which the payment browser test covers."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.core import mail
from django_otp.plugins.otp_totp.models import TOTPDevice
from PIL import Image

from billing.fake_mollie import TEST_KEY
from reservations.models import Booking
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tenants.models import Commune
from tests.billing.conftest import fake_mollie, mollie  # noqa: F401 (fixtures)
from tests.conftest import PASSWORD, make_operator
from tests.e2e.conftest import axe_violations
from tests.test_two_factor import current_code

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "La-mairie-ouvre-en-2027"
PARENT_PASSWORD = "Le-cartable-bleu-2026"


def _link(pattern: str) -> str:
    """The path of the link of the last e-mail that has one matching ``pattern``."""
    for message in reversed(mail.outbox):
        found = re.search(rf"https?://[^/\s]+({pattern})", message.body)
        if found:
            return found.group(1)
    raise AssertionError(f"no e-mail with a link matching {pattern}")


def _logo() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 40), (15, 118, 110)).save(buffer, "PNG")
    return buffer.getvalue()


def _sign_in(page, live_url: str, email: str, password: str) -> None:
    page.goto(f"{live_url}/connexion/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Se connecter").click()


def _checklist(page, live_url: str) -> None:
    page.goto(f"{live_url}/c/bourg/console/mise-en-service/")


def test_a_new_commune_goes_from_the_invitation_to_a_family_booking_a_meal(
    live_url,
    browser,
    mollie,  # noqa: F811
):
    # given a platform operator (with an authenticator app: operators must have one), who
    # provisions "Bourg-la-Forêt" from the operator console
    device = TOTPDevice.objects.get(user=make_operator("operateur@foyer.test"))
    mail.outbox.clear()
    operator = browser.new_page()
    _sign_in(operator, live_url, "operateur@foyer.test", PASSWORD)
    operator.wait_for_url(f"{live_url}/connexion/verification/")
    operator.fill("#id_code", current_code(device))
    operator.get_by_role("button", name="Vérifier").click()
    operator.goto(f"{live_url}/operateur/communes/nouvelle/")
    operator.fill("#id_name", "Bourg-la-Forêt")
    operator.fill("#id_slug", "bourg")
    operator.fill("#id_admin_email", "maire@bourg.fr")
    operator.get_by_role("button", name="Créer", exact=True).click()
    assert "En préparation" in operator.content()
    commune = Commune.objects.get(slug="bourg")
    assert commune.opened_at is None

    # and families do not get in yet
    visitor = browser.new_page()
    visitor.goto(f"{live_url}/c/bourg/")
    assert "Bourg-la-Forêt prépare son espace famille" in visitor.content()

    # when the admin follows the link of the invitation e-mail and creates the account
    admin = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    admin.goto(live_url + _link(r"/c/bourg/console/invitation/\S+/"))
    admin.fill("#id_first_name", "Maïa")
    admin.fill("#id_last_name", "Durand")
    admin.fill("#id_password", ADMIN_PASSWORD)
    admin.fill("#id_password_confirmation", ADMIN_PASSWORD)
    admin.get_by_role("button", name="Créer mon compte").click()

    # then the admin lands on the checklist, which says what is missing
    admin.wait_for_url(f"{live_url}/c/bourg/console/mise-en-service/")
    page = admin.content()
    assert "Mise en service de Bourg-la-Forêt" in page
    assert "Les mentions légales ne sont pas renseignées." in page
    assert axe_violations(admin) == []

    # identity and branding, with a logo
    admin.get_by_role("link", name="Compléter : Identité et charte").click()
    assert axe_violations(admin) == []
    admin.fill("#id_brand_colour", "#0f766e")
    admin.fill("#id_contact_email", "mairie@bourg.fr")
    admin.fill("#id_legal_mentions", "Éditeur : commune de Bourg-la-Forêt.\nHébergeur : Foyer.")
    admin.set_input_files(
        "#id_logo", files=[{"name": "logo.png", "mimeType": "image/png", "buffer": _logo()}]
    )
    admin.get_by_role("button", name="Enregistrer").click()
    admin.wait_for_url(f"{live_url}/c/bourg/console/mise-en-service/")
    assert "L'identité de la commune est enregistrée." in admin.content()
    assert admin.locator("img.logo").evaluate("img => img.naturalWidth") == 120

    # the catalogue: the checklist leads to the service, then the site, then the prestation
    admin.get_by_role("link", name="Compléter : Services, sites, prestations, tarifs et délais").click()
    admin.fill("#id_name", "Restauration scolaire")
    admin.get_by_role("button", name="Enregistrer").click()
    _checklist(admin, live_url)
    admin.get_by_role("link", name="Compléter : Services, sites, prestations, tarifs et délais").click()
    admin.fill("#id_name", "École du Parc")
    admin.get_by_label("Restauration scolaire").check()
    admin.get_by_role("button", name="Enregistrer").click()
    _checklist(admin, live_url)
    admin.get_by_role("link", name="Compléter : Services, sites, prestations, tarifs et délais").click()
    admin.select_option("#id_service", label="Restauration scolaire")
    admin.fill("#id_label", "Repas")
    admin.fill("#id_code", "REPAS")
    admin.select_option("#id_billing_mode", "month_end")
    for weekday in ("lundi", "mardi", "jeudi", "vendredi"):
        admin.get_by_label(weekday, exact=True).check()
    admin.select_option("#id_period", "all")
    admin.select_option("#id_booking_rule_kind", "days_before")
    admin.fill("#id_booking_rule_days", "2")
    admin.fill("#id_booking_rule_cutoff", "10:00")
    admin.select_option("#id_cancellation_rule_kind", "days_before")
    admin.fill("#id_cancellation_rule_days", "1")
    admin.fill("#id_cancellation_rule_cutoff", "18:00")
    admin.fill("#id_base_price", "3,50")
    admin.get_by_label("École du Parc", exact=True).check()
    admin.get_by_role("button", name="Enregistrer").click()
    assert "« Repas (REPAS) » est enregistré." in admin.content()

    # the régie, with a Mollie test key that the (fake) Mollie accepts
    _checklist(admin, live_url)
    admin.get_by_role("link", name="Compléter : Régie et paiement en ligne").click()
    admin.get_by_role("link", name="Régie principale").click()
    admin.fill("#id_name", "Restauration scolaire")
    admin.fill("#id_regie_code", "BF")
    admin.fill("#id_mollie_key", TEST_KEY)
    admin.check("#id_online_payment")
    admin.get_by_role("button", name="Enregistrer").click()
    assert "Régie « Restauration scolaire » enregistrée." in admin.content()

    # the default request categories are kept; an agent is invited
    _checklist(admin, live_url)
    assert "4 catégories sont proposées aux familles" in admin.content()
    admin.get_by_role("link", name="Compléter : Équipe (admin, agents)").click()
    admin.fill("#id_email", "agent@bourg.fr")
    admin.select_option("#id_role", StaffRole.Role.AGENT)
    admin.get_by_role("button", name="Envoyer l'invitation").click()
    assert "L'invitation part vers agent@bourg.fr." in admin.content()

    # and opens the commune to families
    _checklist(admin, live_url)
    assert "6 étapes faites sur 7" in admin.content()
    admin.get_by_role("button", name="Ouvrir aux familles").click()
    assert "Bourg-la-Forêt est ouverte aux familles" in admin.content()
    assert "7 étapes faites sur 7" in admin.content()

    # then the admin opens a family dossier, enrols the child and sends the activation e-mail
    admin.goto(f"{live_url}/c/bourg/console/familles/nouvelle/")
    admin.fill("#id_family_name", "Sanchez")
    admin.fill("#id_guardian_first_name", "Sofia")
    admin.fill("#id_guardian_last_name", "Sanchez")
    admin.fill("#id_guardian_email", "sofia@example.fr")
    admin.fill("#id_children-0-first_name", "Alvaro")
    admin.fill("#id_children-0-last_name", "Sanchez")
    admin.fill("#id_children-0-birth_date", "2018-11-14")
    admin.get_by_role("button", name="Créer le dossier").click()
    today = dt.date.today()
    next_monday = today + dt.timedelta(days=7 - today.weekday())
    admin.select_option("#id_inscription-child", index=1)
    admin.select_option("#id_inscription-service", label="Restauration scolaire")
    admin.select_option("#id_inscription-site", label="École du Parc")
    admin.fill("#id_inscription-start", today.isoformat())
    admin.fill("#id_inscription-end", (today + dt.timedelta(days=120)).isoformat())
    admin.get_by_role("button", name="Inscrire").click()
    assert "Alvaro Sanchez est inscrit(e) : Restauration scolaire, École du Parc." in admin.content()
    admin.get_by_role("button", name="Activer et envoyer le lien").click()

    # and the parent activates the account from the e-mail and books Thursday of next week
    parent = browser.new_context(viewport={"width": 375, "height": 800}).new_page()
    parent.goto(live_url + _link(r"/c/bourg/activation/\S+/"))
    parent.fill("#id_password", PARENT_PASSWORD)
    parent.fill("#id_password_confirmation", PARENT_PASSWORD)
    parent.get_by_role("button", name="Enregistrer").click()
    parent.wait_for_url(f"{live_url}/")
    assert "Bourg-la-Forêt" in parent.content()
    parent.goto(f"{live_url}/reservations/?semaine={next_monday.isoformat()}")
    parent.get_by_role("button", name="Réserver Alvaro Repas jeudi").click()
    assert "Dans le panier" in parent.content()
    parent.goto(f"{live_url}/panier/")
    assert "3,50" in parent.content()
    parent.get_by_role("button", name="Valider").click()
    parent.wait_for_url(f"{live_url}/panier/valide/")

    # then the meal is booked in the commune's schema
    with commune_context(Commune.objects.get(slug="bourg")):
        booking = Booking.objects.select_related("prestation").get()
    assert (booking.status, booking.date, booking.prestation.label, booking.price) == (
        "confirmed",
        next_monday + dt.timedelta(days=3),
        "Repas",
        Decimal("3.50"),
    )

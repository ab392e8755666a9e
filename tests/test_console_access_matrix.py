"""Every console URL and every operator URL, against every kind of outsider.

The console URLs are read from ``console.urls`` and the modules it includes, so that a page
added later is covered without touching this file. Integer arguments are filled with the id of
a real object of commune A: a page that forgot its access check would then answer 200, not a
404 that only says the object is missing. Admin-only pages are those that ``staff_required``
marks ``console_access = "admin"``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import URLPattern, URLResolver, reverse

from actualites.models import NewsItem
from billing.console_services import create_api_token
from billing.models import CreditNote, Invoice, InvoicingRun, PaymentAttempt
from billing.services import record_payment
from console import urls as console_urls
from demandes.models import Request, RequestAttachment, RequestCategory
from operators import urls as operator_urls
from reservations.models import Booking, CancellationRequest, Closure, SchoolHoliday
from shared_identity.models import StaffRole
from tenants.context import commune_context
from tenants.middleware import commune_urlconf
from tenants.models import Domain
from tests.conftest import make_family, make_staff
from tests.reservations.conftest import MONDAY, make_catalogue

# Console pages open to people who are not staff yet, by design.
NOT_STAFF_PAGES = {"accept_invitation"}


def _walk(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns)
        else:
            yield pattern


CONSOLE_PATTERNS: list[URLPattern] = list(_walk(console_urls.urlpatterns))
OPERATOR_PATTERNS: list[URLPattern] = list(_walk(operator_urls.urlpatterns))
STAFF_PATTERNS = [p for p in CONSOLE_PATTERNS if p.name not in NOT_STAFF_PAGES]
ADMIN_PATTERNS = [p for p in STAFF_PATTERNS if getattr(p.callback, "console_access", None) == "admin"]


def _ids(patterns) -> list[str]:
    return [p.name for p in patterns]


@pytest.fixture
def objects_a(commune_a) -> dict[str, int]:
    return make_objects(commune_a)


def make_objects(commune_a) -> dict[str, int]:
    """One real object of the commune for each kind of id in a console URL (the hostile-input
    walk, tests/test_hostile_input.py, fills every URL with them too)."""
    membership = make_family(commune_a, email="parent@example.fr")
    family = membership.family
    child = family.children.get()
    account = family.guardians.get().account
    catalogue = make_catalogue(commune_a)
    with commune_context(commune_a):
        closure = Closure.objects.create(date=MONDAY, reason="Grève")
        holiday = SchoolHoliday.objects.create(
            name="Hiver", start=MONDAY + dt.timedelta(days=30), end=MONDAY + dt.timedelta(days=40)
        )
        run = InvoicingRun.objects.create(period_start=dt.date(2026, 12, 1), period_end=dt.date(2026, 12, 31))
        invoice = Invoice.objects.create(
            run=run,
            family=family,
            status=Invoice.Status.ISSUED,
            year=2027,
            number=1,
            reference="2027-00001",
            period_start=run.period_start,
            period_end=run.period_end,
            total=Decimal("12.15"),
        )
        credit_note = CreditNote.objects.create(
            invoice=invoice, family=family, amount=Decimal("4.05"), reason="Repas non servi"
        )
        token, _raw = create_api_token(regie_id=run.regie_id, name="Logiciel")
        receipt = record_payment(invoice_id=invoice.pk, method="cash", amount=Decimal("1.00")).receipt
        attempt = PaymentAttempt.objects.create(
            family=family,
            account=account,
            amount=Decimal("12.15"),
            description="Facture 2027-00001",
            idempotency_key="matrix-attempt",
            webhook_token="matrix-webhook",
        )
        booking = Booking.objects.create(
            child=child,
            family=family,
            prestation=catalogue.prestation,
            site=catalogue.site,
            date=MONDAY,
            status=Booking.Status.CONFIRMED,
            price=Decimal("4.05"),
        )
        cancellation = CancellationRequest.objects.create(
            booking=booking, family=family, account=account, reason="Malade"
        )
        category = RequestCategory.objects.create(code="matrice", title="Demande de test")
        request = Request.objects.create(
            category=category, family=family, created_by=account, title="Test", updated_at=booking.created_at
        )
        attachment = RequestAttachment.objects.create(
            request=request,
            file=f"{commune_a.schema_name}/demandes/piece.pdf",
            original_name="piece.pdf",
            content_type="application/pdf",
            size=10,
            type_code=RequestAttachment._meta.get_field("type_code").choices[0][0],
            side=RequestAttachment._meta.get_field("side").choices[0][0],
            uploaded_by=account,
        )
        news = NewsItem.objects.create(title="Fermeture", body="Vendredi.")
    return {
        "membership_id": membership.pk,
        "guardian_id": family.guardians.get().pk,
        "child_id": child.pk,
        "service_id": catalogue.service.pk,
        "site_id": catalogue.site.pk,
        "prestation_id": catalogue.prestation.pk,
        "closure_id": closure.pk,
        "holiday_id": holiday.pk,
        "run_id": run.pk,
        "invoice_id": invoice.pk,
        "credit_note_id": credit_note.pk,
        "attempt_id": attempt.pk,
        "cancellation_request_id": cancellation.pk,
        "request_id": request.pk,
        "attachment_id": attachment.pk,
        "category_id": category.pk,
        "item_id": news.pk,
        "regie_id": run.regie_id,
        "receipt_id": receipt.pk,
        "token_id": token.pk,
    }


def console_url(commune, pattern: URLPattern, objects: dict[str, int]) -> str:
    kwargs = {}
    for name, converter in pattern.pattern.converters.items():
        if converter.regex == "[0-9]+":
            # "request_id" names a cancellation request on the cancellation pages, else a demande.
            key = f"cancellation_{name}" if pattern.name.startswith("cancellation_request") else name
            kwargs[name] = objects[key]  # a KeyError here: give the new kind of id an object above
        else:
            kwargs[name] = "jeton-inconnu"
    return reverse(f"console:{pattern.name}", urlconf=commune_urlconf(commune.slug), kwargs=kwargs)


def test_every_console_page_is_behind_staff_required():
    # given the console's URLs, then each one is wrapped by staff_required (or listed as open)
    unguarded = [p.name for p in STAFF_PATTERNS if getattr(p.callback, "console_access", None) is None]
    assert unguarded == []
    assert len(STAFF_PATTERNS) >= 50
    assert {"booking_settings", "service_list", "regie_edit", "regie_list", "run_issue"} <= set(
        _ids(ADMIN_PATTERNS)
    )
    assert "family_list" not in _ids(ADMIN_PATTERNS)


def test_outsiders_reach_no_console_page_of_commune_a(client, commune_a, commune_b, objects_a):
    # given commune B's agent and admin, and a family of commune A
    agent_b = make_staff(commune_b, "agent@demo.test")
    admin_b = make_staff(commune_b, "chef@demo.test", role=StaffRole.Role.ADMIN)
    family_account = (
        make_family(commune_a, email="voisin@example.fr", name="Durand", dossier="F00002")
        .family.guardians.get()
        .account
    )
    failures = []
    for pattern in STAFF_PATTERNS:
        url = console_url(commune_a, pattern, objects_a)
        # anonymous: sent to the login page
        client.logout()
        response = client.get(url)
        if response.status_code != 302 or not response["Location"].startswith("/connexion/?next="):
            failures.append((pattern.name, "anonymous", response.status_code))
        for who, account in (("agent B", agent_b), ("admin B", admin_b), ("family", family_account)):
            client.force_login(account)
            for method in (client.get, client.post):
                status = method(url).status_code
                if status != 404:
                    failures.append((pattern.name, who, method.__name__, status))
    assert failures == []


def test_an_agent_gets_403_on_every_admin_only_page(client, commune_a, agent_a, objects_a):
    client.force_login(agent_a)
    failures = []
    for pattern in ADMIN_PATTERNS:
        url = console_url(commune_a, pattern, objects_a)
        for method in (client.get, client.post):
            status = method(url).status_code
            if status != 403:
                failures.append((pattern.name, method.__name__, status))
    assert failures == []


def test_every_operator_page_is_404_for_staff_and_families(client, commune_a, agent_a):
    admin_a = make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN)
    family_account = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    domain = Domain.objects.create(domain="portail.jolieville.example", tenant=commune_a, is_primary=False)
    failures = []
    for pattern in OPERATOR_PATTERNS:
        assert getattr(pattern.callback, "operator_access", False), pattern.name
        real = {"commune_id": commune_a.pk, "domain_id": domain.pk}
        kwargs = {name: real[name] for name in pattern.pattern.converters}
        url = reverse(f"operators:{pattern.name}", kwargs=kwargs)
        client.logout()
        response = client.get(url)
        if response.status_code != 302 or not response["Location"].startswith("/connexion/?next="):
            failures.append((pattern.name, "anonymous", response.status_code))
        for who, account in (("agent", agent_a), ("admin", admin_a), ("family", family_account)):
            client.force_login(account)
            for method in (client.get, client.post):
                status = method(url).status_code
                if status != 404:
                    failures.append((pattern.name, who, method.__name__, status))
    assert failures == []

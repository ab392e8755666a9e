"""Absences in a batch: a parent signals several days for two children in the cart and
validates once. What is within the cancellation deadline is cancelled at once; the rest
becomes ONE cancellation request with one reason and one certificate, which the agent decides
as a whole; the invoice then bills none of the cancelled days."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile

from billing import services as billing
from billing.models import Invoice
from foyer.errors import FoyerError
from reservations import services
from reservations.deadlines import DeadlineRule
from reservations.models import Booking, CancellationRequest, CartItem
from shared_identity.models import Child
from tenants.context import commune_context
from tests.conftest import commune_path
from tests.reservations.conftest import enrol, family_in, make_catalogue

PARIS = ZoneInfo("Europe/Paris")
PDF = b"%PDF-1.4 certificat"
# Thursday 7 January 2027, 9:00: a day can be cancelled until 18:00 the day before.
NOW = dt.datetime(2027, 1, 7, 9, 0, tzinfo=PARIS)
THU, FRI, MON, TUE = dt.date(2027, 1, 7), dt.date(2027, 1, 8), dt.date(2027, 1, 11), dt.date(2027, 1, 12)


@pytest.fixture
def two_children(commune_a):
    membership = family_in(commune_a, "parent@example.fr")
    family = membership.family
    Child.objects.create(family=family, first_name="Hugo", last_name="Martin", birth_date=dt.date(2019, 3, 2))
    canteen = make_catalogue(commune_a, cancellation_rule=DeadlineRule.days_before(1, at=dt.time(18, 0)))
    bookings = {}
    with commune_context(commune_a):
        for child in family.children.order_by("first_name"):
            enrol(canteen, child)
            for day in (THU, FRI, MON, TUE):
                bookings[(child.first_name, day)] = Booking.objects.create(
                    child=child,
                    family=family,
                    prestation=canteen.prestation,
                    site=canteen.site,
                    date=day,
                    status="confirmed",
                    price=Decimal("4.05"),
                )
    return membership, bookings


def _signal(commune, membership, bookings, days):
    account = membership.family.guardians.get().account
    with commune_context(commune):
        for (_name, day), booking in bookings.items():
            if day in days:
                services.add_absence_to_cart(
                    family_ids=[membership.family_id], account=account, booking_id=booking.pk
                )
    return account


def test_three_days_of_two_children_in_one_validation(
    client, commune_a, agent_a, two_children, django_capture_on_commit_callbacks
):
    # given Thursday (past its deadline), Friday and Monday (within it) signalled for both children
    membership, bookings = two_children
    account = _signal(commune_a, membership, bookings, {THU, FRI, MON})
    with commune_context(commune_a):
        assert CartItem.objects.filter(action="cancel").count() == 6
    certificate = SimpleUploadedFile("certificat.pdf", PDF, content_type="application/pdf")

    # when the cart is validated once, with a reason and a certificate
    checkouts = services.validate_carts(
        communes=[commune_a],
        family_ids=[membership.family_id],
        account=account,
        absence_reason="Varicelle des deux enfants",
        certificate=certificate,
        now=NOW,
    )

    # then Friday and Monday are cancelled at once, and Thursday became one request for both
    (checkout,) = checkouts
    assert sorted((b.child.first_name, b.date) for b in checkout.cancelled) == [
        ("Hugo", FRI),
        ("Hugo", MON),
        ("Léa", FRI),
        ("Léa", MON),
    ]
    with commune_context(commune_a):
        statuses = {key: Booking.objects.get(pk=b.pk).status for key, b in bookings.items()}
        assert statuses == {
            ("Hugo", THU): "confirmed",
            ("Hugo", FRI): "cancelled",
            ("Hugo", MON): "cancelled",
            ("Hugo", TUE): "confirmed",
            ("Léa", THU): "confirmed",
            ("Léa", FRI): "cancelled",
            ("Léa", MON): "cancelled",
            ("Léa", TUE): "confirmed",
        }
        request = CancellationRequest.objects.get()
        assert sorted((b.child.first_name, b.date) for b in request.all_bookings()) == [
            ("Hugo", THU),
            ("Léa", THU),
        ]
        assert (request.reason, request.attachment.read()) == ("Varicelle des deux enfants", PDF)
        assert not CartItem.objects.filter(cart__status="open").exists()

    # when the agent accepts the request
    client.force_login(agent_a)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            commune_path(commune_a, f"console/demandes-annulation/{request.pk}/"),
            {"decision": "accept", "comment": ""},
        )
    assert response.status_code == 302
    # then both Thursdays are cancelled, the e-mail says they are not billed, and January's
    # invoice bills only the two Tuesdays kept
    with commune_context(commune_a):
        assert {Booking.objects.get(pk=bookings[(n, THU)].pk).status for n in ("Hugo", "Léa")} == {
            "cancelled"
        }
        run = billing.prepare_invoicing_run(month=dt.date(2027, 1, 1))
        invoice = Invoice.objects.get(run=run)
        assert [(line.quantity, line.amount) for line in invoice.lines.order_by("child_name")] == [
            (1, Decimal("4.05")),
            (1, Decimal("4.05")),
        ]
    body = mail.outbox[-1].body
    assert "Votre demande d'annulation (2 jours) a été traitée." in body
    assert (
        "- Hugo, Prestation REPAS, jeudi 7 janvier 2027 : annulée, ce jour ne vous sera pas facturé" in body
    )


def test_late_absences_need_a_reason_and_nothing_changes_without_it(commune_a, two_children):
    # given Thursday (past its deadline) and Friday signalled
    membership, bookings = two_children
    account = _signal(commune_a, membership, bookings, {THU, FRI})
    # when the cart is validated without a reason
    with pytest.raises(FoyerError) as error:
        services.validate_carts(
            communes=[commune_a], family_ids=[membership.family_id], account=account, now=NOW
        )
    # then nothing happened: no cancellation, no request, the absences wait in the cart
    assert error.value.code == "absence_reason_required"
    assert "absence_reason" in error.value.field_errors
    with commune_context(commune_a):
        assert set(Booking.objects.values_list("status", flat=True)) == {"confirmed"}
        assert not CancellationRequest.objects.exists()
        assert CartItem.objects.filter(action="cancel").count() == 4


def test_only_ones_own_confirmed_booking_goes_to_the_cart_as_an_absence(client, commune_a, two_children):
    membership, bookings = two_children
    other = family_in(commune_a, "autre@example.fr", name="Durand", dossier="F00002")
    client.force_login(other.family.guardians.get().account)
    url = commune_path(commune_a, f"reservations/{bookings[('Léa', MON)].pk}/absence/")
    assert client.post(url).status_code == 404
    with commune_context(commune_a):
        assert not CartItem.objects.exists()

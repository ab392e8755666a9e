"""The console's dashboard: exact counts from real rows of the commune (another commune's
rows never count), links to the filtered pages, and a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.formats import date_format

from billing import payments
from billing import services as billing_services
from billing.crypto import encrypt_secret
from billing.fake_mollie import TEST_KEY, FakeMollie
from billing.models import Invoice, InvoicingRun, PaymentAttempt, Regie
from billing.models import Refund as RefundRow
from console.dashboard import get_dashboard_counts
from demandes.models import Request, RequestCategory
from reservations import services as reservation_services
from reservations.models import Booking, CancellationRequest
from shared_identity.models import Invitation
from tenants.context import commune_context
from tests.conftest import commune_path, make_family, make_staff
from tests.reservations.conftest import MONDAY, at, enrol, make_catalogue


def page_text(response) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def _today() -> dt.date:
    return timezone.localdate()


def _last_month() -> dt.date:
    return (_today().replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _invite(membership, *, delivery: str, expired: bool = False) -> None:
    Invitation.objects.create(
        kind=Invitation.Kind.FAMILY,
        commune=membership.commune,
        membership=membership,
        email=membership.family.guardians.get().email,
        token_hash=uuid.uuid4().hex,
        delivery=delivery,
        send_count=1,
        expires_at=timezone.now() + dt.timedelta(hours=-1 if expired else 48),
    )


def _attempt(family, account, *, status="paid", flagged="", charged_back="0", stale=False) -> PaymentAttempt:
    key = uuid.uuid4().hex
    attempt = PaymentAttempt.objects.create(
        family=family,
        account=account,
        amount=Decimal("12.00"),
        description="Réservations",
        idempotency_key=key,
        webhook_token=key,
        status=status,
        flagged=flagged,
        amount_charged_back=Decimal(charged_back),
    )
    if stale:
        PaymentAttempt.objects.filter(pk=attempt.pk).update(created_at=timezone.now() - dt.timedelta(hours=2))
    return attempt


def _refund(attempt, *, provider_id: str, minutes_ago: int) -> None:
    refund = RefundRow.objects.create(
        attempt=attempt, amount=Decimal("12.00"), reason="Trop-perçu", idempotency_key=uuid.uuid4().hex
    )
    RefundRow.objects.filter(pk=refund.pk).update(
        provider_id=provider_id, created_at=timezone.now() - dt.timedelta(minutes=minutes_ago)
    )


def _request(category, family, account, status: str, assignee=None) -> None:
    Request.objects.create(
        category=category,
        family=family,
        created_by=account,
        title="Inscription",
        status=status,
        assignee=assignee,
        updated_at=timezone.now(),
        closed_at=None if status in Request.OPEN else timezone.now(),
    )


def _invoice(family, run, *, number: int, status: str, total: str, paid: str = "0", due=None) -> None:
    Invoice.objects.create(
        run=run,
        family=family,
        status=status,
        year=run.period_start.year if status != "draft" else None,
        number=number if status != "draft" else None,
        reference=f"{run.period_start.year}-RG-00-{number}" if status != "draft" else "",
        period_start=run.period_start,
        period_end=run.period_end,
        total=Decimal(total),
        paid_amount=Decimal(paid),
        due_date=due,
    )


def fill_commune(
    commune, *, me, colleague, scale: int = 1, prefix: str = "A", first_year: int = 2020
) -> None:
    """Rows of every kind the dashboard counts; ``scale`` copies of each (the expected counts
    in commune A are for scale 1)."""
    for copy in range(scale):
        tag = f"{prefix}{copy}"
        active = [
            make_family(commune, email=f"actif{i}-{tag}@example.fr", name=f"Actif{i}", dossier=f"{tag}-A{i}")
            for i in range(2)
        ]
        invited = {
            kind: make_family(
                commune, email=f"{kind}-{tag}@example.fr", name=kind, active=False, dossier=f"{tag}-{kind}"
            )
            for kind in ("never", "sent", "failed", "expired", "queued")
        }
        _invite(invited["sent"], delivery=Invitation.Delivery.SENT)
        _invite(invited["failed"], delivery=Invitation.Delivery.FAILED)
        _invite(invited["expired"], delivery=Invitation.Delivery.SENT, expired=True)
        _invite(invited["queued"], delivery=Invitation.Delivery.QUEUED)
        family = active[0].family
        account = family.guardians.get().account
        canteen = make_catalogue(commune, code=f"R{tag}")
        with commune_context(commune):
            category = RequestCategory.objects.create(code=f"cat-{tag.lower()}", title="Inscription")

            _request(category, family, account, "submitted", me)
            _request(category, family, account, "submitted", colleague)
            _request(category, family, account, "submitted")
            _request(category, family, account, "in_progress", me)
            _request(category, family, account, "in_progress")
            _request(category, family, account, "accepted", me)  # closed: counts nowhere

            for index, status in enumerate(("pending", "pending", "accepted")):
                booking = Booking.objects.create(
                    child=family.children.get(),
                    family=family,
                    prestation=canteen.prestation,
                    site=canteen.site,
                    date=MONDAY + dt.timedelta(days=index + 7 * copy),
                    status="confirmed",
                    price=Decimal("4.05"),
                )
                CancellationRequest.objects.create(
                    booking=booking, family=family, account=account, reason="x", status=status
                )

            year = first_year + copy
            draft = InvoicingRun.objects.create(
                period_start=dt.date(year, 3, 1), period_end=dt.date(year, 3, 31)
            )
            issued = InvoicingRun.objects.create(
                period_start=dt.date(year, 2, 1), period_end=dt.date(year, 2, 28), status="issued"
            )
            _invoice(family, draft, number=0, status="draft", total="99.00")
            base = 100 * (copy + 1)
            _invoice(
                family,
                issued,
                number=base,
                status="issued",
                total="40.50",
                paid="10.00",
                due=_today() - dt.timedelta(days=1),
            )
            _invoice(
                active[1].family,
                issued,
                number=base + 1,
                status="issued",
                total="12.15",
                due=_today() + dt.timedelta(days=5),
            )
            _invoice(
                invited["sent"].family, issued, number=base + 2, status="paid", total="8.10", paid="8.10"
            )

            _attempt(family, account, flagged="trop-perçu de 12.00 € à rembourser")
            refunded = _attempt(family, account, flagged="trop-perçu de 12.00 € à rembourser")
            _refund(refunded, provider_id="re_ok", minutes_ago=60)
            _attempt(family, account, flagged="payé après son expiration locale")
            _attempt(
                family, account, flagged="rejet de paiement (chargeback) de 12.00 €", charged_back="12.00"
            )
            _attempt(family, account, status="open", flagged="montant différent (1.00)")
            _attempt(family, account, status="open", stale=True)
            _attempt(family, account, status="open")  # recent: the provider may still answer
            _attempt(family, account, stale=True)  # paid long ago, nothing to look at
            _refund(_attempt(family, account), provider_id="", minutes_ago=60)
            _refund(_attempt(family, account), provider_id="", minutes_ago=1)  # the call is under way


@pytest.fixture
def both_communes(commune_a, commune_b, agent_a):
    """Commune A: one copy of every row; commune B: three copies, and last month's run."""
    fill_commune(commune_a, me=agent_a, colleague=make_staff(commune_a, "collegue@jolieville.test"))
    agent_b = make_staff(commune_b, "agent@demo.test")
    fill_commune(commune_b, me=agent_b, colleague=agent_a, scale=3, prefix="B")
    with commune_context(commune_b):
        InvoicingRun.objects.create(
            period_start=_last_month(), period_end=_last_month() + dt.timedelta(days=27)
        )


def test_the_dashboard_counts_exactly_the_communes_rows(commune_a, agent_a, both_communes):
    # when
    with commune_context(commune_a):
        counts = get_dashboard_counts(commune=commune_a, account=agent_a)
    # then
    assert (counts.members_active, counts.members_invited) == (2, 5)
    assert counts.activation == {"active": 2, "never": 1, "sent": 1, "failed": 1, "expired": 1, "queued": 1}
    assert (
        counts.requests_submitted,
        counts.requests_in_progress,
        counts.requests_mine,
        counts.requests_unassigned,
    ) == (3, 2, 2, 2)
    assert counts.cancellations_pending == 2
    assert counts.month_to_prepare == _last_month()
    assert counts.draft_runs == 1
    with commune_context(commune_a):
        assert counts.draft_run_id == InvoicingRun.objects.get(status="draft").pk
    assert (counts.unpaid_count, counts.unpaid_total) == (2, Decimal("42.65"))
    assert (counts.overdue_count, counts.overdue_total) == (1, Decimal("30.50"))
    assert (
        counts.payments_overpaid,
        counts.payments_paid_late,
        counts.payments_charged_back,
        counts.payments_mismatch,
        counts.payments_stuck,
        counts.refunds_unconfirmed,
    ) == (1, 1, 1, 1, 1, 1)
    assert counts.payments_to_look_at == 5


def test_the_dashboard_page_shows_the_counts_with_links(client, commune_a, agent_a, both_communes):
    # given
    client.force_login(agent_a)
    # when
    response = client.get(commune_path(commune_a, "console/"))
    # then
    assert response.status_code == 200
    body = html.unescape(response.content.decode())
    text = page_text(response)
    console = "/c/jolieville/console/"

    def line(url: str, count: int, label: str) -> str:
        return f'<a href="{console}{url}"><span class="dash-count">{count}</span> <span class="dash-label">{label}</span></a>'

    # the counts kept from before
    assert "2 familles actives" in text and "5 familles en attente d'activation" in text
    # requests
    assert line("demandes/?statut=submitted", 3, "demandes déposées, à prendre en charge") in body
    assert line("demandes/?statut=in_progress", 2, "demandes en cours de traitement") in body
    assert line("demandes/?attribuee=moi", 2, "demandes ouvertes qui me sont attribuées") in body
    assert line("demandes/?attribuee=personne", 2, "demandes ouvertes attribuées à personne") in body
    # cancellation requests
    assert line("demandes-annulation/?statut=pending", 2, "demandes en attente de décision") in body
    assert (
        f"demandes en attente de décision la plus ancienne reçue le {date_format(_today(), 'j F Y')}" in text
    )
    # invoicing
    month = date_format(_last_month(), "F Y")
    assert (
        f'<a href="{console}facturation/"><span class="dash-label">Facturation à préparer : {month}</span></a>'
        in body
    )
    with commune_context(commune_a):
        draft_id = InvoicingRun.objects.get(status="draft").pk
    assert line(f"facturation/{draft_id}/", 1, "facturation en brouillon à vérifier et émettre") in body
    assert line("facturation/", 2, "factures émises non payées") in body
    assert "factures émises non payées 42,65 € à encaisser" in text
    assert "1 facture échue (date limite de paiement dépassée) 30,50 € en retard" in text
    # payments to reconcile, one label per case
    for count, label in (
        (1, "trop-perçu à rembourser (réservation libérée avant le paiement, facture déjà payée)"),
        (1, "paiement reçu après son expiration, à vérifier"),
        (1, "rejet de paiement (chargeback)"),
        (1, "paiement qui ne correspond pas à Mollie (montant, identifiant, mode)"),
        (1, "paiement toujours « en cours » depuis plus d'une heure"),
        (1, "remboursement non confirmé par Mollie"),
    ):
        assert line("facturation/paiements-en-ligne/", count, label) in body
    assert "5 paiements en ligne à regarder." in text
    # activation, to the families list filtered
    for value, count, label in (
        ("active", 2, "familles activées"),
        ("sent", 1, "famille invitée, lien envoyé"),
        ("queued", 1, "famille invitée, envoi du lien en cours"),
        ("never", 1, "famille jamais invitée"),
        ("failed", 1, "famille dont l'envoi du lien a échoué"),
        ("expired", 1, "famille dont le lien a expiré sans activation"),
    ):
        assert line(f"familles/?activation={value}", count, label) in body


def test_the_month_to_prepare_disappears_once_its_run_exists(client, commune_a, agent_a):
    # given last month's run in commune A, still a draft
    with commune_context(commune_a):
        InvoicingRun.objects.create(
            period_start=_last_month(), period_end=_last_month() + dt.timedelta(days=27)
        )
    client.force_login(agent_a)
    # when
    text = page_text(client.get(commune_path(commune_a, "console/")))
    # then
    assert "à préparer" not in text
    assert "1 facturation en brouillon à vérifier et émettre" in text


def test_an_empty_commune_shows_zeros(client, commune_a, agent_a):
    client.force_login(agent_a)
    text = page_text(client.get(commune_path(commune_a, "console/")))
    assert "0 famille active" in text and "0 demande déposée, à prendre en charge" in text
    assert "0 facture émise non payée 0,00 € à encaisser" in text
    assert "0 paiement en ligne à regarder." in text


def test_the_dashboard_is_for_the_communes_staff_only(client, commune_a, commune_b, agent_b):
    # given
    family = make_family(commune_a, email="parent@example.fr")
    # then commune B's agent and a family get 404
    client.force_login(agent_b)
    assert client.get(commune_path(commune_a, "console/")).status_code == 404
    client.force_login(family.family.guardians.get().account)
    assert client.get(commune_path(commune_a, "console/")).status_code == 404


def test_the_dashboard_costs_seven_queries_whatever_the_rows(commune_a, agent_a, django_assert_num_queries):
    colleague = make_staff(commune_a, "collegue@jolieville.test")
    for scale in (1, 3):
        # given more rows each time
        fill_commune(
            commune_a, me=agent_a, colleague=colleague, prefix=f"S{scale}", first_year=2000 + 10 * scale
        )
        with commune_context(commune_a):
            InvoicingRun.objects.exists()  # the schema is selected
            # when / then: one query per table
            with django_assert_num_queries(7):
                get_dashboard_counts(commune=commune_a, account=agent_a)


def test_the_dashboard_page_costs_the_same_with_more_rows(client, commune_a, agent_a):
    # given
    colleague = make_staff(commune_a, "collegue@jolieville.test")
    client.force_login(agent_a)
    url = commune_path(commune_a, "console/")
    counts = []
    for scale in (0, 1, 3):
        if scale:
            fill_commune(
                commune_a,
                me=agent_a,
                colleague=colleague,
                scale=scale,
                prefix=f"P{scale}",
                first_year=2000 + 10 * scale,
            )
        client.get(url)
        # when
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    # then the same queries whatever the rows: the request's own (commune, session, account,
    # staff role) and the dashboard's seven
    assert counts[0] == counts[1] == counts[2]
    assert counts[0] <= 13


# --- A real flagged payment ------------------------------------------------------------------------


@pytest.fixture
def mollie(settings):
    with FakeMollie("127.0.0.1", 0, webhook_retry_delays=(0.05, 0.1, 0.2)) as fake:
        fake.add_account(TEST_KEY, "Régie cantine – JolieVille")
        settings.MOLLIE_API_ENDPOINT = fake.base_url
        yield fake


def test_a_cart_paid_after_its_hold_expired_counts_as_overpaid(commune_a, agent_a, mollie):
    # given a prepaid cart whose hold expires before the bank confirms (billing.payments flags it)
    with commune_context(commune_a):
        billing_services.get_regie()
        Regie.objects.update(
            online_payment=True, mollie_key_encrypted=encrypt_secret(TEST_KEY), mollie_mode="test"
        )
    leisure = make_catalogue(commune_a, code="MERJ", billing_mode="prepaid", price="12.00")
    family = make_family(commune_a, email="parent@example.fr").family
    enrol(leisure, family.children.get())
    account = family.guardians.get().account
    with commune_context(commune_a):
        reservation_services.add_to_cart(
            family=family,
            account=account,
            child_id=family.children.get().pk,
            prestation_id=leisure.prestation.pk,
            site_id=leisure.site.pk,
            day=MONDAY + dt.timedelta(days=2),
            now=at(MONDAY, 8),
        )
    checkout = reservation_services.validate_carts(
        communes=[commune_a], family_ids=[family.pk], account=account, now=at(MONDAY, 8)
    )[0]
    with commune_context(commune_a):
        attempt = payments.start_cart_checkout(
            family_ids=[family.pk], account=account, cart_id=checkout.cart.pk
        )
        reservation_services.expire_holds(now=at(MONDAY, 9))
        mollie.set_status(attempt.provider_id, "paid", webhook=False)
        payments.sync_attempt(attempt_id=attempt.pk, source="webhook")
        # when
        counts = get_dashboard_counts(commune=commune_a, account=agent_a)
        attempt.refresh_from_db()
    # then
    assert attempt.flagged == "trop-perçu de 12.00 € à rembourser"
    assert (counts.payments_overpaid, counts.payments_mismatch, counts.payments_to_look_at) == (1, 0, 1)

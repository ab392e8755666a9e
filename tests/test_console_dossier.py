"""The family dossier in the console: every section with real rows of this commune only,
404 for another commune's staff and for families, and a fixed number of queries."""

from __future__ import annotations

import datetime as dt
import html
import re
import uuid
from decimal import Decimal

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.models import CreditNote, Invoice, InvoicingRun, Payment, PaymentAttempt
from console.dossier import get_family_dossier_page
from demandes.models import Request, RequestCategory
from reservations.models import Booking, CancellationRequest, Enrolment, QuotientFamilial
from shared_identity.models import Child, Guardian, Invitation, Membership
from shared_identity.selectors import get_family_dossier, list_family_dossiers
from tenants.context import commune_context
from tests.conftest import commune_path, make_family
from tests.reservations.conftest import make_catalogue


def page_text(response) -> str:
    """What a person reads: the page without its tags, spaces collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode())).split())


def _today(commune) -> dt.date:
    return timezone.localdate(timezone=timezone.get_default_timezone())


def _invoice(family, *, month: dt.date, number: int | None, total: str, paid: str = "0", due=None):
    run, _ = InvoicingRun.objects.get_or_create(
        period_start=month,
        defaults={"period_end": month + dt.timedelta(days=27), "status": "issued" if number else "draft"},
    )
    return Invoice.objects.create(
        run=run,
        family=family,
        status="draft" if number is None else ("paid" if Decimal(paid) >= Decimal(total) else "issued"),
        year=month.year if number else None,
        number=number,
        reference=f"{month.year}-RG-00-{number}" if number else "",
        period_start=month,
        period_end=month + dt.timedelta(days=27),
        total=Decimal(total),
        paid_amount=Decimal(paid),
        due_date=due,
    )


def fill_dossier(
    commune, membership: Membership, *, extra: int = 0, code: str = "REPAS", number: int = 154
) -> dict:
    """Rows of every kind for the family in ``commune``; ``extra`` more of each to show the
    page costs the same. Returns the rows the tests look for."""
    family = membership.family
    account = family.guardians.get().account
    Guardian.objects.create(family=family, first_name="Jules", last_name="Martin", email="jules@example.fr")
    Child.objects.create(family=family, first_name="Noé", last_name="Martin", birth_date=dt.date(2019, 2, 3))
    for index in range(extra):
        Child.objects.create(
            family=family, first_name=f"Enfant{index}", last_name="Martin", birth_date=dt.date(2018, 1, 1)
        )
    Invitation.objects.create(
        kind=Invitation.Kind.FAMILY,
        commune=commune,
        membership=membership,
        email="camille@example.fr",
        token_hash=uuid.uuid4().hex,
        delivery=Invitation.Delivery.SENT,
        send_count=2,
        sent_at=timezone.now() - dt.timedelta(days=3),
        expires_at=timezone.now() - dt.timedelta(days=1),
    )
    canteen = make_catalogue(commune, code=code)
    today = _today(commune)
    lea = family.children.get(first_name="Léa")
    rows: dict = {}
    with commune_context(commune):
        Enrolment.objects.create(
            child=lea,
            family=family,
            service=canteen.service,
            site=canteen.site,
            start=dt.date(2026, 9, 1),
            end=dt.date(2027, 7, 4),
        )
        QuotientFamilial.objects.create(family=family, value=640, valid_from=dt.date(2026, 1, 1))

        def book(day, status="confirmed", **fields):
            return Booking.objects.create(
                child=lea,
                family=family,
                prestation=canteen.prestation,
                site=canteen.site,
                date=day,
                status=status,
                price=Decimal("4.05"),
                **fields,
            )

        rows["upcoming"] = book(today + dt.timedelta(days=3))
        rows["past"] = book(today - dt.timedelta(days=5), status="attended", late=True)
        book(today + dt.timedelta(days=40))  # beyond the four weeks: not shown
        book(today - dt.timedelta(days=40))
        for index in range(extra):
            book(today + dt.timedelta(days=7 + index))
            book(today - dt.timedelta(days=7 + index), status="cancelled")
        month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        older = (month - dt.timedelta(days=1)).replace(day=1)
        rows["overdue"] = _invoice(
            family, month=older, number=number, total="40.50", paid="10.00", due=today - dt.timedelta(days=2)
        )
        rows["paid"] = _invoice(
            family, month=month, number=number + 1, total="12.15", paid="12.15", due=today
        )
        Payment.objects.create(
            invoice=rows["overdue"],
            method=Payment.Method.CHECK,
            amount=Decimal("10.00"),
            received_at=timezone.now() - dt.timedelta(days=1),
            reference="CHQ 7781",
        )
        Payment.objects.create(
            invoice=rows["paid"],
            method=Payment.Method.CASH,
            amount=Decimal("12.15"),
            received_at=timezone.now(),
        )
        PaymentAttempt.objects.create(
            family=family,
            account=account,
            amount=Decimal("12.00"),
            description="Réservations (panier 9)",
            idempotency_key=uuid.uuid4().hex,
            webhook_token=uuid.uuid4().hex,
            status="paid",
            flagged="trop-perçu de 12.00 € à rembourser",
        )
        CreditNote.objects.create(
            invoice=rows["paid"], family=family, amount=Decimal("4.05"), reason="Sortie annulée"
        )
        rows["cancellation"] = CancellationRequest.objects.create(
            booking=rows["upcoming"], family=family, account=account, reason="Enfant malade"
        )
        category = RequestCategory.objects.create(code=f"inscription-{code.lower()}", title="Inscription")
        rows["request"] = Request.objects.create(
            category=category,
            family=family,
            child=lea,
            created_by=account,
            title="Inscription à la cantine",
            updated_at=timezone.now(),
        )
        for index in range(extra):
            attempt_key = uuid.uuid4().hex
            PaymentAttempt.objects.create(
                family=family,
                account=account,
                amount=Decimal("5.00"),
                description=f"Tentative {index}",
                idempotency_key=attempt_key,
                webhook_token=attempt_key,
            )
            _invoice(
                family,
                month=dt.date(2020, 1 + index, 1),
                number=number + 100 + index,
                total="5.00",
                due=dt.date(2020, 3 + index, 1),
            )
            Request.objects.create(
                category=category,
                family=family,
                created_by=account,
                title=f"Demande {index}",
                status="accepted",
                closed_at=timezone.now(),
                updated_at=timezone.now(),
            )
    return rows


def test_the_dossier_shows_every_section_of_the_family(client, commune_a, agent_a):
    # given a family of JolieVille with rows of every kind
    membership = make_family(commune_a, email="camille@example.fr")
    rows = fill_dossier(commune_a, membership)
    client.force_login(agent_a)
    today = _today(commune_a)
    # when the agent opens the dossier
    response = client.get(commune_path(commune_a, f"console/familles/{membership.pk}/"))
    # then
    assert response.status_code == 200
    text = page_text(response)
    body = html.unescape(response.content.decode())
    # in-page navigation to every section
    for anchor in (
        "responsables",
        "enfants",
        "activation",
        "inscriptions",
        "quotient",
        "reservations",
        "factures",
        "paiements",
        "annulations",
        "demandes",
    ):
        assert f'href="#{anchor}"' in body and f'id="{anchor}"' in body
    # guardians with their account state
    assert "Camille Martin camille@example.fr — Compte actif jamais connecté(e)" in text
    assert "Jules Martin jules@example.fr — Pas encore de compte" in text
    # children
    assert "Léa Martin — 14/05/2017" in text and "Noé Martin — 03/02/2019" in text
    # activation history
    assert "Historique des liens d'activation" in text
    assert "Lien envoyé à camille@example.fr : Expiré" in text
    # enrolments and QF, with their forms
    assert "Service REPAS" in text and "du 01/09/2026 au 04/07/2027" in text
    assert "Quotient familial en vigueur : 640 (depuis le 01/01/2026)." in text
    assert f'action="/c/jolieville/console/familles/{membership.pk}/inscriptions/nouvelle/"' in body
    assert f'action="/c/jolieville/console/familles/{membership.pk}/quotient/"' in body
    # bookings of the four weeks around today, not beyond
    upcoming, past = rows["upcoming"].date, rows["past"].date
    assert f"{upcoming:%d/%m/%Y} Léa Prestation REPAS École REPAS 4,05 € Réservé" in text
    assert f"{past:%d/%m/%Y} Léa Prestation REPAS hors délai École REPAS 4,05 € Présent" in text
    assert (today + dt.timedelta(days=40)).strftime("%d/%m/%Y") not in text
    assert (today - dt.timedelta(days=40)).strftime("%d/%m/%Y") not in text
    # invoices with amount, paid, balance, status and a link to the console invoice page
    overdue, paid = rows["overdue"], rows["paid"]
    assert "Reste à payer sur les factures émises : 30,50 € — 1 facture échue" in text
    assert f"{overdue.reference} " in text and "40,50 € 10,00 € 30,50 €" in text and "Échue" in text
    assert "12,15 € 12,15 € 0,00 €" in text and "Payée" in text
    assert f'href="/c/jolieville/console/facturation/factures/{overdue.pk}/"' in body
    assert f'href="/c/jolieville/console/facturation/factures/{paid.pk}/"' in body
    # payments, online attempts and avoirs
    assert f"{overdue.reference} Chèque 10,00 € CHQ 7781" in text
    assert f"{paid.reference} Espèces 12,15 €" in text
    assert "Réservations (panier 9) 12,00 € Payé trop-perçu de 12.00 € à rembourser" in text
    assert "4,05 € Sortie annulée À déduire de la prochaine facture" in text
    # cancellation requests and requests, with links
    cancellation, demande = rows["cancellation"], rows["request"]
    assert f'href="/c/jolieville/console/demandes-annulation/{cancellation.pk}/"' in body
    assert "Léa — Prestation REPAS" in text and "En attente" in text
    assert f'href="/c/jolieville/console/demandes/{demande.pk}/"' in body
    assert "Inscription à la cantine Léa" in text and "Déposée" in text


def test_the_dossier_shows_nothing_of_another_commune(client, commune_a, commune_b, agent_a):
    # given one family in both communes, with rows in commune B only
    membership_a = make_family(commune_a, email="camille@example.fr")
    membership_b = Membership.objects.create(
        family=membership_a.family, commune=commune_b, dossier_number="B-77", status="active"
    )
    rows_b = fill_dossier(commune_b, membership_b, code="GARD")
    client.force_login(agent_a)
    # when commune A's agent opens the family's dossier in A
    text = page_text(client.get(commune_path(commune_a, f"console/familles/{membership_a.pk}/")))
    # then nothing of commune B is shown
    assert "Prestation GARD" not in text and "Service GARD" not in text
    assert rows_b["overdue"].reference not in text
    assert "Inscription à la cantine" not in text and "Enfant malade" not in text
    assert "Aucune facture." in text and "Aucun paiement reçu." in text
    assert "Aucune demande d'annulation." in text and "Aucune demande." in text
    assert "Aucune réservation dans les quatre semaines à venir." in text
    # the activation link sent by commune B is not commune A's history
    assert "Historique des liens d'activation" not in text


def test_another_communes_agent_and_a_family_get_404(client, commune_a, commune_b, agent_b):
    # given
    membership = make_family(commune_a, email="camille@example.fr")
    fill_dossier(commune_a, membership)
    url = commune_path(commune_a, f"console/familles/{membership.pk}/")
    # when commune B's agent asks, through A's console or by id through B's
    client.force_login(agent_b)
    assert client.get(url).status_code == 404
    assert client.get(commune_path(commune_b, f"console/familles/{membership.pk}/")).status_code == 404
    # when a family account asks (its own dossier, or another's)
    client.force_login(membership.family.guardians.get(account__isnull=False).account)
    assert client.get(url).status_code == 404
    other = make_family(commune_a, email="autre@example.fr", name="Autre", dossier="F00002")
    client.force_login(other.family.guardians.get().account)
    assert client.get(url).status_code == 404


def test_the_dossier_costs_a_fixed_number_of_queries(commune_a, django_assert_num_queries):
    # given a small family, and a large one with many more rows of each kind
    small = make_family(commune_a, email="petit@example.fr", name="Petit")
    fill_dossier(commune_a, small, code="REPAS")
    large = make_family(commune_a, email="grand@example.fr", name="Grand", dossier="F00002")
    fill_dossier(commune_a, large, extra=6, code="GARD", number=300)
    with commune_context(commune_a):
        for membership, sizes in ((small, (2, 2, 1)), (large, (8, 14, 7))):
            dossier = get_family_dossier(commune=commune_a, membership_id=membership.pk)
            # when / then: ten queries for the page's sections, whatever the size
            with django_assert_num_queries(10):
                page = get_family_dossier_page(membership=dossier)
            assert (len(page.children), len(page.upcoming) + len(page.recent), len(page.requests)) == sizes


def test_the_dossier_page_costs_the_same_for_a_large_family(client, commune_a, agent_a):
    # given
    small = make_family(commune_a, email="petit@example.fr", name="Petit")
    fill_dossier(commune_a, small, code="REPAS")
    large = make_family(commune_a, email="grand@example.fr", name="Grand", dossier="F00002")
    fill_dossier(commune_a, large, extra=6, code="GARD", number=300)
    client.force_login(agent_a)
    counts = []
    for membership in (small, large):
        url = commune_path(commune_a, f"console/familles/{membership.pk}/")
        client.get(url)
        # when
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        counts.append(len(queries))
    # then the same queries for both: the request's own (commune, session, account, staff
    # role), the dossier's four, its sections' ten and the enrolment form's three lists
    assert counts[0] == counts[1]
    assert counts[0] <= 23


def test_family_search_finds_children_and_phone_numbers(commune_a, django_assert_num_queries):
    # given
    martin = make_family(commune_a, email="camille@example.fr")
    Guardian.objects.filter(family=martin.family).update(phone="06 12 34 56 78")
    durand = make_family(commune_a, email="durand@example.fr", name="Durand", dossier="F00002")
    Child.objects.create(
        family=durand.family, first_name="Anaïs", last_name="Petit", birth_date=dt.date(2018, 1, 1)
    )
    durand.family.home_phone = "+33 5 61 00 11 22"
    durand.family.save()

    def found(search: str) -> list[str]:
        with django_assert_num_queries(1):
            return [m.family.name for m in list_family_dossiers(commune=commune_a, search=search)]

    # then: a child's first or last name, a phone typed with or without separators
    assert found("anaïs") == ["Durand"]
    assert found("Petit") == ["Durand"]
    assert found("Léa") == ["Durand", "Martin"]  # both families have a Léa
    assert found("0612345678") == ["Martin"]
    assert found("06.12.34.56.78") == ["Martin"]
    assert found("+33 6 12 34 56 78") == ["Martin"]
    assert found("05 61 00 11 22") == ["Durand"]
    assert found("1234") == ["Martin"]  # a part of a number
    assert found("9999") == []
    # and what it found before still works
    assert found("durand@") == ["Durand"]
    assert found("F00001") == ["Martin"]

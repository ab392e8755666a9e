"""Direct debit (prélèvement automatique) through Mollie mandates, against the fake Mollie."""

from __future__ import annotations

import datetime as dt
import html
import threading
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connections
from django.test import TestCase

from billing import direct_debit, payments, services
from billing.console_services import save_regie
from billing.crypto import encrypt_secret
from billing.fake_mollie import TEST_KEY
from billing.fake_mollie.state import FAKE_IBAN
from billing.models import (
    DebitMandate,
    DirectDebit,
    Invoice,
    Payment,
    PaymentAttempt,
    PaymentEvent,
    Receipt,
    Regie,
)
from console.dashboard import get_dashboard_counts
from foyer.errors import FoyerError
from reservations.models import Booking
from tenants.context import commune_context
from tests.conftest import commune_path, make_staff
from tests.reservations.conftest import family_in, make_catalogue


def _offer_direct_debit(commune):
    with commune_context(commune):
        services.get_regie()
        Regie.objects.update(
            online_payment=True,
            mollie_key_encrypted=encrypt_secret(TEST_KEY),
            mollie_mode="test",
            direct_debit_enabled=True,
        )
        return Regie.objects.get()


def _family(commune, email="parent@example.fr", name="Martin", dossier="F00001"):
    return family_in(commune, email, name=name, dossier=dossier).family


def _start_signing(client, commune, family) -> DebitMandate:
    """The family asks to sign a mandate from "Mes factures": sent to the first payment's checkout."""
    client.force_login(family.guardians.get().account)
    with commune_context(commune):
        regie = Regie.objects.get()
    response = client.post(commune_path(commune, f"prelevement/{regie.pk}/"), {"consent": "1"})
    assert response.status_code == 302
    with commune_context(commune):
        return DebitMandate.objects.select_related("first_attempt").get(family=family)


def _sign(client, commune, family, mollie) -> DebitMandate:
    """The family signs a mandate: the first payment, paid at the checkout, then the return page."""
    mandate = _start_signing(client, commune, family)
    mollie.set_status(mandate.first_attempt.provider_id, "paid", webhook=False)
    client.get(commune_path(commune, f"prelevement/retour/{mandate.first_attempt_id}/"))
    with commune_context(commune):
        return DebitMandate.objects.select_related("first_attempt").get(pk=mandate.pk)


def _invoice(commune, family, month=dt.date(2027, 1, 1), price=Decimal("4.05")) -> Invoice:
    with commune_context(commune):
        catalogue = make_catalogue(commune) if not Booking.objects.exists() else None
        from reservations.models import Prestation, Site

        prestation = catalogue.prestation if catalogue else Prestation.objects.get()
        site = catalogue.site if catalogue else Site.objects.get()
        Booking.objects.create(
            child=family.children.get(),
            family=family,
            prestation=prestation,
            site=site,
            date=month.replace(day=4),
            status="confirmed",
            price=price,
        )
        run = services.prepare_invoicing_run(month=month)
        services.issue_invoicing_run(run_id=run.pk)
        return run.invoices.get()


def _recurring(mollie) -> list[dict]:
    return [p for p in mollie.payments.values() if p["sequenceType"] == "recurring"]


def _webhook(client, commune, attempt):
    with TestCase.captureOnCommitCallbacks(execute=True):
        return client.post(
            commune_path(commune, f"paiement/webhook/{attempt.webhook_token}/"), {"id": attempt.provider_id}
        )


def _collect(commune, today):
    with commune_context(commune), TestCase.captureOnCommitCallbacks(execute=True):
        return direct_debit.collect_due_debits(today=today)


def _sent_debit(client, commune, mollie):
    """A family with a valid mandate, its invoice, and the debit sent on its due date: the
    invoice, the recurring payment at the fake Mollie and Foyer's attempt."""
    _offer_direct_debit(commune)
    family = _family(commune)
    _sign(client, commune, family, mollie)
    invoice = _invoice(commune, family)
    _collect(commune, invoice.due_date)
    [payment] = _recurring(mollie)
    with commune_context(commune):
        attempt = DirectDebit.objects.select_related("attempt").get().attempt
    return invoice, payment, attempt


def test_signing_a_mandate_keeps_only_the_last_digits_of_the_iban(client, commune_a, mollie):
    # given a régie that offers direct debit
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    # when the family signs a mandate through the first payment
    mandate = _sign(client, commune_a, family, mollie)
    # then the mandate is valid, with the IBAN's last 4 characters and the holder only
    assert mandate.status == "valid"
    assert (mandate.iban_last4, mandate.masked_iban) == ("0189", "•••• 0189")
    assert mandate.holder_name == "Camille MARTIN"
    assert mandate.signed_on == dt.date.today()
    assert mandate.mandate_id == next(iter(mollie.mandates))
    first = mollie.payment(mandate.first_attempt.provider_id)
    assert (first["sequenceType"], first["customerId"], first["amount"]["value"]) == (
        "first",
        mandate.customer_id,
        "0.01",
    )
    with commune_context(commune_a):
        # and the full IBAN is stored nowhere, the first payment settles nothing
        assert FAKE_IBAN not in str(list(DebitMandate.objects.values()))
        assert FAKE_IBAN not in str(list(PaymentEvent.objects.values_list("payload", flat=True)))
        assert not Payment.objects.exists() and not Receipt.objects.exists()
        attempt = PaymentAttempt.objects.get()
        assert attempt.flagged == ""
        # and the 0,01 € verification is refunded once the mandate is signed
        assert [(r.amount, bool(r.provider_id)) for r in attempt.refunds.all()] == [(Decimal("0.01"), True)]
    assert mollie.payment(attempt.provider_id)["amountRefunded"]["value"] == "0.01"
    # and "Mes factures" says it is active, with a way to stop it
    page = html.unescape(client.get("/factures/").content.decode())
    assert "actif sur le compte •••• 0189" in page
    assert f"/c/jolieville/prelevement/mandat/{mandate.pk}/arreter/" in page


def test_a_failed_first_payment_signs_nothing_and_can_be_tried_again(client, commune_a, mollie):
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    first = _start_signing(client, commune_a, family)
    # when the verification payment fails
    mollie.set_status(first.first_attempt.provider_id, "failed", webhook=False)
    response = client.get(
        commune_path(commune_a, f"prelevement/retour/{first.first_attempt_id}/"), follow=True
    )
    # then no mandate exists, the family is told, and a new try makes a new checkout
    assert "Le mandat n'a pas été signé" in html.unescape(response.content.decode())
    assert mollie.mandates == {}
    client.post(commune_path(commune_a, f"prelevement/{first.regie_id}/"), {"consent": "1"})
    with commune_context(commune_a):
        assert list(DebitMandate.objects.order_by("pk").values_list("status", flat=True)) == [
            "invalid",
            "pending",
        ]
        # the same Mollie customer is used again
        assert len({m.customer_id for m in DebitMandate.objects.all()}) == 1


def test_signing_needs_consent_and_a_regie_that_offers_it(client, commune_a, mollie):
    regie = _offer_direct_debit(commune_a)
    family = _family(commune_a)
    client.force_login(family.guardians.get().account)
    # when the family does not tick the authorisation
    response = client.post(commune_path(commune_a, f"prelevement/{regie.pk}/"), {})
    # then nothing is created, and the page says why
    assert response.status_code == 200
    assert "Cochez la case" in html.unescape(response.content.decode())
    with commune_context(commune_a):
        assert not DebitMandate.objects.exists() and not PaymentAttempt.objects.exists()
        Regie.objects.update(direct_debit_enabled=False)
    # and a régie that does not offer it answers not found
    assert client.get(commune_path(commune_a, f"prelevement/{regie.pk}/")).status_code == 404
    assert mollie.customers == {}


def test_an_invoice_is_debited_once_on_its_due_date(client, commune_a, mollie):
    # given a family with a valid mandate
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    mandate = _sign(client, commune_a, family, mollie)
    mail.outbox.clear()
    # when the next invoice is issued
    with TestCase.captureOnCommitCallbacks(execute=True):
        invoice = _invoice(commune_a, family)
    with commune_context(commune_a):
        debit = DirectDebit.objects.get()
    # then it will be debited on its due date, and the family page and e-mail say so
    assert (debit.status, debit.collect_on, debit.amount) == ("scheduled", invoice.due_date, Decimal("4.05"))
    day = f"{invoice.due_date.day} "
    page = html.unescape(client.get("/factures/").content.decode())
    assert "sera prélevée le " + day in page
    assert "Les factures prélevées automatiquement (4,05\xa0€) n'en font pas partie" in page
    assert "Payer les factures sélectionnées" not in page
    assert "sera prélevée le " + day in mail.outbox[0].body
    detail = html.unescape(client.get(commune_path(commune_a, f"factures/{invoice.pk}/")).content.decode())
    assert "Sera prélevée le " + day in detail
    # when the collection runs the day before the due date: nothing
    assert _collect(commune_a, invoice.due_date - dt.timedelta(days=1)) == 0
    assert _recurring(mollie) == []
    # when it runs on the due date: one recurring payment on the mandate
    assert _collect(commune_a, invoice.due_date) == 1
    [payment] = _recurring(mollie)
    assert (payment["mandateId"], payment["customerId"], payment["amount"]["value"], payment["status"]) == (
        mandate.mandate_id,
        mandate.customer_id,
        "4.05",
        "pending",
    )
    with commune_context(commune_a):
        debit.refresh_from_db()
        attempt = debit.attempt
    assert debit.status == "submitted"
    posted = [r for r in mollie.requests if r["method"] == "POST" and r["path"] == "/v2/payments"]
    assert posted[-1]["idempotency_key"] == attempt.idempotency_key
    assert "prélèvement en cours" in html.unescape(client.get("/factures/").content.decode())
    # a debit pending at the bank for days is not a payment stuck "en cours"
    with commune_context(commune_a):
        PaymentAttempt.objects.filter(pk=attempt.pk).update(
            created_at=attempt.created_at - dt.timedelta(days=3)
        )
        counts = get_dashboard_counts(
            commune=commune_a, account=make_staff(commune_a, "agent@jolieville.test"), now=debit.updated_at
        )
        assert counts.payments_stuck == 0
    # when the bank pays it
    mollie.set_status(payment["id"], "paid", webhook=False)
    _webhook(client, commune_a, attempt)
    # then the invoice is paid, with a receipt, and a later run sends nothing more
    assert _collect(commune_a, invoice.due_date + dt.timedelta(days=3)) == 0
    assert len(_recurring(mollie)) == 1
    with commune_context(commune_a):
        invoice.refresh_from_db()
        debit.refresh_from_db()
        assert (invoice.status, invoice.paid_amount, debit.status) == ("paid", Decimal("4.05"), "paid")
        assert Payment.objects.get().amount == Decimal("4.05")


def test_a_failed_debit_puts_the_invoice_back_to_pay_and_tells_the_family(client, commune_a, mollie):
    invoice, payment, attempt = _sent_debit(client, commune_a, mollie)
    mail.outbox.clear()
    # when the bank refuses the debit (insufficient funds)
    mollie.set_status(payment["id"], "failed", webhook=False)
    _webhook(client, commune_a, attempt)
    # then the invoice is to pay again, the family gets one e-mail, and the agent sees it
    with commune_context(commune_a):
        invoice.refresh_from_db()
        debit = DirectDebit.objects.get()
    assert (invoice.status, invoice.paid_amount, debit.status) == ("issued", Decimal("0.00"), "failed")
    [message] = mail.outbox
    assert "n'a pas abouti" in message.subject and invoice.reference in message.body
    assert message.to == ["parent@example.fr"]
    page = html.unescape(client.get("/factures/").content.decode())
    assert "le prélèvement n'a pas abouti" in page
    assert f'value="jolieville:{invoice.pk}"' in page  # selectable to pay online
    # and a second webhook sends no second e-mail
    _webhook(client, commune_a, attempt)
    assert len(mail.outbox) == 1
    staff = make_staff(commune_a, "agent@jolieville.test")
    client.force_login(staff)
    with commune_context(commune_a):
        regie = Regie.objects.get()
    listing = html.unescape(
        client.get(
            commune_path(commune_a, f"console/facturation/regies/{regie.pk}/prelevements/")
        ).content.decode()
    )
    assert invoice.reference in listing and "refusé par la banque" in listing
    online = html.unescape(
        client.get(commune_path(commune_a, "console/facturation/paiements-en-ligne/")).content.decode()
    )
    assert f"/console/facturation/regies/{regie.pk}/prelevements/" in online
    detail = html.unescape(
        client.get(commune_path(commune_a, f"console/facturation/factures/{invoice.pk}/")).content.decode()
    )
    assert "Prélèvement automatique" in detail and "Échoué" in detail
    dashboard = html.unescape(client.get(commune_path(commune_a, "console/")).content.decode())
    assert "prélèvement refusé, facture de nouveau à payer" in dashboard


def test_a_chargeback_puts_a_debited_invoice_back_to_pay(client, commune_a, mollie):
    invoice, payment, attempt = _sent_debit(client, commune_a, mollie)
    mollie.set_status(payment["id"], "paid", webhook=False)
    _webhook(client, commune_a, attempt)
    mail.outbox.clear()
    # when the family's bank takes the money back
    mollie.add_chargeback(payment["id"], webhook=False)
    _webhook(client, commune_a, attempt)
    # then the invoice is owed again, the debit failed, the family is told
    with commune_context(commune_a):
        invoice.refresh_from_db()
        debit = DirectDebit.objects.get()
    assert (invoice.status, invoice.paid_amount, debit.status) == ("issued", Decimal("0.00"), "failed")
    assert "rejeté par la banque" in debit.outcome
    assert len([m for m in mail.outbox if "n'a pas abouti" in m.subject]) == 1


def test_a_mandate_revoked_before_the_due_date_means_no_debit(client, commune_a, mollie):
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    mandate = _sign(client, commune_a, family, mollie)
    invoice = _invoice(commune_a, family)
    # when the family stops the direct debit from "Mes factures" (confirmation, then POST)
    path = commune_path(commune_a, f"prelevement/mandat/{mandate.pk}/arreter/")
    assert "Oui, arrêter le prélèvement" in html.unescape(client.get(path).content.decode())
    response = client.post(path, follow=True)
    assert "Prélèvement automatique arrêté" in html.unescape(response.content.decode())
    # then Mollie and Foyer hold it revoked, the debit is canceled, and the due date debits nothing
    assert mollie.mandates[mandate.mandate_id]["status"] == "invalid"
    assert _collect(commune_a, invoice.due_date) == 0
    assert _recurring(mollie) == []
    with commune_context(commune_a):
        mandate.refresh_from_db()
        debit = DirectDebit.objects.get()
        invoice.refresh_from_db()
    assert (mandate.status, debit.status, invoice.status) == ("revoked", "canceled", "issued")
    assert f'value="jolieville:{invoice.pk}"' in client.get("/factures/").content.decode()


def test_a_mandate_stopped_while_being_signed_is_revoked_at_mollie_if_paid_later(client, commune_a, mollie):
    # given a family that started signing, then stopped before paying the 0,01 €
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    mandate = _start_signing(client, commune_a, family)
    client.post(commune_path(commune_a, f"prelevement/mandat/{mandate.pk}/arreter/"))
    # when the old checkout is paid after all
    mollie.set_status(mandate.first_attempt.provider_id, "paid", webhook=False)
    _webhook(client, commune_a, mandate.first_attempt)
    # then the mandate Mollie made is revoked there too, the 0,01 € goes back, nothing is debited
    with commune_context(commune_a):
        mandate.refresh_from_db()
        refunded = mandate.first_attempt.refunds.exists()
    assert mandate.status == "revoked" and mandate.mandate_id
    assert mollie.mandates[mandate.mandate_id]["status"] == "invalid"
    assert refunded


def test_a_mandate_revoked_at_the_bank_fails_the_debit_without_a_payment(client, commune_a, mollie):
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    mandate = _sign(client, commune_a, family, mollie)
    invoice = _invoice(commune_a, family)
    mollie.revoke_mandate(mandate.mandate_id)
    mail.outbox.clear()
    # when the due date comes
    _collect(commune_a, invoice.due_date)
    # then Mollie made no payment, the debit failed and the family is told
    assert _recurring(mollie) == []
    with commune_context(commune_a):
        debit = DirectDebit.objects.get()
        mandate.refresh_from_db()
    assert (debit.status, mandate.status) == ("failed", "invalid")
    assert len(mail.outbox) == 1


def test_another_family_cannot_stop_a_mandate(client, commune_a, mollie):
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    mandate = _sign(client, commune_a, family, mollie)
    other = _family(commune_a, "autre@example.fr", name="Durand", dossier="F00002")
    client.force_login(other.guardians.get().account)
    path = commune_path(commune_a, f"prelevement/mandat/{mandate.pk}/arreter/")
    assert client.get(path).status_code == 404
    assert client.post(path).status_code == 404
    with commune_context(commune_a):
        mandate.refresh_from_db()
    assert mandate.status == "valid"
    assert mollie.mandates[mandate.mandate_id]["status"] == "valid"


def test_a_payfip_regie_cannot_offer_direct_debit(commune_a):
    with commune_context(commune_a):
        regie = services.get_regie()
        # when an admin asks for direct debit on a PayFiP régie
        with pytest.raises(FoyerError) as error:
            save_regie(
                regie_id=regie.pk,
                name="Cantine",
                regie_code="CA",
                due_days=30,
                invoicing_day=1,
                online_payment=False,
                payment_provider="payfip",
                payfip_numcli="",
                direct_debit_enabled=True,
            )
        # then it is refused in French and nothing changes
        assert "PayFiP ne le propose pas" in str(error.value.field_errors["direct_debit_enabled"])
        regie.refresh_from_db()
        assert not regie.direct_debit_enabled and regie.payment_provider == "mollie"


def test_commune_b_does_not_see_commune_a_direct_debits(client, commune_a, commune_b, mollie):
    # given a second régie in commune A, which commune B does not have
    _offer_direct_debit(commune_a)
    with commune_context(commune_a):
        regie = Regie.objects.create(name="Périscolaire", regie_code="PE", direct_debit_enabled=True)
    with commune_context(commune_b):
        services.get_regie()
        assert not Regie.objects.filter(pk=regie.pk).exists()
    # when an agent of commune B asks for its direct debits
    client.force_login(make_staff(commune_b, "agent@demo.test"))
    response = client.get(commune_path(commune_b, f"console/facturation/regies/{regie.pk}/prelevements/"))
    # then it is not found
    assert response.status_code == 404


def _committed_setup(fake_mollie, settings):
    from tenants.models import Commune

    settings.MOLLIE_API_ENDPOINT = fake_mollie.base_url
    commune = Commune.objects.get(slug="jolieville")
    _offer_direct_debit(commune)
    family = _family(commune)
    account = family.guardians.get().account
    with commune_context(commune):
        regie = Regie.objects.get()
        attempt = direct_debit.start_mandate_signup(family_id=family.pk, account=account, regie_id=regie.pk)
    fake_mollie.set_status(attempt.provider_id, "paid", webhook=False)
    with commune_context(commune):
        payments.sync_attempt(attempt_id=attempt.pk, source="return")
        assert DebitMandate.objects.get().status == "valid"
    invoice = _invoice(commune, family)
    return commune, invoice


def _at_once(commune, *jobs):
    barrier = threading.Barrier(len(jobs))
    errors = []

    def run(job):
        try:
            with commune_context(commune):
                barrier.wait()
                job()
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


def test_collection_running_twice_at_once_debits_once(committed_db, fake_mollie, settings):
    # given an invoice due today for a family with a valid mandate
    commune, invoice = _committed_setup(fake_mollie, settings)
    # when four collection runs start at the same instant
    _at_once(commune, *[lambda: direct_debit.collect_due_debits(today=invoice.due_date)] * 4)
    # then Mollie got one payment, and Foyer one attempt
    assert len(_recurring(fake_mollie)) == 1
    with commune_context(commune):
        assert PaymentAttempt.objects.filter(direct_debit__isnull=False).count() == 1
        attempt = DirectDebit.objects.get().attempt
    # when the bank pays while runs and webhooks race
    fake_mollie.set_status(attempt.provider_id, "paid", webhook=False)
    _at_once(
        commune,
        lambda: direct_debit.collect_due_debits(today=invoice.due_date),
        lambda: direct_debit.collect_due_debits(today=invoice.due_date + dt.timedelta(days=1)),
        *[lambda: payments.sync_attempt(attempt_id=attempt.pk, source="webhook")] * 3,
    )
    # then the invoice is paid once, by one payment
    assert len(_recurring(fake_mollie)) == 1
    with commune_context(commune):
        invoice.refresh_from_db()
        assert (invoice.status, invoice.paid_amount) == ("paid", Decimal("4.05"))
        assert Payment.objects.count() == 1
        assert DirectDebit.objects.get().status == "paid"


def test_a_debit_whose_answer_was_lost_is_sent_again_with_the_same_key(client, commune_a, mollie):
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    _sign(client, commune_a, family, mollie)
    invoice = _invoice(commune_a, family)
    # given Mollie makes the payment but the answer never comes back
    mollie.inject_fault("drop_after_create", method="POST", path="/v2/payments")
    with pytest.raises(Exception):  # noqa: B017 (the client's own network error)
        _collect(commune_a, invoice.due_date)
    with commune_context(commune_a):
        debit = DirectDebit.objects.get()
        assert debit.status == "submitted" and debit.attempt.provider_id is None
    # when a later run resumes it
    with commune_context(commune_a):
        direct_debit.collect_due_debits(
            today=invoice.due_date, now=debit.attempt.created_at + dt.timedelta(minutes=11)
        )
        provider_id = PaymentAttempt.objects.get(pk=debit.attempt_id).provider_id
    # then Mollie replays the same payment: still one, now bound to the attempt
    [payment] = _recurring(mollie)
    assert provider_id == payment["id"]


def test_an_admin_offers_direct_debit_on_a_mollie_regie_from_the_console(client, commune_a, mollie):
    from shared_identity.models import StaffRole

    # given a régie that takes online payments through Mollie
    _offer_direct_debit(commune_a)
    with commune_context(commune_a):
        regie = Regie.objects.get()
        Regie.objects.update(direct_debit_enabled=False)
    client.force_login(make_staff(commune_a, "chef@jolieville.test", role=StaffRole.Role.ADMIN))
    data = {
        "name": "Restauration scolaire",
        "regie_code": "RG",
        "source": "foyer",
        "due_days": "30",
        "invoicing_day": "1",
        "payment_provider": "mollie",
        "direct_debit_enabled": "on",
    }
    path = commune_path(commune_a, f"console/facturation/regies/{regie.pk}/")
    # when online payment is left off, direct debit is refused in French
    response = client.post(path, data)
    assert response.status_code == 200
    assert "Activez d'abord le paiement en ligne avec Mollie" in html.unescape(response.content.decode())
    with commune_context(commune_a):
        assert not Regie.objects.get().direct_debit_enabled
    # when it is on, direct debit is saved, and the régie links to its mandates and debits
    assert client.post(path, {**data, "online_payment": "on"}).status_code == 302
    with commune_context(commune_a):
        assert Regie.objects.get().direct_debit_enabled
    page = html.unescape(client.get(path).content.decode())
    assert f"/console/facturation/regies/{regie.pk}/prelevements/" in page


def test_the_pdf_says_when_the_invoice_will_be_debited(client, commune_a, mollie):
    from billing.console_selectors import get_invoice
    from billing.pdf import render_invoice_pdf

    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    _sign(client, commune_a, family, mollie)
    invoice = _invoice(commune_a, family)
    with commune_context(commune_a):
        document = render_invoice_pdf(
            invoice=get_invoice(invoice_id=invoice.pk), commune=commune_a, compress=False
        )
    # then the PDF names the debit date instead of "à payer avant"
    assert b"sera pr" in document and b"payer avant" not in document


def test_the_beat_task_collects_in_each_commune_on_the_given_day(client, commune_a, mollie, settings):
    from billing.tasks import collect_direct_debits

    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    _sign(client, commune_a, family, mollie)
    invoice = _invoice(commune_a, family)
    kwargs = {"schema_name": commune_a.schema_name}
    # when the task runs the day before, then on the due date
    before = (invoice.due_date - dt.timedelta(days=1)).isoformat()
    assert collect_direct_debits.apply(kwargs={**kwargs, "today": before}).get() == 0
    assert collect_direct_debits.apply(kwargs={**kwargs, "today": invoice.due_date.isoformat()}).get() == 1
    # then one debit was sent, and beat runs the task every morning
    assert len(_recurring(mollie)) == 1
    assert settings.CELERY_BEAT_SCHEDULE["collect-direct-debits"]["task"] == (
        "billing.tasks.collect_direct_debits_everywhere"
    )


def test_an_invoice_to_be_debited_is_not_paid_by_hand(client, commune_a, mollie):
    _offer_direct_debit(commune_a)
    family = _family(commune_a)
    _sign(client, commune_a, family, mollie)
    invoice = _invoice(commune_a, family)
    # when the family posts it to "Payer les factures sélectionnées" anyway
    response = client.post("/factures/payer/", {"invoices": [f"jolieville:{invoice.pk}"]}, follow=True)
    # then nothing starts, the page says why, and the dashboard does not ask to pay it
    assert "Sélectionnez au moins une facture à payer." in html.unescape(response.content.decode())
    with commune_context(commune_a):
        assert PaymentAttempt.objects.filter(invoices=invoice).count() == 0
    assert invoice.reference not in client.get("/").content.decode()


def test_a_pending_debit_is_reconciled_every_few_hours_not_every_few_minutes(client, commune_a, mollie):
    from billing.tasks import reconcile_payments

    _sent, _payment, attempt = _sent_debit(client, commune_a, mollie)
    with commune_context(commune_a):
        # when the reconciliation runs 20 minutes after the debit was sent: left alone
        PaymentAttempt.objects.filter(pk=attempt.pk).update(
            updated_at=attempt.updated_at - dt.timedelta(minutes=20)
        )
        assert reconcile_payments.apply(kwargs={"schema_name": commune_a.schema_name}).get() == 0
        # and 7 hours after: asked about
        PaymentAttempt.objects.filter(pk=attempt.pk).update(
            updated_at=attempt.updated_at - dt.timedelta(hours=7)
        )
        assert reconcile_payments.apply(kwargs={"schema_name": commune_a.schema_name}).get() == 1


def test_a_family_stops_its_mandate_in_a_suspended_commune(client, commune_a, mollie):
    from operators.services import suspend_commune

    # given a signed mandate, then the commune suspended by the operators
    _offer_direct_debit(commune_a)
    mandate = _sign(client, commune_a, _family(commune_a), mollie)
    suspend_commune(commune=commune_a, reason="Changement de logiciel.")
    # when the family stops the direct debit
    response = client.post(commune_path(commune_a, f"prelevement/mandat/{mandate.pk}/arreter/"))
    # then it is stopped, here and at Mollie; the other pages stay closed
    assert response.status_code == 302
    with commune_context(commune_a):
        mandate.refresh_from_db()
    assert mandate.status == "revoked"
    assert mollie.mandates[mandate.mandate_id]["status"] == "invalid"
    assert client.get(commune_path(commune_a, "reservations/")).status_code == 503

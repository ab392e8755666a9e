"""Payment plans: one checkout per régie, chained; the family may stop and come back; a step
paid elsewhere (at the counter) is no longer asked for."""

from __future__ import annotations

import html

from billing import services
from billing.crypto import encrypt_secret
from billing.fake_mollie import OTHER_TEST_KEY, TEST_KEY
from billing.models import PaymentAttempt, Regie
from family.models import PaymentPlan
from reservations.models import Service
from tenants.context import commune_context
from tenants.models import Commune
from tests.billing.conftest import issue_january
from tests.reservations.conftest import family_in, make_catalogue


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def _two_regies_and_invoices(commune):
    canteen = make_catalogue(commune, code="REPAS")
    peri = make_catalogue(commune, code="PERI", price="6.00")
    family = family_in(commune, "parent@example.fr").family
    with commune_context(commune):
        Regie.objects.update(
            name="Restauration scolaire",
            regie_code="CA",
            online_payment=True,
            mollie_key_encrypted=encrypt_secret(TEST_KEY),
        )
        a4 = Regie.objects.create(
            name="Service périscolaire",
            regie_code="A4",
            online_payment=True,
            mollie_key_encrypted=encrypt_secret(OTHER_TEST_KEY),
        )
        Service.objects.filter(pk=peri.service.pk).update(regie=a4)
        peri.service.regie_id = a4.pk
    return family, issue_january(canteen, family), issue_january(peri, family)


def _return(client, commune, attempt_id):
    return client.get(f"/c/{commune.slug}/paiement/{attempt_id}/retour/")


def test_the_family_stops_after_the_first_regie_and_comes_back_from_mes_factures(client, commune_a, mollie):
    family, canteen_invoice, peri_invoice = _two_regies_and_invoices(commune_a)
    client.force_login(family.guardians.get().account)
    keys = [f"jolieville:{canteen_invoice.pk}", f"jolieville:{peri_invoice.pk}"]
    # the first checkout starts at once
    response = client.post("/factures/payer/", {"invoices": keys})
    with commune_context(commune_a):
        first = PaymentAttempt.objects.get()
    assert response["Location"] == first.checkout_url and first.amount == canteen_invoice.total
    mollie.set_status(first.provider_id, "paid", webhook=False)
    page = page_text(_return(client, commune_a, first.pk))
    assert "Merci, votre paiement est reçu" in page
    assert "Continuer : payer Commune de JolieVille – Service périscolaire (6,00\u00a0€)" in page
    # the family leaves here; Mes factures keeps the plan
    invoices_page = page_text(client.get("/factures/"))
    assert "Paiements à terminer" in invoices_page
    assert "Commune de JolieVille – Restauration scolaire : payé" in invoices_page
    assert "Commune de JolieVille – Service périscolaire : à payer" in invoices_page
    plan = PaymentPlan.objects.get()
    page = page_text(client.get(f"/paiements/{plan.pk}/"))
    assert "Déjà payé : 4,05\u00a0€." in page
    # and comes back: the second régie's checkout, for the second invoice only
    response = client.post(f"/paiements/{plan.pk}/continuer/")
    with commune_context(commune_a):
        second = PaymentAttempt.objects.exclude(pk=first.pk).get()
        assert list(second.invoices.all()) == [peri_invoice]
        assert second.regie.regie_code == "A4"
    assert response["Location"] == second.checkout_url
    mollie.set_status(second.provider_id, "paid", webhook=False)
    page = page_text(_return(client, commune_a, second.pk))
    assert "Continuer" not in page
    assert "Paiements à terminer" not in page_text(client.get("/factures/"))
    plan.refresh_from_db()
    assert plan.closed_at is not None


def test_a_step_paid_at_the_counter_meanwhile_is_not_asked_for(client, commune_a, mollie):
    family, canteen_invoice, peri_invoice = _two_regies_and_invoices(commune_a)
    client.force_login(family.guardians.get().account)
    client.post(
        "/factures/payer/",
        {"invoices": [f"jolieville:{canteen_invoice.pk}", f"jolieville:{peri_invoice.pk}"]},
    )
    with commune_context(commune_a):
        services.record_payment(invoice_id=peri_invoice.pk, method="cash", amount=peri_invoice.total)
    plan = PaymentPlan.objects.get()
    page = page_text(client.get(f"/paiements/{plan.pk}/"))
    assert "Plus à payer" in page
    assert "Payer Commune de JolieVille – Service périscolaire" not in page


def test_stopping_a_plan_keeps_what_is_paid_and_the_rest_in_mes_factures(client, commune_a, mollie):
    family, canteen_invoice, peri_invoice = _two_regies_and_invoices(commune_a)
    client.force_login(family.guardians.get().account)
    client.post(
        "/factures/payer/",
        {"invoices": [f"jolieville:{canteen_invoice.pk}", f"jolieville:{peri_invoice.pk}"]},
    )
    plan = PaymentPlan.objects.get()
    response = client.post(f"/paiements/{plan.pk}/arreter/", follow=True)
    page = page_text(response)
    assert "Paiement arrêté" in page and "Paiements à terminer" not in page
    assert f"(ref : {peri_invoice.reference})" in page


def test_another_account_cannot_see_or_continue_a_plan(client, commune_a, mollie):
    family, canteen_invoice, _peri = _two_regies_and_invoices(commune_a)
    client.force_login(family.guardians.get().account)
    client.post("/factures/payer/", {"invoices": [f"jolieville:{canteen_invoice.pk}"]})
    plan = PaymentPlan.objects.get()
    other = family_in(commune_a, "other@example.fr", name="Durand", dossier="F00002").family
    client.force_login(other.guardians.get().account)
    assert client.get(f"/paiements/{plan.pk}/").status_code == 404
    assert client.post(f"/paiements/{plan.pk}/continuer/").status_code == 404
    assert client.post(f"/paiements/{plan.pk}/arreter/").status_code == 404
    plan.refresh_from_db()
    assert plan.closed_at is None


def test_mes_factures_filters_by_commune(client, commune_a, commune_b, mollie):
    family, canteen_invoice, peri_invoice = _two_regies_and_invoices(commune_a)
    family.memberships.create(commune=commune_b, dossier_number="B-1", status="active")
    demo_invoice = issue_january(make_catalogue(commune_b, code="CANT", price="3.20"), family)
    client.force_login(family.guardians.get().account)
    everything = page_text(client.get("/factures/"))
    assert all(f"(ref : {i.reference})" in everything for i in (canteen_invoice, peri_invoice, demo_invoice))
    assert "Collectivité Démo – Régie principale" in everything
    only_demo = page_text(client.get("/factures/?commune=demo"))
    assert f"(ref : {demo_invoice.reference})" in only_demo
    assert f"(ref : {canteen_invoice.reference})" not in only_demo
    # an unknown commune shows everything rather than nothing
    unknown = page_text(client.get("/factures/?commune=ailleurs"))
    assert f"(ref : {canteen_invoice.reference})" in unknown
    assert Commune.objects.filter(slug="ailleurs").count() == 0

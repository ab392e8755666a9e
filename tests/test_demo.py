"""The demo data a newcomer gets with `make demo`."""

from actualites.models import NewsItem
from billing.models import Invoice, Regie
from demandes.models import Request
from operators.demo import PARENT_EMAIL, seed_demo
from reservations.models import Enrolment, Prestation
from shared_identity.selectors import list_memberships_of
from tenants.context import commune_context
from tenants.models import Commune
from tests.demandes.conftest import install_default_categories


def test_seed_demo_gives_a_family_in_two_communes_with_something_to_book_and_to_pay(db):
    # given the default request categories every commune starts with
    for commune in Commune.objects.all():
        install_default_categories(commune)
    # when (twice: it is idempotent)
    seed_demo()
    data = seed_demo()
    # then
    parent = data["parent"]
    assert parent.email == PARENT_EMAIL and data["operator"].is_platform_operator
    communes = [m.commune for m in list_memberships_of(parent)]
    assert sorted(c.slug for c in communes) == ["demo", "jolieville"]
    for commune in communes:
        with commune_context(commune):
            assert Prestation.objects.filter(is_active=True).count() >= 3
            assert Enrolment.objects.count() >= 2
            invoices = Invoice.objects.order_by("reference")
            assert {i.status for i in invoices} == {"issued"}
            # JolieVille: one invoice per régie (canteen CA, périscolaire A4)
            # Collectivité Démo: its own (PL) and one from the commune's software (FC)
            expected = {"jolieville": ["CA", "A4"], "demo": ["FC", "PL"]}[commune.slug]
            assert sorted(i.reference.split("-")[1] for i in invoices) == sorted(expected)
            # prélèvement automatique: JolieVille's périscolaire régie (Mollie) offers it
            offering = {"jolieville": ["A4"], "demo": []}[commune.slug]
            assert list(
                Regie.objects.filter(direct_debit_enabled=True).values_list("regie_code", flat=True)
            ) == (offering)
            assert NewsItem.objects.filter(pinned=True).count() == 1 and NewsItem.objects.count() == 2
            requests = list(Request.objects.all())
            if commune.slug == "jolieville":
                assert [(r.status, r.attachments.count()) for r in requests] == [("in_progress", 1)]
            else:
                assert requests == []

"""The demo data a newcomer gets with `make demo`."""

from billing.models import Invoice
from operators.demo import PARENT_EMAIL, seed_demo
from reservations.models import Enrolment, Prestation
from shared_identity.selectors import list_memberships_of
from tenants.context import commune_context


def test_seed_demo_gives_a_family_in_two_communes_with_something_to_book_and_to_pay(db):
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
            invoice = Invoice.objects.get()
            assert invoice.status == "issued" and invoice.reference.split("-")[1] in {"A4", "CA"}

"""Capacity is never exceeded: concurrent validations on separate connections compete for
the last places of a day."""

import datetime as dt
import threading

from django.db import connections

from foyer.errors import FoyerError
from reservations import services
from reservations.models import Booking, Slot
from tenants.context import commune_context
from tenants.models import Commune
from tests.reservations.conftest import MONDAY, at, enrol, family_in, make_catalogue

CAPACITY = 3
FAMILIES = 8


def test_concurrent_validations_confirm_exactly_the_capacity(committed_db):
    # given a prestation with 3 places and 8 families with it in their cart
    commune = Commune.objects.get(slug="jolieville")
    canteen = make_catalogue(commune, capacity=CAPACITY)
    wednesday = MONDAY + dt.timedelta(days=2)
    memberships = []
    for index in range(FAMILIES):
        membership = family_in(
            commune, f"parent{index}@example.fr", name=f"F{index}", dossier=f"F{index:05d}"
        )
        child = membership.family.children.get()
        enrol(canteen, child)
        with commune_context(commune):
            services.add_to_cart(
                family=membership.family,
                account=membership.family.guardians.get().account,
                child_id=child.pk,
                prestation_id=canteen.prestation.pk,
                site_id=canteen.site.pk,
                day=wednesday,
                now=at(MONDAY, 8),
            )
        memberships.append(membership)

    # when they all press "Valider" at the same time, each on its own connection
    barrier = threading.Barrier(FAMILIES)
    outcomes: list[str] = []

    def validate(membership):
        try:
            barrier.wait()
            services.validate_carts(
                communes=[commune],
                family_ids=[membership.family_id],
                account=membership.family.guardians.get().account,
                now=at(MONDAY, 8, 1),
            )
            outcomes.append("booked")
        except FoyerError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=validate, args=(m,)) for m in memberships]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # then exactly the capacity is confirmed, the others are told why
    assert sorted(outcomes) == ["booked"] * CAPACITY + ["cart_refused"] * (FAMILIES - CAPACITY)
    with commune_context(commune):
        assert Booking.objects.filter(status="confirmed").count() == CAPACITY
        assert Slot.objects.get().taken == CAPACITY

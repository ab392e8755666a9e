"""Identity merges: when a commune's dossier joins a family that already exists, the
commune's reservation rows follow it."""

from __future__ import annotations

from ..models import (
    Booking,
    BookingCredit,
    CancellationRequest,
    Cart,
    CartItem,
    Enrolment,
    QuotientFamilial,
)
from .checks import current_commune


def reassign_family(*, from_family_id: int, to_family_id: int, same_child: dict[int, int]) -> None:
    """Point this commune's reservation data at the family a dossier was merged into.

    ``same_child`` maps the dossier's children that the family already had to those."""
    current_commune()
    for old, new in same_child.items():
        for model in (Enrolment, Booking, CartItem):
            model.objects.filter(child_id=old).update(child_id=new)
    target_cart = Cart.objects.filter(family_id=to_family_id, status=Cart.Status.OPEN).first()
    if target_cart is not None:
        CartItem.objects.filter(cart__family_id=from_family_id, cart__status=Cart.Status.OPEN).update(
            cart=target_cart
        )
        Cart.objects.filter(family_id=from_family_id, status=Cart.Status.OPEN).delete()
    for model in (Enrolment, Booking, Cart, CancellationRequest, BookingCredit, QuotientFamilial):
        model.objects.filter(family_id=from_family_id).update(family_id=to_family_id)

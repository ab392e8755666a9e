"""Writes on reservations, one module per job (what other code calls is re-exported here).
Each command is one transaction.

* ``checks``: whether a child may be booked on a day, and at what price;
* ``cart``: the cart and its validation for every commune at once;
* ``bookings``: a booking's state and its place (capacity under concurrency), holds;
* ``cancellation``: cancelling within the deadline, cancellation requests after it;
* ``staff``: enrolments, attendance, mass cancellation (the commune's side);
* ``merges``: a dossier merged into an existing family.

The catalogue (services, sites, prestations, calendar) is written by catalogue_services.
"""

from .bookings import confirm_paid_cart, expire_holds, record_credit
from .cancellation import (
    cancel_booking,
    cancellation_request_problem,
    credit_allowed,
    decide_cancellation_request,
    get_family_booking,
    request_cancellation,
)
from .cart import (
    MAX_PATTERN_DAYS,
    CommuneCheckout,
    PatternResult,
    add_absence_to_cart,
    add_pattern_to_cart,
    add_to_cart,
    remove_from_cart,
    remove_pattern_from_cart,
    validate_carts,
)
from .checks import Refusal, booking_price
from .merges import reassign_family
from .staff import enrol_child, mark_attendance, mass_cancel

__all__ = [
    "add_absence_to_cart",
    "cancellation_request_problem",
    "CommuneCheckout",
    "MAX_PATTERN_DAYS",
    "PatternResult",
    "Refusal",
    "add_pattern_to_cart",
    "add_to_cart",
    "booking_price",
    "cancel_booking",
    "confirm_paid_cart",
    "credit_allowed",
    "decide_cancellation_request",
    "enrol_child",
    "expire_holds",
    "get_family_booking",
    "mark_attendance",
    "mass_cancel",
    "reassign_family",
    "record_credit",
    "remove_from_cart",
    "remove_pattern_from_cart",
    "request_cancellation",
    "validate_carts",
]

"""What billing may use of reservations: the one named interface between two commune apps
(README, "Where code goes"; checked by .importlinter).

Billing bills bookings. It reads the bookings of a month (its invoicing SQL names the
reservations tables), the credits of cancelled paid bookings, and the carts awaiting payment;
when the payment of a prepaid cart settles, it has the held places confirmed.
Nothing else of reservations is billing's to touch.
"""

from .models import Booking, BookingCredit, Cart
from .services import confirm_paid_cart

__all__ = ["Booking", "BookingCredit", "Cart", "confirm_paid_cart"]

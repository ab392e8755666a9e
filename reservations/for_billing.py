"""What billing may use of reservations: the one named interface between two commune apps
(README, "Where code goes"; checked by .importlinter).

Billing bills bookings. It reads the bookings of a month (its invoicing SQL names the
reservations tables), the credits of cancelled paid bookings, and the carts awaiting payment;
when the payment of a prepaid cart settles, it has the held places confirmed. The yearly
attestations of payments read the services (their name, whether they qualify for the
childcare tax credit) and the prestations' labels.
Nothing else of reservations is billing's to touch.
"""

from .models import Booking, BookingCredit, Cart, Prestation, Service
from .services import confirm_paid_cart

__all__ = ["Booking", "BookingCredit", "Cart", "Prestation", "Service", "confirm_paid_cart"]

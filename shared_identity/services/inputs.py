"""What people type, checked: the inputs of the identity's services and the shared rules
(e-mail, phone, postcode, address, a child's birth date), refused with French messages."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError


@dataclass(frozen=True)
class ChildInput:
    first_name: str
    last_name: str
    birth_date: dt.date | None


@dataclass(frozen=True)
class ProfileInput:
    first_name: str
    last_name: str
    phone: str = ""
    address_line: str = ""
    postcode: str = ""
    city: str = ""


def invalid(message: str, errors: dict[str, list[str]]) -> FoyerError:
    return FoyerError("invalid", message, extra={"fields": errors})


def require(errors: dict[str, list[str]], field: str, value: str) -> None:
    if not value.strip():
        errors.setdefault(field, []).append(_("Ce champ est obligatoire."))


def check_email_into(errors: dict[str, list[str]], field: str, email: str) -> None:
    try:
        validate_email(email)
    except ValidationError:
        errors.setdefault(field, []).append(_("Saisissez une adresse e-mail valide."))


def child_birth_date_problem(birth_date: dt.date | None, *, today: dt.date | None = None) -> str | None:
    """Why a child's birth date cannot be accepted, or None (shared by the dossier form and
    the CSV import)."""
    if birth_date is None:
        return _("Indiquez la date de naissance de l'enfant.")
    today = today or timezone.localdate()
    if not (today - dt.timedelta(days=26 * 366) <= birth_date <= today):
        return _("La date de naissance n'est pas plausible.")
    return None


POSTCODE_RE = re.compile(r"^\d{5}$")
_FRENCH_PHONE_RE = re.compile(r"^(?:\+33|0033|0)([1-9]\d{8})$")
_INTERNATIONAL_PHONE_RE = re.compile(r"^\+[1-9]\d{6,14}$")


def clean_phone(value: str) -> str | None:
    """A phone number as people read it ("06 12 34 56 78", or "+32470123456" abroad), "" for
    none, None when it is not a phone number."""
    compact = re.sub(r"[\s.\-()]", "", (value or "").replace("(0)", ""))
    if not compact:
        return ""
    match = _FRENCH_PHONE_RE.match(compact)
    if match:
        digits = "0" + match.group(1)
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    if _INTERNATIONAL_PHONE_RE.match(compact):
        return compact
    return None


def check_phone_into(errors: dict[str, list[str]], field: str, value: str) -> str:
    phone = clean_phone(value)
    if phone is None:
        errors.setdefault(field, []).append(
            _("Saisissez un numéro de téléphone valide (par exemple 06 12 34 56 78).")
        )
        return ""
    return phone


def check_max_length_into(errors: dict[str, list[str]], field: str, value: str, limit: int) -> None:
    if len(value) > limit:
        errors.setdefault(field, []).append(
            _("%(limit)s caractères au plus (vous en avez saisi %(count)s).")
            % {"limit": limit, "count": len(value)}
        )


@dataclass(frozen=True)
class AddressInput:
    address_line: str
    postcode: str
    city: str

    def lines(self) -> str:
        return f"{self.address_line}\n{self.postcode} {self.city}"


def validate_address(address: AddressInput, errors: dict[str, list[str]]) -> AddressInput:
    cleaned = AddressInput(
        address_line=" ".join(address.address_line.split()),
        postcode=address.postcode.replace(" ", ""),
        city=" ".join(address.city.split()),
    )
    require(errors, "address_line", cleaned.address_line)
    check_max_length_into(errors, "address_line", cleaned.address_line, 255)
    if not cleaned.postcode:
        require(errors, "postcode", cleaned.postcode)
    elif not POSTCODE_RE.match(cleaned.postcode):
        errors.setdefault("postcode", []).append(_("Le code postal comporte 5 chiffres (par exemple 38000)."))
    require(errors, "city", cleaned.city)
    check_max_length_into(errors, "city", cleaned.city, 120)
    return cleaned

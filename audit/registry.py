"""What the audit log records of each model: its object type (a stable code and a French
label), how to name a row, which fields are noise, which are secrets, and the child
collections saved with it.

Models not listed here are never recorded row by row. Left out on purpose:

* technical rows: places counters (Slot), invoice number counters (InvoiceCounter), invoice
  lines (written set-based by the invoicing run, recorded as one entry of the run), the run
  itself (explicit entries for its preparation and issue);
* the families' own rows: carts and their items, payment attempts and the provider's events,
  news read markers, e-mail changes, data exports, deletion requests (families never act in
  an audit scope anyway);
* the history of a request (RequestEvent), which is already an append-only journal shown on
  the request; the request's status, assignee and decision are recorded on the request;
* a prestation's places per site and price brackets, and a site's services: replaced as a
  whole on every save, they are recorded as collections of their prestation or site (one
  entry says "sites: … → …" instead of one deletion and one creation per row).
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.utils.translation import gettext_lazy as _

REDACTED = "••••"
# Field names that hold secrets: encrypted keys, token hashes, passwords, bank details.
_SECRET = re.compile(r"(^|_)(password|secret|token|hash|encrypted|key|iban|bic|otp|totp)(_|$)")
# Never worth an entry: the entry has its own date, and last_login moves on every sign-in.
IGNORED_EVERYWHERE = frozenset({"id", "created_at", "updated_at", "last_login", "date_joined"})


def is_secret(name: str) -> bool:
    return bool(_SECRET.search(name))


@dataclass(frozen=True)
class Spec:
    object_type: str
    label: object  # French, lazy
    name: Callable[[models.Model], str] | None = None
    ignored: frozenset[str] = frozenset()
    # name → (French label, rows of the collection as sorted strings, read from the database)
    collections: dict[str, tuple[object, Callable[[models.Model], list[str]]]] = field(default_factory=dict)
    # False for a settings row created with its defaults the first time it is read: only its
    # changes are worth an entry.
    record_creation: bool = True


def _safe(read: Callable[[], str], fallback: models.Model) -> str:
    try:
        return read()
    except (ObjectDoesNotExist, AttributeError):
        return str(fallback)


def _day(value) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def _person(row) -> str:
    return f"{row.first_name} {row.last_name}".strip()


def _booking(row) -> str:
    return _safe(lambda: f"{_person(row.child)}, {row.prestation.label} le {_day(row.date)}", row)


def _offers(prestation) -> list[str]:
    from foyer.formatting import NBSP

    rows = prestation.offers.select_related("site").order_by("site__name")
    return [
        f"{offer.site.name} : "
        + (f"{offer.capacity}{NBSP}places" if offer.capacity is not None else str(_("sans limite")))
        for offer in rows
    ]


def _brackets(prestation) -> list[str]:
    from foyer.formatting import bracket_label, format_money

    return [
        f"{bracket_label(b.qf_min, b.qf_max)} : {format_money(b.price)}"
        for b in prestation.brackets.order_by("qf_min")
    ]


def _site_services(site) -> list[str]:
    return sorted(site.services.values_list("name", flat=True))


SPECS: dict[str, Spec] = {
    # --- the catalogue and the calendar (commune schema)
    "reservations.Service": Spec("service", _("service")),
    "reservations.Site": Spec(
        "site", _("site"), collections={"services": (_("services accueillis"), _site_services)}
    ),
    "reservations.Prestation": Spec(
        "prestation",
        _("prestation"),
        name=lambda row: f"{row.label} ({row.code})",
        collections={
            "sites": (_("sites et places par jour"), _offers),
            "brackets": (_("tranches de quotient familial"), _brackets),
        },
    ),
    "reservations.Closure": Spec(
        "closure",
        _("fermeture"),
        name=lambda row: _safe(
            lambda: f"{_day(row.date)} — {row.site.name if row.site_id else _('tous les sites')}", row
        ),
    ),
    "reservations.SchoolHoliday": Spec(
        "school_holiday",
        _("vacances scolaires"),
        name=lambda row: f"{row.name} ({_day(row.start)} – {_day(row.end)})",
    ),
    "reservations.QuotientFamilial": Spec(
        "quotient",
        _("quotient familial"),
        name=lambda row: _safe(lambda: f"{row.family.name}, à partir du {_day(row.valid_from)}", row),
    ),
    # --- families' reservations, as the staff handle them
    "reservations.Enrolment": Spec(
        "enrolment",
        _("inscription"),
        name=lambda row: _safe(lambda: f"{_person(row.child)} — {row.service.name} ({row.site.name})", row),
    ),
    "reservations.Booking": Spec("booking", _("réservation"), name=_booking),
    "reservations.CancellationRequest": Spec(
        "cancellation_request",
        _("demande d'annulation"),
        name=lambda row: _safe(lambda: f"n° {row.pk} — {_booking(row.booking)}", row),
    ),
    "reservations.BookingCredit": Spec(
        "booking_credit",
        _("avoir sur réservation"),
        name=lambda row: _safe(lambda: _booking(row.booking), row),
    ),
    # --- billing
    "billing.Regie": Spec("regie", _("régie"), name=lambda row: f"{row.name} ({row.regie_code})"),
    "billing.RegieApiToken": Spec(
        "regie_api_token",
        _("clé d'API de régie"),
        name=lambda row: f"{row.name} ({row.prefix}…)",
        ignored=frozenset({"last_used_at"}),
    ),
    "billing.Invoice": Spec(
        "invoice", _("facture"), name=lambda row: row.reference or f"brouillon n° {row.pk}"
    ),
    "billing.Payment": Spec(
        "payment",
        _("paiement"),
        name=lambda row: _safe(lambda: f"{row.get_method_display()} — facture {row.invoice}", row),
    ),
    "billing.CreditNote": Spec(
        "credit_note", _("avoir"), name=lambda row: _safe(lambda: f"avoir sur la facture {row.invoice}", row)
    ),
    "billing.Refund": Spec("refund", _("remboursement")),
    "billing.AttestationRun": Spec(
        "attestation_run",
        _("envoi des attestations de paiement"),
        name=lambda row: f"attestations {row.year}",
        ignored=frozenset({"families", "generated", "sent", "already_sent", "without_email", "finished_at"}),
    ),
    # --- the shared identity, as a commune's staff change it
    "shared_identity.Account": Spec(
        "account",
        _("compte"),
        name=lambda row: f"{_person(row)} <{row.email}>",
        ignored=frozenset({"password"}),
    ),
    "shared_identity.Family": Spec("family", _("famille")),
    "shared_identity.Guardian": Spec(
        "guardian", _("responsable légal"), name=lambda row: f"{_person(row)} ({row.email})"
    ),
    "shared_identity.Child": Spec("child", _("enfant"), name=_person),
    "shared_identity.Membership": Spec(
        "membership",
        _("dossier"),
        name=lambda row: _safe(lambda: f"n° {row.dossier_number} ({row.family.name})", row),
    ),
    "shared_identity.StaffRole": Spec(
        "staff_role",
        _("rôle dans l'équipe"),
        name=lambda row: _safe(lambda: f"{row.account.email} — {row.get_role_display()}", row),
    ),
    "shared_identity.Invitation": Spec(
        "invitation",
        _("invitation"),
        name=lambda row: f"{row.get_kind_display()} — {row.email}",
        # Moved by the e-mail task, not by the staff.
        ignored=frozenset({"delivery", "sent_at", "send_count"}),
    ),
    # --- the commune itself (its settings and identity)
    "tenants.Commune": Spec("commune", _("commune"), ignored=frozenset({"schema_name"})),
    # --- requests and news
    "demandes.RequestCategory": Spec("request_category", _("catégorie de demande")),
    "demandes.Request": Spec("request", _("demande"), name=lambda row: f"n° {row.pk} — {row.title}"),
    "demandes.RequestAttachment": Spec(
        "request_attachment", _("pièce jointe"), name=lambda row: row.original_name
    ),
    "actualites.NewsItem": Spec(
        "news_item",
        _("actualité"),
        name=lambda row: row.title,
        ignored=frozenset({"updated_by", "emailed_at"}),
    ),
}

# Object types of the explicit entries (operations the row signals do not see).
EXPLICIT_TYPES: dict[str, object] = {
    "invoicing_run": _("facturation mensuelle"),
    "family_import": _("import de familles"),
    "activation": _("liens d'activation"),
    "domain": _("domaine"),
}

VERBS: dict[str, object] = {
    "create": _("Création"),
    "update": _("Modification"),
    "delete": _("Suppression"),
}

# Field labels for fields declared without a French verbose_name.
FIELD_LABELS: dict[str, object] = {
    "status": _("statut"),
    "price": _("prix"),
    "date": _("date"),
    "child": _("enfant"),
    "family": _("famille"),
    "site": _("site"),
    "service": _("service"),
    "prestation": _("prestation"),
    "amount": _("montant"),
    "reason": _("motif"),
    "method": _("mode de paiement"),
    "reference": _("référence"),
    "invoice": _("facture"),
    "booking": _("réservation"),
    "account": _("compte"),
    "credit": _("avoir"),
    "late": _("hors délai"),
    "unbooked": _("sans réservation"),
    "cancel_reason": _("motif d'annulation"),
    "cancelled_at": _("annulée le"),
    "cancelled_by": _("annulée par"),
    "created_by": _("créé par"),
    "decided_at": _("décidée le"),
    "decided_by": _("décidée par"),
    "attendance_marked_at": _("pointage le"),
    "attendance_marked_by": _("pointage par"),
    "hold_expires_at": _("blocage jusqu'au"),
    "received_at": _("reçu le"),
    "recorded_by": _("enregistré par"),
    "applied_at": _("imputé le"),
    "mollie_key_encrypted": _("clé API Mollie"),
    "mollie_mode": _("mode Mollie"),
    "mollie_checked_at": _("clé vérifiée le"),
    "saved_at": _("réglages enregistrés le"),
    "token_hash": _("lien"),
    "ical_token": _("lien du calendrier"),
    "expires_at": _("expire le"),
    "used_at": _("utilisée le"),
    "used_by": _("utilisée par"),
    "email": _("adresse e-mail"),
    "role": _("rôle"),
    "kind": _("type"),
    "membership": _("dossier"),
    "commune": _("commune"),
    "closed_at": _("close le"),
    "assignee": _("attribuée à"),
    "paid_amount": _("montant payé"),
    "total": _("total"),
    "due_date": _("échéance"),
    "issued_at": _("émise le"),
    "suspended_at": _("suspendue le"),
    "activated_at": _("activée le"),
    "password": _("mot de passe"),
    "is_superuser": _("super-utilisateur"),
    "file": _("fichier"),
    "content_type": _("type de fichier"),
    "size": _("taille"),
    "uploaded_by": _("déposée par"),
    "side": _("côté"),
    "image_type": _("type d'image"),
    "refund": _("remboursement"),
    "provider_id": _("référence du prestataire"),
    "attempt": _("paiement en ligne"),
    "run": _("facturation"),
    "year": _("année"),
    "number": _("numéro"),
    "period_start": _("début"),
    "period_end": _("fin"),
    "payer_name": _("payeur"),
    "payer_address": _("adresse du payeur"),
    "hidden_by_family": _("masquée par la famille"),
}


def spec_for_model(model: type[models.Model]) -> Spec | None:
    return SPECS.get(model._meta.label)


def tracked_models() -> list[type[models.Model]]:
    return [apps.get_model(label) for label in SPECS]


@functools.cache
def _models_by_type() -> dict[str, type[models.Model]]:
    return {spec.object_type: apps.get_model(label) for label, spec in SPECS.items()}


def type_label(object_type: str) -> str:
    for spec in SPECS.values():
        if spec.object_type == object_type:
            return str(spec.label)
    return str(EXPLICIT_TYPES.get(object_type, object_type))


def type_choices() -> list[tuple[str, str]]:
    choices = {spec.object_type: str(spec.label) for spec in SPECS.values()}
    choices.update({code: str(label) for code, label in EXPLICIT_TYPES.items()})
    return sorted(choices.items(), key=lambda item: item[1].casefold())


def object_name(instance: models.Model) -> str:
    spec = spec_for_model(type(instance))
    name = spec.name(instance) if spec and spec.name else str(instance)
    return name[:255]


def tracked_fields(model: type[models.Model]) -> list[models.Field]:
    """Concrete fields of the row an entry is made of (many-to-many are collections)."""
    spec = spec_for_model(model)
    ignored = IGNORED_EVERYWHERE | (spec.ignored if spec else frozenset())
    return [f for f in model._meta.concrete_fields if f.name not in ignored and f.attname not in ignored]


@functools.cache
def field_order(object_type: str) -> list[str]:
    """The fields of a type in the model's order, then its collections."""
    model = _models_by_type().get(object_type)
    if model is None:
        return []
    spec = spec_for_model(model)
    return [f.name for f in tracked_fields(model)] + list(spec.collections)


def field_for(object_type: str, name: str) -> models.Field | None:
    model = _models_by_type().get(object_type)
    if model is None:
        return None
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None


def field_label(object_type: str, name: str) -> str:
    model = _models_by_type().get(object_type)
    if model is not None:
        spec = spec_for_model(model)
        if spec and name in spec.collections:
            return str(spec.collections[name][0])
    found = field_for(object_type, name)
    if found is not None:
        verbose = str(getattr(found, "verbose_name", "") or "")
        if verbose and verbose != name.replace("_", " "):
            return verbose
    return str(FIELD_LABELS.get(name, name.replace("_", " ")))


# --- Values as stored in an entry (JSON) --------------------------------------------------------


def stored_value(field_: models.Field, value):
    """A field's value in JSON: ids for foreign keys, ISO dates, decimals as strings; a secret
    is never stored, only whether it is set."""
    if is_secret(field_.attname) or is_secret(field_.name):
        return REDACTED if value not in (None, "") else ""
    if value is None or isinstance(value, bool | int | str | float):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list | dict):
        return value
    if hasattr(value, "name") and isinstance(field_, models.FileField):
        return value.name or ""
    return str(value)

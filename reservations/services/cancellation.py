"""Cancellation by the family: immediate within the deadline, or a request with a
certificate after it, which the commune decides."""

from __future__ import annotations

import datetime as dt

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from foyer.errors import FoyerError, NotFound
from foyer.uploads import validate_attachment
from shared_identity.models import Account
from tenants.tasks import enqueue_on_commit

from ..deadlines import format_deadline, rule_from
from ..models import (
    Booking,
    CancellationRequest,
    Prestation,
    Service,
)
from .bookings import cancel_and_free, record_credit, transition
from .checks import commune_tz


def _family_booking(family_ids: list[int], booking_id: int, *, lock: bool = False) -> Booking:
    bookings = Booking.objects.select_related("prestation__service", "child", "site")
    if lock:
        bookings = bookings.select_for_update(of=("self",))
    booking = bookings.filter(pk=booking_id, family_id__in=family_ids).first()
    if booking is None:
        raise NotFound(_("Cette réservation n'existe pas."))
    return booking


def get_family_booking(*, family_ids: list[int], booking_id: int) -> Booking:
    return _family_booking(family_ids, booking_id)


def cancel_booking(
    *, family_ids: list[int], account: Account, booking_id: int, now: dt.datetime | None = None
) -> Booking:
    """Cancel (signal an absence) within the commune's deadline: immediate, the place is freed
    and a prepaid booking is credited. After the deadline: refused, with the way to ask."""
    now = now or timezone.now()
    with transaction.atomic(durable=True):
        booking = _family_booking(family_ids, booking_id, lock=True)
        if booking.status not in (Booking.Status.HELD, Booking.Status.CONFIRMED):
            raise FoyerError(
                "not_cancellable",
                _("Cette réservation est « %(status)s » : elle ne peut plus être annulée.")
                % {"status": booking.get_status_display()},
                status=409,
            )
        tz = commune_tz()
        rule = rule_from(booking.prestation.cancellation_rule)
        start_time = booking.prestation.start_time or dt.time(0, 0)
        if booking.status == Booking.Status.CONFIRMED and not rule.is_open(
            booking.date, now=now, tz=tz, start_time=start_time
        ):
            deadline = rule.deadline_for(booking.date, tz=tz, start_time=start_time)
            raise FoyerError(
                "cancellation_deadline_passed",
                _(
                    "Le délai d'annulation est dépassé (c'était jusqu'au %(deadline)s). "
                    "Vous pouvez faire une demande d'annulation à la commune."
                )
                % {"deadline": format_deadline(deadline, tz=tz) if deadline else ""},
                status=409,
                extra={"booking_id": booking.pk, "can_request": True},
            )
        cancel_and_free(booking, actor=account, reason=_("annulée par la famille"), now=now, credit=True)
    return booking


def request_cancellation(
    *, family_ids: list[int], account: Account, booking_id: int, reason: str, attachment=None
) -> CancellationRequest:
    """After the deadline, ask the commune to cancel (with a certificate, for instance)."""
    errors: dict[str, list[str]] = {}
    if not reason.strip():
        errors["reason"] = [_("Expliquez la raison de votre demande.")]
    if attachment is not None:
        try:
            validate_attachment(attachment)
        except FoyerError as exc:
            errors["attachment"] = [exc.message]
    if errors:
        raise FoyerError(
            "invalid", _("La demande n'a pas été envoyée : corrigez les erreurs."), extra={"fields": errors}
        )
    with transaction.atomic(durable=True):
        booking = _family_booking(family_ids, booking_id, lock=True)
        problem = cancellation_request_problem(booking)
        if problem:
            raise FoyerError("not_cancellable", problem, status=409)
        if CancellationRequest.objects.filter(
            booking=booking, status=CancellationRequest.Status.PENDING
        ).exists():
            raise FoyerError(
                "request_pending",
                _("Une demande d'annulation est déjà en cours pour cette réservation."),
                status=409,
            )
        request = CancellationRequest(
            booking=booking, family_id=booking.family_id, account=account, reason=reason.strip()
        )
        if attachment is not None:
            request.attachment.save(attachment.name, attachment, save=False)
        request.save()
    return request


def cancellation_request_problem(booking: Booking) -> str | None:
    """Why a cancellation request cannot be made for this booking, or None: a cancelled
    booking, or a meal the commune already pointed present, has nothing to cancel."""
    if booking.status == Booking.Status.CANCELLED:
        return _("Cette réservation est déjà annulée.")
    if booking.status == Booking.Status.ATTENDED:
        return _("Votre enfant a été pointé présent ce jour-là : il n'y a rien à annuler.")
    return None


def credit_allowed(request: CancellationRequest) -> bool:
    """Whether accepting a request may credit the family: only a paid (prepaid) booking, and
    as the service's late-cancellation policy allows (with a certificate when it asks one)."""
    policy = request.booking.prestation.service.late_cancellation
    return request.booking.prestation.billing_mode == Prestation.BillingMode.PREPAID and (
        policy == Service.LateCancellation.AGENT_DECIDES
        or (policy == Service.LateCancellation.CREDIT_WITH_CERTIFICATE and bool(request.attachment))
    )


def decide_cancellation_request(
    *, request_id: int, actor: Account, accept: bool, credit: bool = False, comment: str = ""
) -> CancellationRequest:
    """An agent accepts (with or without credit, as the service allows) or refuses."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        request = (
            CancellationRequest.objects.select_for_update(of=("self",))
            .select_related("booking__prestation__service")
            .filter(pk=request_id)
            .first()
        )
        if request is None:
            raise NotFound()
        if request.status != CancellationRequest.Status.PENDING:
            raise FoyerError("already_decided", _("Cette demande a déjà été traitée."), status=409)
        bookings = list(
            Booking.objects.select_for_update()
            .select_related("prestation")
            .filter(pk__in=[request.booking_id, *request.extra_bookings.values_list("pk", flat=True)])
            .order_by("date", "pk")
        )
        if accept and credit and not credit_allowed(request):
            if request.booking.prestation.billing_mode != Prestation.BillingMode.PREPAID:
                message = _(
                    "Cette réservation n'a pas été payée : l'annuler suffit, il n'y a rien à rembourser."
                )
            elif request.booking.prestation.service.late_cancellation == Service.LateCancellation.NO_CREDIT:
                message = _("Le règlement de ce service ne prévoit pas d'avoir.")
            else:
                message = _("Un avoir demande un justificatif joint à la demande.")
            raise FoyerError("credit_not_allowed", message)
        if not accept and not comment.strip():
            raise FoyerError(
                "comment_required",
                _("Expliquez le refus à la famille."),
                extra={"fields": {"comment": [_("Ce champ est obligatoire pour un refus.")]}},
            )
        if accept:
            for booking in bookings:
                if booking.status in (Booking.Status.HELD, Booking.Status.CONFIRMED):
                    cancel_and_free(
                        booking, actor=actor, reason=_("demande d'annulation acceptée"), now=now, credit=False
                    )
                elif booking.status in (Booking.Status.ABSENT, Booking.Status.ATTENDED):
                    transition(booking, Booking.Status.ABSENT_JUSTIFIED)
                    booking.save(update_fields=["status"])
                # Only what was paid is credited (a month-end day is simply not billed).
                if credit and booking.prestation.billing_mode == Prestation.BillingMode.PREPAID:
                    record_credit(booking=booking, reason=_("demande d'annulation acceptée"))
        request.status = CancellationRequest.Status.ACCEPTED if accept else CancellationRequest.Status.REFUSED
        request.credit = accept and credit
        request.comment = comment.strip()
        request.decided_at = now
        request.decided_by = actor
        request.save()
        from ..tasks import notify_cancellation_decision

        enqueue_on_commit(
            notify_cancellation_decision, schema_name=connection.schema_name, request_id=request.pk
        )
    return request

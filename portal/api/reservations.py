"""REST API for the family's reservations: the same selectors and services as the pages,
and the project's error format ({"code", "message", "extra"})."""

from __future__ import annotations

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from family.router import (
    build_week,
    get_family_communes,
    get_family_scope,
    get_family_scope_in,
    list_family_cancellations,
    list_family_carts,
)
from foyer.dates import ApiDateField
from foyer.errors import FoyerError
from reservations import services

from .openapi import errors


class WeekQuery(serializers.Serializer):
    date = ApiDateField(required=False)
    commune = serializers.SlugField(required=False, allow_blank=True)
    enfant = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)


class CartItemInput(serializers.Serializer):
    child = serializers.IntegerField(min_value=1)
    prestation = serializers.IntegerField(min_value=1)
    site = serializers.IntegerField(min_value=1)
    date = ApiDateField()


class WeekCellOut(serializers.Serializer):
    date = serializers.DateField()
    state = serializers.CharField()
    label = serializers.CharField()
    note = serializers.CharField()
    booking = serializers.IntegerField(allow_null=True)
    cart_item = serializers.IntegerField(allow_null=True)
    can_book = serializers.BooleanField()
    can_cancel = serializers.BooleanField()
    can_request = serializers.BooleanField()


class WeekPrestationOut(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    code = serializers.CharField()
    billing_mode = serializers.CharField()


class WeekSiteOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class WeekRowOut(serializers.Serializer):
    commune = serializers.CharField()
    child = serializers.IntegerField()
    prestation = WeekPrestationOut()
    site = WeekSiteOut()
    cells = WeekCellOut(many=True)


class WeekOut(serializers.Serializer):
    title = serializers.CharField()
    start = serializers.DateField()
    end = serializers.DateField()
    days = serializers.ListField(child=serializers.DateField())
    cart_count = serializers.IntegerField()
    rows = WeekRowOut(many=True)


class CartLineOut(serializers.Serializer):
    id = serializers.IntegerField()
    child = serializers.IntegerField(allow_null=True)
    date = serializers.DateField()
    prestation = serializers.CharField()
    site = serializers.CharField()
    price = serializers.CharField()
    late = serializers.BooleanField()
    prepaid = serializers.BooleanField()


class CommuneCartOut(serializers.Serializer):
    commune = serializers.CharField()
    total = serializers.CharField()
    prepaid_total = serializers.CharField()
    late_total = serializers.CharField()
    lines = CartLineOut(many=True)


class CartsOut(serializers.Serializer):
    carts = CommuneCartOut(many=True)


class ValidatedBookingOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    date = serializers.DateField()
    price = serializers.CharField()


class CommuneCheckoutOut(serializers.Serializer):
    commune = serializers.CharField()
    bookings = ValidatedBookingOut(many=True)
    cancelled = serializers.ListField(child=serializers.IntegerField(), help_text="Absences cancelled.")
    requested = serializers.ListField(
        child=serializers.IntegerField(), help_text="Absences past the deadline, in one cancellation request."
    )
    cancellation_request = serializers.IntegerField(allow_null=True)
    cart = serializers.IntegerField(
        allow_null=True, help_text="Pay its held places: POST /c/{slug}/api/panier/{cart}/paiement/."
    )
    amount_due = serializers.CharField()
    hold_expires_at = serializers.DateTimeField(allow_null=True)


class CartValidatedOut(serializers.Serializer):
    communes = CommuneCheckoutOut(many=True)


class CartItemAddedOut(serializers.Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField()


class BookingStatusOut(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()


def _money(amount) -> str:
    return f"{amount:.2f}"


@extend_schema(tags=["reservations"], parameters=[WeekQuery], responses={200: WeekOut, **errors(400)})
class WeekView(APIView):
    """GET /api/reservations/semaine/?date=YYYY-MM-DD&commune=<slug>&enfant=<id>…"""

    def get(self, request):
        query = WeekQuery(
            data={**request.query_params.dict(), "enfant": request.query_params.getlist("enfant")}
        )
        query.is_valid(raise_exception=True)
        scope = get_family_scope(request.user)
        week = build_week(
            scope=scope,
            day=query.validated_data.get("date") or timezone.localdate(),
            commune_slug=query.validated_data.get("commune", ""),
            child_ids=query.validated_data.get("enfant") or None,
        )
        return Response(
            {
                "title": week.title,
                "start": week.start,
                "end": week.end,
                "days": week.days,
                "cart_count": week.cart_count,
                "rows": [
                    {
                        "commune": row.commune.slug,
                        "child": row.child.pk,
                        "prestation": {
                            "id": row.prestation["id"],
                            "label": row.prestation["label"],
                            "code": row.prestation["code"],
                            "billing_mode": row.prestation["billing_mode"],
                        },
                        "site": {"id": row.site_id, "name": row.site},
                        "cells": [
                            {
                                "date": cell.day,
                                "state": cell.state,
                                "label": cell.label,
                                "note": cell.note,
                                "booking": cell.booking_id,
                                "cart_item": cell.cart_item_id,
                                "can_book": cell.can_book,
                                "can_cancel": cell.can_cancel,
                                "can_request": cell.can_request,
                            }
                            for cell in row.cells
                        ],
                    }
                    for row in week.rows
                ],
            }
        )


@extend_schema(tags=["panier"], responses={200: CartsOut, **errors()})
class CartView(APIView):
    """GET /api/panier/: the open carts of every commune, priced."""

    def get(self, request):
        carts = list_family_carts(scope=get_family_scope(request.user))
        return Response(
            {
                "carts": [
                    {
                        "commune": cart.commune.slug,
                        "total": _money(cart.total),
                        "prepaid_total": _money(cart.prepaid_total),
                        "late_total": _money(cart.late_total),
                        "lines": [
                            {
                                "id": line.id,
                                "child": line.child.pk if line.child else None,
                                "date": line.date,
                                "prestation": line.prestation,
                                "site": line.site,
                                "price": _money(line.price),
                                "late": line.late,
                                "prepaid": line.prepaid,
                            }
                            for line in cart.lines
                        ],
                    }
                    for cart in carts
                ]
            }
        )


class CartValidateInput(serializers.Serializer):
    absence_reason = serializers.CharField(
        max_length=2000,
        required=False,
        allow_blank=True,
        help_text="For absences past the deadline: the reason of the one cancellation request.",
    )
    certificate = serializers.FileField(required=False, help_text="Its certificate (PDF or image).")


@extend_schema(
    tags=["panier"],
    request={"application/json": CartValidateInput, "multipart/form-data": CartValidateInput},
    responses={200: CartValidatedOut, **errors(400, 409)},
)
class CartValidateView(APIView):
    """POST /api/panier/valider/: all communes at once, or nothing. Absences in the carts:
    cancelled within the deadline, the rest filed as one cancellation request per commune
    (``absence_reason``, ``certificate``: multipart)."""

    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def post(self, request):
        scope = get_family_communes(request.user)
        data = CartValidateInput(data=request.data)
        data.is_valid(raise_exception=True)
        checkouts = services.validate_carts(
            communes=scope.open_communes,
            family_ids=scope.family_ids,
            account=request.user,
            absence_reason=data.validated_data.get("absence_reason", ""),
            certificate=data.validated_data.get("certificate"),
        )
        return Response(
            {
                "communes": [
                    {
                        "commune": checkout.commune.slug,
                        "bookings": [
                            {"id": b.pk, "status": b.status, "date": b.date, "price": _money(b.price)}
                            for b in checkout.bookings
                        ],
                        "cancelled": [b.pk for b in checkout.cancelled],
                        "requested": [b.pk for b in checkout.requested],
                        "cancellation_request": checkout.request.pk if checkout.request else None,
                        "cart": checkout.cart.pk if checkout.cart else None,
                        "amount_due": _money(checkout.amount_due),
                        "hold_expires_at": checkout.cart.hold_expires_at if checkout.amount_due else None,
                    }
                    for checkout in checkouts
                ]
            }
        )


@extend_schema(
    tags=["panier"], request=CartItemInput, responses={201: CartItemAddedOut, **errors(400, 404, 409)}
)
class CartItemsView(APIView):
    """POST /c/<slug>/api/panier/articles/: add one booking to this commune's cart."""

    def post(self, request):
        scope = get_family_scope_in(request.user, request.commune)
        data = CartItemInput(data=request.data)
        data.is_valid(raise_exception=True)
        child = next((c for c in scope.children if c.pk == data.validated_data["child"]), None)
        if child is None:
            raise Http404
        item = services.add_to_cart(
            family=child.family,
            account=request.user,
            child_id=child.pk,
            prestation_id=data.validated_data["prestation"],
            site_id=data.validated_data["site"],
            day=data.validated_data["date"],
        )
        return Response({"id": item.pk, "date": item.date}, status=status.HTTP_201_CREATED)


@extend_schema(tags=["panier"], responses={204: None, **errors(404, 409)})
class CartItemView(APIView):
    """DELETE /c/<slug>/api/panier/articles/<id>/"""

    def delete(self, request, item_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        services.remove_from_cart(family_ids=scope.family_ids, item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["reservations"], request=None, responses={200: BookingStatusOut, **errors(404, 409)})
class BookingCancelView(APIView):
    """POST /c/<slug>/api/reservations/<id>/annuler/: immediate within the deadline; after it,
    409 with code "cancellation_deadline_passed" and extra.can_request."""

    def post(self, request, booking_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        booking = services.cancel_booking(
            family_ids=scope.family_ids, account=request.user, booking_id=booking_id
        )
        return Response({"id": booking.pk, "status": booking.status})


# --- Period booking, absences in a batch, cancellation requests ---------------------------------


class PeriodInput(serializers.Serializer):
    action = serializers.ChoiceField(choices=["add", "remove"], default="add")
    prestation = serializers.IntegerField(min_value=1)
    children = serializers.ListField(child=serializers.IntegerField(min_value=1), min_length=1, max_length=20)
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        max_length=7,
        required=False,
        help_text="0 = Monday … 6 = Sunday; left out on « add »: every day the prestation is offered.",
    )
    start = ApiDateField()
    end = ApiDateField()


class RefusalOut(serializers.Serializer):
    child = serializers.CharField()
    prestation = serializers.CharField()
    date = serializers.DateField()
    reason = serializers.CharField()


class PeriodOut(serializers.Serializer):
    action = serializers.ChoiceField(choices=["add", "remove"])
    added = serializers.IntegerField(help_text="Days added to the cart (« add »).")
    removed = serializers.IntegerField(help_text="Days taken out of the cart (« remove »).")
    refusals = RefusalOut(many=True, help_text="Days that could not be booked, and why.")


class CartItemOut(serializers.Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField()


class CancellationRequestInput(serializers.Serializer):
    reason = serializers.CharField(max_length=2000)
    attachment = serializers.FileField(required=False, help_text="A certificate (PDF or image).")


class CancellationRequestOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    booking = serializers.IntegerField(source="booking_id")
    status = serializers.CharField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()


class FamilyCancellationOut(serializers.Serializer):
    commune = serializers.CharField(source="commune.slug")
    id = serializers.IntegerField()
    status = serializers.CharField()
    status_label = serializers.CharField()
    reason = serializers.CharField()
    comment = serializers.CharField()
    credit = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    decided_at = serializers.DateTimeField(allow_null=True)
    has_certificate = serializers.BooleanField()
    booking = serializers.IntegerField(source="booking_id")
    date = serializers.DateField()
    child = serializers.IntegerField(source="child_id")
    prestation = serializers.CharField()
    other_days = serializers.IntegerField()


class FamilyCancellationsOut(serializers.Serializer):
    requests = FamilyCancellationOut(many=True)


@extend_schema(tags=["reservations"], request=PeriodInput, responses={200: PeriodOut, **errors(400)})
class PeriodView(APIView):
    """ "Réserver en vue période" in this commune: a weekly pattern added to (or removed from)
    the cart for several children at once; the days that could not be booked say why."""

    def post(self, request):
        scope = get_family_scope_in(request.user, request.commune)
        data = PeriodInput(data=request.data)
        data.is_valid(raise_exception=True)
        chosen = set(data.validated_data["children"])
        children = [c for c in scope.children if c.pk in chosen]
        if len(children) != len(chosen):
            raise FoyerError(
                "invalid",
                _("Certaines informations sont invalides."),
                extra={
                    "fields": {"children": [_("Choisissez parmi vos enfants inscrits dans cette commune.")]}
                },
            )
        pattern = {
            "children": children,
            "prestation_id": data.validated_data["prestation"],
            "start": data.validated_data["start"],
            "end": data.validated_data["end"],
        }
        weekdays = data.validated_data.get("weekdays")
        if data.validated_data["action"] == "remove":
            removed = services.remove_pattern_from_cart(weekdays=set(weekdays or ()), **pattern)
            return Response(
                PeriodOut({"action": "remove", "added": 0, "removed": removed, "refusals": []}).data
            )
        result = services.add_pattern_to_cart(
            account=request.user, weekdays=set(weekdays) if weekdays else None, **pattern
        )
        return Response(
            PeriodOut(
                {"action": "add", "added": result.added, "removed": 0, "refusals": result.refusals}
            ).data
        )


@extend_schema(tags=["reservations"], request=None, responses={201: CartItemOut, **errors(404, 409)})
class BookingAbsenceView(APIView):
    """ "Absent": a confirmed booking goes to the cart as an absence, to validate with others
    (POST /api/panier/valider/): what is within the deadline is cancelled, the rest becomes one
    cancellation request with one reason and one certificate."""

    def post(self, request, booking_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        item = services.add_absence_to_cart(
            family_ids=scope.family_ids, account=request.user, booking_id=booking_id
        )
        return Response(CartItemOut({"id": item.pk, "date": item.date}).data, status=status.HTTP_201_CREATED)


@extend_schema(
    tags=["reservations"],
    request={"multipart/form-data": CancellationRequestInput},
    responses={201: CancellationRequestOut, **errors(400, 404, 409)},
)
class CancellationRequestView(APIView):
    """After the deadline, ask the commune to cancel a booking (with a certificate, for
    instance). 409 when there is nothing to cancel or a request is already pending."""

    parser_classes = [MultiPartParser, FormParser, JSONParser]

    def post(self, request, booking_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        data = CancellationRequestInput(data=request.data)
        data.is_valid(raise_exception=True)
        created = services.request_cancellation(
            family_ids=scope.family_ids,
            account=request.user,
            booking_id=booking_id,
            reason=data.validated_data["reason"],
            attachment=data.validated_data.get("attachment"),
        )
        return Response(CancellationRequestOut(created).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["reservations"], responses={200: FamilyCancellationsOut, **errors()})
class FamilyCancellationsView(APIView):
    """The family's cancellation requests in every commune, with the commune's decision."""

    def get(self, request):
        rows = list_family_cancellations(scope=get_family_scope(request.user))
        return Response(FamilyCancellationsOut({"requests": rows}).data)

"""REST API for the family's reservations: the same selectors and services as the pages,
and the project's error format ({"code", "message", "extra"})."""

from __future__ import annotations

from django.http import Http404
from django.utils import timezone
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from family.router import (
    build_week,
    get_family_communes,
    get_family_scope,
    get_family_scope_in,
    list_family_carts,
)
from reservations import services


class WeekQuery(serializers.Serializer):
    date = serializers.DateField(required=False)
    commune = serializers.SlugField(required=False, allow_blank=True)
    enfant = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False)


class CartItemInput(serializers.Serializer):
    child = serializers.IntegerField(min_value=1)
    prestation = serializers.IntegerField(min_value=1)
    site = serializers.IntegerField(min_value=1)
    date = serializers.DateField()


def _money(amount) -> str:
    return f"{amount:.2f}"


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


class CartValidateView(APIView):
    """POST /api/panier/valider/: all communes at once, or nothing."""

    def post(self, request):
        scope = get_family_communes(request.user)
        checkouts = services.validate_carts(
            communes=scope.open_communes, family_ids=scope.family_ids, account=request.user
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
                        "amount_due": _money(checkout.amount_due),
                        "hold_expires_at": checkout.cart.hold_expires_at if checkout.amount_due else None,
                    }
                    for checkout in checkouts
                ]
            }
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


class CartItemView(APIView):
    """DELETE /c/<slug>/api/panier/articles/<id>/"""

    def delete(self, request, item_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        services.remove_from_cart(family_ids=scope.family_ids, item_id=item_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class BookingCancelView(APIView):
    """POST /c/<slug>/api/reservations/<id>/annuler/: immediate within the deadline; after it,
    409 with code "cancellation_deadline_passed" and extra.can_request."""

    def post(self, request, booking_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        booking = services.cancel_booking(
            family_ids=scope.family_ids, account=request.user, booking_id=booking_id
        )
        return Response({"id": booking.pk, "status": booking.status})

"""REST API for the family's invoices and payments: the same selectors and services as
"Mes factures" (billing.selectors / services, family.router, family.payment_plans).

    GET  /api/factures/?commune=<slug>                  to pay, paid, hidden (all communes)
    GET  /c/<slug>/api/factures/<id>/                    one invoice, its lines and payments
    GET  /c/<slug>/api/factures/<id>/pdf/                its PDF
    POST /c/<slug>/api/factures/<id>/visibilite/         {"hidden": true|false}
    POST /api/paiements/                                 {"invoices": ["<slug>:<id>", …]}
    GET  /api/paiements/<plan>/                          a payment plan and its steps
    POST /api/paiements/<plan>/continuer/                {"step"?: id}: (re)open a checkout
    POST /api/paiements/<plan>/arreter/                  stop the plan
    POST /c/<slug>/api/panier/<cart>/paiement/           pay the places a validated cart holds
    GET  /c/<slug>/api/paiements/tentatives/<attempt>/   one checkout's status
    GET  /api/attestations/                              years with payments, per commune
    GET  /c/<slug>/api/attestations/<family>/<year>/<kind>/pdf/   a yearly attestation's PDF
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import payments, services
from billing.gateway import ProviderUnavailable
from billing.models import PaymentAttempt
from billing.selectors import get_family_invoice, held_cart_summary
from family import payment_plans
from family.router import (
    family_invoice_lists,
    get_family_scope,
    get_family_scope_in,
    list_family_attestation_years,
)
from foyer.errors import FoyerError, NotFound

from .openapi import CommuneSerializer, errors, money

# --- Serializers --------------------------------------------------------------------------------


class InvoiceListQuery(serializers.Serializer):
    commune = serializers.SlugField(required=False, allow_blank=True, max_length=63)


class InvoiceSummaryOut(serializers.Serializer):
    key = serializers.CharField(help_text="`<slug>:<id>`, to choose invoices to pay.")
    commune = CommuneSerializer()
    id = serializers.IntegerField()
    reference = serializers.CharField()
    regie = serializers.CharField(source="regie_name")
    period_start = serializers.DateField()
    issued_at = serializers.DateTimeField()
    due_date = serializers.DateField(allow_null=True)
    total = money()
    paid_amount = money()
    amount_due = money()
    status = serializers.ChoiceField(choices=["issued", "paid"])
    hidden = serializers.BooleanField()
    online_payment = serializers.BooleanField()


class InvoiceListsOut(serializers.Serializer):
    to_pay = InvoiceSummaryOut(many=True)
    paid = InvoiceSummaryOut(many=True)
    hidden = InvoiceSummaryOut(many=True)
    to_pay_total = money()
    hidden_unpaid_total = money()


class InvoiceLineOut(serializers.Serializer):
    kind = serializers.CharField()
    label = serializers.CharField()
    child_name = serializers.CharField()
    quantity = serializers.IntegerField()
    unit_price = money()
    amount = money()
    dates = serializers.ListField(child=serializers.DateField())


class InvoicePaymentOut(serializers.Serializer):
    method = serializers.CharField()
    method_label = serializers.CharField(source="get_method_display")
    amount = money()
    received_at = serializers.DateTimeField()
    receipt = serializers.CharField(source="receipt.reference", allow_null=True, default=None)


class InvoiceDetailOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    reference = serializers.CharField()
    regie = serializers.CharField(source="regie.name")
    status = serializers.ChoiceField(choices=["issued", "paid"])
    status_label = serializers.CharField(source="get_status_display")
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    issued_at = serializers.DateTimeField(allow_null=True)
    due_date = serializers.DateField(allow_null=True)
    total = money()
    paid_amount = money()
    amount_due = money()
    hidden = serializers.BooleanField(source="hidden_by_family")
    payer_name = serializers.CharField()
    lines = InvoiceLineOut(many=True, source="lines.all")
    payments = InvoicePaymentOut(many=True, source="payments.all")
    pdf_url = serializers.SerializerMethodField()

    def get_pdf_url(self, invoice) -> str:
        return self.context["commune"].path_prefix + f"api/factures/{invoice.pk}/pdf/"


class VisibilityInput(serializers.Serializer):
    hidden = serializers.BooleanField()


class VisibilityOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    reference = serializers.CharField()
    hidden = serializers.BooleanField(source="hidden_by_family")


class PayInvoicesInput(serializers.Serializer):
    invoices = serializers.ListField(
        child=serializers.CharField(max_length=80),
        min_length=1,
        max_length=200,
        help_text="The `key` of each invoice to pay (`<slug>:<id>`).",
    )


class PlanStepOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    position = serializers.IntegerField()
    commune = CommuneSerializer()
    label = serializers.CharField()
    amount = money()
    status = serializers.ChoiceField(choices=payment_plans.Status.choices)
    status_label = serializers.CharField(source="get_status_display")
    attempt = serializers.IntegerField(source="attempt_id", allow_null=True)


class PlanOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    paid = money()
    steps = PlanStepOut(many=True, source="ordered_steps")
    next_step = serializers.IntegerField(allow_null=True)


class PlanStartedOut(serializers.Serializer):
    plan = PlanOut()
    checkout_url = serializers.URLField(
        allow_null=True, help_text="Where to send the family to pay; null when no checkout could start."
    )
    error = serializers.CharField(allow_null=True, help_text="Why the checkout could not start.")
    offline = serializers.ListField(
        child=serializers.CharField(), help_text="« Commune – Régie » paid at the counter, left out."
    )


class ContinueInput(serializers.Serializer):
    step = serializers.IntegerField(min_value=1, required=False)


class AttemptOut(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    status = serializers.ChoiceField(choices=PaymentAttempt.Status.choices)
    status_label = serializers.CharField(source="get_status_display")
    final = serializers.BooleanField()
    amount = money()
    description = serializers.CharField()
    checkout_url = serializers.CharField()
    created_at = serializers.DateTimeField()
    settled_at = serializers.DateTimeField(allow_null=True)
    held_places = serializers.IntegerField(allow_null=True)
    hold_expires_at = serializers.DateTimeField(allow_null=True)


class AttestationDocumentOut(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["paiements", "credit-impot"])
    label = serializers.CharField()
    pdf_url = serializers.CharField()


class AttestationYearOut(serializers.Serializer):
    year = serializers.IntegerField()
    documents = AttestationDocumentOut(many=True)


class AttestationYearsOut(serializers.Serializer):
    commune = CommuneSerializer()
    family = serializers.IntegerField()
    years = AttestationYearOut(many=True)


# --- Helpers --------------------------------------------------------------------------------------


def _commune(commune) -> dict:
    return {"slug": commune.slug, "name": commune.name}


def _summary(invoice) -> dict:
    return {
        "key": invoice.key,
        "commune": _commune(invoice.commune),
        "id": invoice.id,
        "reference": invoice.reference,
        "regie_name": invoice.regie_name,
        "period_start": invoice.period_start,
        "issued_at": invoice.issued_at,
        "due_date": invoice.due_date,
        "total": invoice.total,
        "paid_amount": invoice.paid_amount,
        "amount_due": invoice.amount_due,
        "status": invoice.status,
        "hidden": invoice.hidden,
        "online_payment": invoice.online_payment,
    }


def _plan(plan) -> dict:
    step = payment_plans.next_step(plan)
    return {
        "pk": plan.pk,
        "created_at": plan.created_at,
        "closed_at": plan.closed_at,
        "paid": payment_plans.paid_total(plan),
        "ordered_steps": [
            {
                "pk": s.pk,
                "position": s.position,
                "commune": _commune(s.commune),
                "label": s.label,
                "amount": s.amount,
                "status": s.status,
                "get_status_display": s.get_status_display(),
                "attempt_id": s.attempt_id,
            }
            for s in plan.ordered_steps
        ],
        "next_step": step.pk if step else None,
    }


def _start(request, plan, step=None, offline=()) -> Response:
    """Open the checkout of ``step`` (or the plan's next one); when it cannot start, say why
    and leave the plan to continue later, as the page does."""
    scope = get_family_scope(request.user)
    step = step or payment_plans.next_step(plan)
    url = error = None
    if step is not None:
        try:
            url = payment_plans.start_step(plan=plan, step=step, scope=scope, account=request.user)
        except FoyerError as refusal:
            error = refusal.message
    plan = payment_plans.refresh(plan)
    return Response(
        PlanStartedOut(
            {"plan": _plan(plan), "checkout_url": url, "error": error, "offline": list(offline)}
        ).data,
        status=status.HTTP_201_CREATED if url else status.HTTP_200_OK,
    )


# --- Views ------------------------------------------------------------------------------------------


@extend_schema(
    tags=["factures"], parameters=[InvoiceListQuery], responses={200: InvoiceListsOut, **errors(400)}
)
class InvoicesView(APIView):
    """ "Mes factures": every commune's invoices, to pay (hidden unpaid ones still count in the
    amount to pay), paid and hidden; ``?commune=<slug>`` keeps one commune."""

    def get(self, request):
        query = InvoiceListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        scope = get_family_scope(request.user)
        slugs = {commune.slug for commune in scope.communes}
        chosen = query.validated_data.get("commune", "")
        lists = family_invoice_lists(scope=scope, commune_slug=chosen if chosen in slugs else "")
        return Response(
            InvoiceListsOut(
                {
                    "to_pay": [_summary(i) for i in lists.to_pay],
                    "paid": [_summary(i) for i in lists.paid],
                    "hidden": [_summary(i) for i in lists.hidden],
                    "to_pay_total": lists.to_pay_total,
                    "hidden_unpaid_total": lists.hidden_unpaid_total,
                }
            ).data
        )


@extend_schema(tags=["factures"], responses={200: InvoiceDetailOut, **errors(404)})
class InvoiceDetailView(APIView):
    """One invoice of the family in this commune, with its lines and payments."""

    def get(self, request, invoice_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        invoice = get_family_invoice(family_ids=scope.family_ids, invoice_id=invoice_id)
        return Response(InvoiceDetailOut(invoice, context={"commune": request.commune}).data)


@extend_schema(
    tags=["factures"],
    responses={
        (200, "application/pdf"): OpenApiResponse(OpenApiTypes.BINARY, description="The invoice's PDF."),
        **errors(404),
    },
)
class InvoicePdfView(APIView):
    """The invoice's PDF (the commune's own document for an imported invoice that has one)."""

    def get(self, request, invoice_id: int):
        from billing.pdf import invoice_pdf_response

        scope = get_family_scope_in(request.user, request.commune)
        invoice = get_family_invoice(family_ids=scope.family_ids, invoice_id=invoice_id)
        return invoice_pdf_response(invoice=invoice, commune=request.commune)


@extend_schema(tags=["factures"], request=VisibilityInput, responses={200: VisibilityOut, **errors(400, 404)})
class InvoiceVisibilityView(APIView):
    """ "Masquer" an invoice in the family's lists, or show it again. A hidden unpaid invoice
    is still owed."""

    def post(self, request, invoice_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        data = VisibilityInput(data=request.data)
        data.is_valid(raise_exception=True)
        invoice = services.set_invoice_hidden(
            family_ids=scope.family_ids, invoice_id=invoice_id, hidden=data.validated_data["hidden"]
        )
        return Response(VisibilityOut(invoice).data)


@extend_schema(
    tags=["paiements"],
    request=PayInvoicesInput,
    responses={
        201: OpenApiResponse(PlanStartedOut, description="The first checkout is open: go to `checkout_url`."),
        200: OpenApiResponse(
            PlanStartedOut, description="The plan exists but no checkout could start (`error`)."
        ),
        **errors(400),
    },
)
class PayInvoicesView(APIView):
    """Pay the chosen invoices: one checkout per commune and régie, chained in a plan; the
    first one starts at once. Invoices of a régie paid at the counter are left out (`offline`)."""

    def post(self, request):
        data = PayInvoicesInput(data=request.data)
        data.is_valid(raise_exception=True)
        plan, offline = payment_plans.plan_invoices(
            scope=get_family_scope(request.user), account=request.user, keys=data.validated_data["invoices"]
        )
        return _start(request, payment_plans.refresh(plan), offline=offline)


@extend_schema(tags=["paiements"], responses={200: PlanOut, **errors(404)})
class PaymentPlanView(APIView):
    """A payment plan: each step (commune and régie) with what is paid, failed or left."""

    def get(self, request, plan_id: int):
        return Response(PlanOut(_plan(payment_plans.get_plan(account=request.user, plan_id=plan_id))).data)


@extend_schema(
    tags=["paiements"],
    request=ContinueInput,
    responses={201: PlanStartedOut, 200: PlanStartedOut, **errors(400, 404)},
)
class PaymentPlanContinueView(APIView):
    """ "Continuer" (the next step) or "Réessayer le paiement" (``step``: one step again)."""

    def post(self, request, plan_id: int):
        data = ContinueInput(data=request.data)
        data.is_valid(raise_exception=True)
        plan = payment_plans.get_plan(account=request.user, plan_id=plan_id)
        step = None
        if "step" in data.validated_data:
            step = next((s for s in plan.ordered_steps if s.pk == data.validated_data["step"]), None)
            if step is None:
                raise NotFound()
        return _start(request, plan, step)


@extend_schema(tags=["paiements"], request=None, responses={200: PlanOut, **errors(404)})
class PaymentPlanDropView(APIView):
    """Stop a plan: what is paid stays paid, the rest waits in "Mes factures"."""

    def post(self, request, plan_id: int):
        plan = payment_plans.get_plan(account=request.user, plan_id=plan_id)
        payment_plans.drop_plan(plan)
        return Response(PlanOut(_plan(payment_plans.get_plan(account=request.user, plan_id=plan_id))).data)


@extend_schema(
    tags=["paiements"],
    request=None,
    responses={201: PlanStartedOut, 200: PlanStartedOut, **errors(404, 409)},
)
class CartCheckoutView(APIView):
    """Pay (or retry paying) the places a validated prepaid cart holds in this commune. 409
    (`nothing_to_pay`) when nothing is to pay online."""

    def post(self, request, cart_id: int):
        get_family_scope_in(request.user, request.commune)
        plan = payment_plans.plan_carts(account=request.user, carts=[(request.commune, cart_id)])
        if plan is None:
            raise FoyerError(
                "nothing_to_pay",
                _(
                    "Ces réservations ne se paient pas en ligne : leurs places sont déjà confirmées ou "
                    "libérées, ou elles se règlent au guichet de la régie."
                ),
                status=409,
            )
        return _start(request, payment_plans.refresh(plan))


@extend_schema(
    tags=["paiements"],
    parameters=[
        OpenApiParameter("actualiser", bool, description="Ask the provider now when the status is not final.")
    ],
    responses={200: AttemptOut, **errors(404)},
)
class AttemptView(APIView):
    """One checkout's status: what the provider said (the webhook is the proof of payment)."""

    def get(self, request, attempt_id: int):
        scope = get_family_scope_in(request.user, request.commune)
        attempt = payments.get_family_attempt(family_ids=scope.family_ids, attempt_id=attempt_id)
        if (
            request.query_params.get("actualiser") in ("1", "true")
            and attempt.status not in PaymentAttempt.FINAL
        ):
            try:
                attempt = payments.sync_attempt(attempt_id=attempt.pk, source="return")
            except (ProviderUnavailable, FoyerError):
                pass
        hold = held_cart_summary(attempt)
        attempt.final = attempt.status in PaymentAttempt.FINAL
        attempt.held_places = hold["places"] if hold else None
        attempt.hold_expires_at = hold["expires_at"] if hold else None
        return Response(AttemptOut(attempt).data)


@extend_schema(tags=["factures"], responses={200: AttestationYearsOut(many=True), **errors()})
class AttestationsView(APIView):
    """ "Attestations": per commune (and family), the years with payments, each with its two
    documents: every payment ("paiements") and the childcare tax credit ("credit-impot")."""

    def get(self, request):
        from billing.attestations import KINDS

        entries = list_family_attestation_years(scope=get_family_scope(request.user))
        return Response(
            AttestationYearsOut(
                [
                    {
                        "commune": _commune(entry.commune),
                        "family": entry.family_id,
                        "years": [
                            {
                                "year": year,
                                "documents": [
                                    {
                                        "kind": kind,
                                        "label": str(label),
                                        "pdf_url": entry.commune.path_prefix
                                        + f"api/attestations/{entry.family_id}/{year}/{kind}/pdf/",
                                    }
                                    for kind, label in KINDS.items()
                                ],
                            }
                            for year in entry.years
                        ],
                    }
                    for entry in entries
                ],
                many=True,
            ).data
        )


@extend_schema(
    tags=["factures"],
    parameters=[
        OpenApiParameter("kind", OpenApiTypes.STR, OpenApiParameter.PATH, enum=["paiements", "credit-impot"])
    ],
    responses={
        (200, "application/pdf"): OpenApiResponse(
            OpenApiTypes.BINARY, description="The attestation of the year's payments, as PDF."
        ),
        **errors(404),
    },
)
class AttestationPdfView(APIView):
    """One family's attestation of a year's payments in this commune; another family's, another
    commune's or a year without payment is not found."""

    def get(self, request, family_id: int, year: int, kind: str):
        from billing.attestations import get_family_attestation
        from billing.pdf import pdf_response, render_attestation_pdf

        scope = get_family_scope_in(request.user, request.commune)
        attestation = get_family_attestation(
            family_ids=scope.family_ids, family_id=family_id, year=year, kind=kind
        )
        return pdf_response(render_attestation_pdf(attestation=attestation), filename=attestation.filename)

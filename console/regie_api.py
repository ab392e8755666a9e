"""The API of a régie, for the commune's own billing software (under /c/<slug>/api/regie/):
push invoices (idempotent by number), read them back with what is paid, attach their PDFs,
and read the payments received to reconcile them. A key per régie, sent as
``Authorization: Bearer foyer_rt_…``: never a session, never a cookie; a key opens its régie
of its commune only (another commune's key is not in this commune's schema)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed, NotFound, ValidationError
from rest_framework.parsers import BaseParser, JSONParser
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.throttling import SimpleRateThrottle
from rest_framework.views import APIView

from billing import imports
from billing.console_selectors import find_api_token, list_regie_receipts
from billing.models import Invoice, RegieApiToken
from foyer.dates import parse_date
from foyer.errors import FoyerError

PAGE = 200


class _Caller:
    """The billing software behind a key: authenticated, never a person."""

    is_authenticated = True
    is_active = True
    pk = None

    def __init__(self, token: RegieApiToken):
        self.token = token


class RegieKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != b"bearer":
            return None
        if len(header) != 2:
            raise AuthenticationFailed(_("En-tête Authorization invalide : « Bearer <clé> » attendu."))
        token = find_api_token(header[1].decode("latin-1"))
        if token is None:
            raise AuthenticationFailed(_("Clé d'API inconnue ou révoquée."))
        RegieApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return _Caller(token), token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="regie"'


class HasRegieKey(BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, RegieApiToken)


class RegieKeyThrottle(SimpleRateThrottle):
    scope = "regie_api"

    def get_cache_key(self, request, view):
        if not isinstance(request.auth, RegieApiToken):
            return None
        return f"throttle_regie_api_{request.auth.regie_id}_{request.auth.pk}"


class PdfParser(BaseParser):
    media_type = "application/pdf"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read(imports.MAX_PDF_BYTES + 1)


class RegieAPIView(APIView):
    # The body limit (foyer.request_limits): a batch of invoices as JSON, or one PDF of 5 Mo at
    # most. Bearer-key callers are anonymous to Django, whose 1 Mo would be too small.
    max_request_bytes = 10 * 1024 * 1024
    authentication_classes = [RegieKeyAuthentication]
    permission_classes = [HasRegieKey]
    throttle_classes = [RegieKeyThrottle]

    @property
    def regie(self):
        return self.request.auth.regie


class LineSerializer(serializers.Serializer):
    libelle = serializers.CharField(max_length=255)
    montant = serializers.DecimalField(max_digits=12, decimal_places=2)
    enfant = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    quantite = serializers.IntegerField(min_value=1, required=False, default=1)
    prix_unitaire = serializers.DecimalField(max_digits=12, decimal_places=2, required=False, allow_null=True)


class InvoiceSerializer(serializers.Serializer):
    numero = serializers.CharField(max_length=40)
    dossier = serializers.CharField(max_length=30)
    date_emission = serializers.DateField()
    echeance = serializers.DateField()
    periode_debut = serializers.DateField(required=False, allow_null=True)
    periode_fin = serializers.DateField(required=False, allow_null=True)
    lignes = LineSerializer(many=True, allow_empty=False)


def _invoice_payload(invoice: Invoice) -> dict:
    return {
        "numero": invoice.reference,
        "dossier": invoice.dossier_number,
        "statut": {"issued": "a_payer", "paid": "payee"}.get(invoice.status, invoice.status),
        "total": str(invoice.total),
        "paye": str(invoice.paid_amount),
        "reste_a_payer": str(invoice.amount_due),
        "echeance": invoice.due_date.isoformat() if invoice.due_date else None,
        "pdf": bool(invoice.pdf),
    }


def _since(request) -> dt.date | None:
    value = request.query_params.get("depuis", "")
    if not value:
        return None
    day = parse_date(value)
    if day is None:
        raise ValidationError({"depuis": [_("Date attendue au format AAAA-MM-JJ.")]})
    return day


class InvoicesView(RegieAPIView):
    """GET: the régie's invoices with what is paid (``?depuis=AAAA-MM-JJ`` issued since);
    POST: a list of invoices to publish, each created or left as it is (same number, same
    content), or refused with its reasons."""

    parser_classes = [JSONParser]

    def get(self, request):
        invoices = Invoice.objects.filter(regie=self.regie).exclude(status=Invoice.Status.DRAFT)
        since = _since(request)
        if since:
            invoices = invoices.filter(issued_at__date__gte=since)
        invoices = invoices.order_by("issued_at", "pk")[:PAGE]
        return Response({"factures": [_invoice_payload(invoice) for invoice in invoices]})

    def post(self, request):
        items = request.data if isinstance(request.data, list) else request.data.get("factures")
        if not isinstance(items, list) or not items or len(items) > 1000:
            raise ValidationError({"factures": [_("Une liste de 1 à 1000 factures est attendue.")]})
        inputs, problems = [], []
        for index, item in enumerate(items, start=1):
            where = _("facture %(n)s de la liste") % {"n": index}
            serializer = InvoiceSerializer(data=item)
            if not serializer.is_valid():
                number = item.get("numero", "") if isinstance(item, dict) else ""
                problems.append(imports.Problem(where, str(number), str(serializer.errors)))
                continue
            data = serializer.validated_data
            inputs.append(
                imports.InvoiceInput(
                    number=data["numero"],
                    dossier=data["dossier"],
                    issued_on=data["date_emission"],
                    due_on=data["echeance"],
                    period_start=data.get("periode_debut"),
                    period_end=data.get("periode_fin"),
                    lines=[
                        imports.LineInput(
                            label=line["libelle"],
                            amount=Decimal(line["montant"]),
                            child_name=line["enfant"],
                            quantity=line["quantite"],
                            unit_price=line.get("prix_unitaire"),
                        )
                        for line in data["lignes"]
                    ],
                    source=where,
                )
            )
        try:
            plan = imports.plan_import(regie=self.regie, invoices=inputs, problems=problems)
            created = imports.import_invoices(plan=plan, only_valid=True)
        except FoyerError as error:
            return Response({"detail": error.message}, status=error.status)
        return Response(
            {
                "crees": [invoice.reference for invoice in created],
                "inchanges": plan.unchanged,
                "refuses": [
                    {"ou": problem.where, "numero": problem.number, "erreur": problem.message}
                    for problem in plan.problems
                ],
            },
            status=201 if created else 200,
        )


class InvoiceView(RegieAPIView):
    def get(self, request, number: str):
        return Response(_invoice_payload(self._invoice(number)))

    def _invoice(self, number: str) -> Invoice:
        invoice = Invoice.objects.filter(regie=self.regie, reference=number).first()
        if invoice is None:
            raise NotFound(_("Aucune facture de ce numéro dans la régie."))
        return invoice


class InvoicePdfView(InvoiceView):
    """PUT the software's PDF of an imported invoice (body: the PDF, application/pdf)."""

    parser_classes = [PdfParser]

    def put(self, request, number: str):
        invoice = self._invoice(number)
        if invoice.source != Invoice.Source.IMPORTED:
            raise ValidationError({"pdf": [_("Seules les factures importées reçoivent un PDF du logiciel.")]})
        try:
            imports.attach_pdf(invoice=invoice, content=request.data)
        except FoyerError as error:
            raise ValidationError({"pdf": [error.message]}) from None
        return Response(_invoice_payload(Invoice.objects.get(pk=invoice.pk)))


class PaymentsView(RegieAPIView):
    """The money the régie received (``?depuis=AAAA-MM-JJ``): one entry per receipt, with what
    it paid, online or at the counter."""

    def get(self, request):
        receipts = list_regie_receipts(regie=self.regie, since=_since(request))[:PAGE]
        return Response(
            {
                "paiements": [
                    {
                        "recu": receipt.reference,
                        "date": receipt.received_at.isoformat(),
                        "mode": receipt.method,
                        "montant": str(receipt.amount),
                        "reference_paiement": receipt.provider_reference,
                        "payeur": receipt.payer_name,
                        "objet": [
                            {
                                "libelle": item["label"],
                                "montant": item["amount"],
                                "facture": item.get("invoice_reference"),
                            }
                            for item in receipt.items
                        ],
                    }
                    for receipt in receipts
                ]
            }
        )

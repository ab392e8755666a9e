"""Invoices made by the commune's own billing software, published in Foyer for families to
pay ("mesfacturesonline"): read from a CSV (one line per invoice, or per invoice line) with
their PDFs in a ZIP, or pushed through the régie's API. Idempotent by invoice number within
the régie: an invoice already imported with the same content is left as it is; the same
number with other content is refused, never overwritten."""

from __future__ import annotations

import datetime as dt
import io
import secrets
import zipfile
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.cache import cache
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from foyer import csv_files
from foyer.errors import FoyerError, NotFound
from shared_identity.models import Membership

from .models import Invoice, InvoiceLine, Regie
from .services import CENT, payers

MAX_PDF_BYTES = 5 * 1024 * 1024
MAX_ZIP_BYTES = 50 * 1024 * 1024

COLUMNS = {
    "numero": gettext_lazy("Numéro de la facture, unique dans la régie"),
    "dossier": gettext_lazy("Numéro de dossier de la famille dans la commune"),
    "date_emission": gettext_lazy("Date d'émission, jj/mm/aaaa"),
    "echeance": gettext_lazy("Date d'échéance, jj/mm/aaaa"),
    "periode_debut": gettext_lazy("Début de la période facturée (facultatif)"),
    "periode_fin": gettext_lazy("Fin de la période facturée (facultatif)"),
    "libelle": gettext_lazy("Libellé de la ligne"),
    "enfant": gettext_lazy("Enfant (facultatif)"),
    "quantite": gettext_lazy("Quantité (facultatif, 1 par défaut)"),
    "prix_unitaire": gettext_lazy("Prix unitaire (facultatif)"),
    "montant": gettext_lazy("Montant de la ligne, 12,50"),
}
SPEC = csv_files.CsvSpec(
    keys=frozenset(COLUMNS),
    required=("numero", "dossier", "date_emission", "echeance", "montant"),
    no_rows_message=gettext_lazy("Le fichier ne contient aucune facture après la ligne des en-têtes."),
    aliases={
        "numero_de_facture": "numero",
        "n_facture": "numero",
        "facture": "numero",
        "reference": "numero",
        "numero_dossier": "dossier",
        "n_dossier": "dossier",
        "date": "date_emission",
        "emission": "date_emission",
        "date_d_emission": "date_emission",
        "date_echeance": "echeance",
        "date_d_echeance": "echeance",
        "debut": "periode_debut",
        "fin": "periode_fin",
        "prestation": "libelle",
        "qte": "quantite",
        "prix": "prix_unitaire",
        "montant_ttc": "montant",
    },
)
TEMPLATE = (
    "numero;dossier;date_emission;echeance;periode_debut;periode_fin;libelle;enfant;quantite;prix_unitaire;montant\n"
    "2027-A4-00-78;F00042;01/02/2027;28/02/2027;01/01/2027;31/01/2027;Garderie du soir;Léa;8;2,50;20,00\n"
    "2027-A4-00-78;F00042;01/02/2027;28/02/2027;01/01/2027;31/01/2027;Garderie du matin;Léa;3;1,80;5,40\n"
)


@dataclass
class LineInput:
    label: str
    amount: Decimal
    child_name: str = ""
    quantity: int = 1
    unit_price: Decimal | None = None


@dataclass
class InvoiceInput:
    """One invoice as the software describes it; ``source`` says where it came from (a CSV
    line number, or an index in the API's list) for the messages."""

    number: str
    dossier: str
    issued_on: dt.date
    due_on: dt.date
    period_start: dt.date | None
    period_end: dt.date | None
    lines: list[LineInput] = field(default_factory=list)
    source: str = ""

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), Decimal("0.00"))


@dataclass
class Problem:
    where: str  # "ligne 4", "facture 2 de la liste"
    number: str
    message: str


@dataclass
class ImportPlan:
    """What an import would do: the invoices to create, those already there unchanged, the
    problems (each refuses its invoice), and the PDFs of the ZIP by invoice number."""

    regie: Regie
    create: list[InvoiceInput]
    unchanged: list[str]
    problems: list[Problem]
    pdfs: dict[str, bytes] = field(default_factory=dict)

    @property
    def total(self) -> Decimal:
        return sum((invoice.total for invoice in self.create), Decimal("0.00"))


# --- Reading ---------------------------------------------------------------------------------------


def parse_money(text: str) -> Decimal:
    """ "12,50", "12.50", "1 234,56 €" → Decimal; ValueError when it is not an amount."""
    cleaned = (
        text.replace("€", "").replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace(",", ".")
    )
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(text) from None
    if not value.is_finite() or value != value.quantize(CENT) or abs(value) >= Decimal("1e9"):
        raise ValueError(text)
    return value


def parse_date(text: str) -> dt.date:
    text = text.strip()
    for pattern in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(text)


def read_invoice_csv(data: bytes) -> tuple[list[InvoiceInput], list[Problem]]:
    """Lines of one number make one invoice (they must agree on the family and the dates)."""
    parsed = csv_files.read_csv(data, SPEC)
    problems = [Problem(_("ligne %(n)s") % {"n": line}, "", message) for line, message in parsed.errors]
    invoices: dict[str, InvoiceInput] = {}
    refused: set[str] = set()
    for line, cells in parsed.rows:
        where = _("ligne %(n)s") % {"n": line}
        number = cells.get("numero", "")
        errors = []
        if not number:
            errors.append(_("le numéro de la facture manque"))
        if not cells.get("dossier"):
            errors.append(_("le numéro de dossier manque"))
        dates = {}
        for key, label in (
            ("date_emission", _("date d'émission")),
            ("echeance", _("échéance")),
            ("periode_debut", _("début de période")),
            ("periode_fin", _("fin de période")),
        ):
            value = cells.get(key, "")
            if not value:
                dates[key] = None
                if key in ("date_emission", "echeance"):
                    errors.append(_("%(what)s manquante") % {"what": label})
                continue
            try:
                dates[key] = parse_date(value)
            except ValueError:
                errors.append(
                    _("%(what)s illisible : « %(value)s » (jj/mm/aaaa)") % {"what": label, "value": value}
                )
        try:
            amount = parse_money(cells.get("montant", ""))
        except ValueError:
            errors.append(
                _("montant illisible : « %(value)s » (par exemple 12,50)")
                % {"value": cells.get("montant", "")}
            )
            amount = None
        quantity, unit_price = 1, None
        try:
            quantity = int(cells.get("quantite") or 1)
            if quantity < 1:
                raise ValueError
        except ValueError:
            errors.append(_("quantité illisible : « %(value)s »") % {"value": cells.get("quantite")})
        if cells.get("prix_unitaire"):
            try:
                unit_price = parse_money(cells["prix_unitaire"])
            except ValueError:
                errors.append(
                    _("prix unitaire illisible : « %(value)s »") % {"value": cells["prix_unitaire"]}
                )
        if errors:
            problems.append(Problem(where, number, "; ".join(errors)))
            refused.add(number)
            continue
        invoice = invoices.get(number)
        if invoice is None:
            invoice = invoices[number] = InvoiceInput(
                number=number,
                dossier=cells["dossier"],
                issued_on=dates["date_emission"],
                due_on=dates["echeance"],
                period_start=dates["periode_debut"],
                period_end=dates["periode_fin"],
                source=where,
            )
        elif (invoice.dossier, invoice.issued_on, invoice.due_on) != (
            cells["dossier"],
            dates["date_emission"],
            dates["echeance"],
        ):
            problems.append(
                Problem(
                    where,
                    number,
                    _(
                        "numéro en double : la %(first)s porte déjà ce numéro pour un autre dossier ou d'autres dates"
                    )
                    % {"first": invoice.source},
                )
            )
            refused.add(number)
            continue
        invoice.lines.append(
            LineInput(
                label=cells.get("libelle") or _("Facture %(number)s") % {"number": number},
                amount=amount,
                child_name=cells.get("enfant", ""),
                quantity=quantity,
                unit_price=unit_price,
            )
        )
    return [invoice for number, invoice in invoices.items() if number not in refused], problems


def read_pdf_zip(data: bytes) -> tuple[dict[str, bytes], list[Problem]]:
    """The PDFs of the ZIP, by invoice number (the file name without ".pdf")."""
    if len(data) > MAX_ZIP_BYTES:
        raise FoyerError("import_file", _("L'archive des PDF dépasse 50 Mo : importez-la en plusieurs fois."))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        entries = [entry for entry in archive.infolist() if not entry.is_dir()]
    except (zipfile.BadZipFile, OSError):
        raise FoyerError("import_file", _("L'archive des PDF n'est pas un fichier ZIP lisible.")) from None
    pdfs, problems = {}, []
    for entry in entries:
        name = entry.filename.rsplit("/", 1)[-1]
        if name.startswith(".") or name.startswith("__MACOSX"):
            continue
        where = _("archive : %(name)s") % {"name": name}
        if not name.lower().endswith(".pdf") or entry.file_size > MAX_PDF_BYTES:
            problems.append(Problem(where, "", _("seuls des PDF de 5 Mo au plus sont acceptés")))
            continue
        content = archive.read(entry)
        if not content.startswith(b"%PDF-"):
            problems.append(Problem(where, name[:-4], _("ce fichier n'est pas un PDF")))
            continue
        pdfs[name[:-4]] = content
    return pdfs, problems


# --- Checking and writing --------------------------------------------------------------------------


def plan_import(*, regie: Regie, invoices: list[InvoiceInput], problems=(), pdfs=None) -> ImportPlan:
    """Check each invoice against the commune's dossiers and what is already imported."""
    if not regie.imported:
        raise FoyerError(
            "regie_not_imported",
            _("La régie « %(name)s » prépare ses factures dans Foyer : elle n'importe pas de factures.")
            % {"name": regie.name},
            status=409,
        )
    problems = list(problems)
    pdfs = dict(pdfs or {})
    families = _families_by_dossier({invoice.dossier for invoice in invoices})
    existing = {
        invoice.reference: invoice
        for invoice in Invoice.objects.filter(
            regie=regie, reference__in=[i.number for i in invoices]
        ).prefetch_related("lines")
    }
    create, unchanged, seen = [], [], {}
    for invoice in invoices:
        errors = []
        if invoice.number in seen:
            errors.append(
                _("numéro en double dans la même liste (%(first)s)") % {"first": seen[invoice.number]}
            )
        seen.setdefault(invoice.number, invoice.source)
        if len(invoice.number) > 40:
            errors.append(_("numéro trop long (40 caractères au plus)"))
        if invoice.dossier not in families:
            errors.append(
                _("aucune famille n'a le dossier « %(dossier)s » dans la commune")
                % {"dossier": invoice.dossier}
            )
        if invoice.due_on < invoice.issued_on:
            errors.append(_("l'échéance précède la date d'émission"))
        if invoice.total <= 0:
            errors.append(_("le total doit être positif"))
        if errors:
            problems.append(Problem(invoice.source, invoice.number, "; ".join(errors)))
            continue
        known = existing.get(invoice.number)
        if known is None:
            create.append(invoice)
        elif _same(known, invoice, families[invoice.dossier]):
            unchanged.append(invoice.number)
        else:
            problems.append(
                Problem(
                    invoice.source,
                    invoice.number,
                    _("cette facture est déjà importée avec un autre contenu : elle n'est pas remplacée"),
                )
            )
    numbers = {invoice.number for invoice in invoices} | set(existing)
    for number in list(pdfs):
        if number not in numbers:
            problems.append(
                Problem(
                    _("archive : %(name)s.pdf") % {"name": number}, number, _("aucune facture de ce numéro")
                )
            )
            del pdfs[number]
    return ImportPlan(regie, create, unchanged, problems, pdfs)


def _families_by_dossier(dossiers: set[str]) -> dict[str, int]:
    return dict(
        Membership.objects.filter(commune=connection.tenant, dossier_number__in=dossiers).values_list(
            "dossier_number", "family_id"
        )
    )


def _same(known: Invoice, invoice: InvoiceInput, family_id: int) -> bool:
    lines = sorted((line.label, line.amount) for line in known.lines.all())
    return (
        known.family_id == family_id
        and known.total == invoice.total
        and known.due_date == invoice.due_on
        and lines == sorted((line.label, line.amount) for line in invoice.lines)
    )


def import_invoices(*, plan: ImportPlan, only_valid: bool = False, actor=None) -> list[Invoice]:
    """Create the plan's invoices (issued, to pay), store the PDFs, e-mail the families. All
    or nothing unless ``only_valid``: then what is refused is left out."""
    if plan.problems and not only_valid:
        raise FoyerError(
            "import_refused",
            _(
                "Rien n'est importé : corrigez les problèmes signalés, ou importez seulement les factures valides."
            ),
        )
    now = timezone.now()
    families = _families_by_dossier({invoice.dossier for invoice in plan.create})
    who = payers(list(families.values()))
    created = []
    with transaction.atomic():
        for item in plan.create:
            family_id = families[item.dossier]
            name, address = who[family_id]
            invoice = Invoice.objects.create(
                regie=plan.regie,
                source=Invoice.Source.IMPORTED,
                family_id=family_id,
                status=Invoice.Status.ISSUED,
                year=item.issued_on.year,
                reference=item.number,
                period_start=item.period_start or item.issued_on.replace(day=1),
                period_end=item.period_end or item.issued_on,
                total=item.total,
                issued_at=timezone.make_aware(dt.datetime.combine(item.issued_on, dt.time(9))),
                due_date=item.due_on,
                payer_name=name,
                payer_address=address,
                dossier_number=item.dossier,
                imported_at=now,
            )
            InvoiceLine.objects.bulk_create(
                InvoiceLine(
                    invoice=invoice,
                    kind=InvoiceLine.Kind.BOOKING,
                    label=line.label[:255],
                    child_name=line.child_name[:255],
                    quantity=line.quantity,
                    unit_price=line.unit_price
                    if line.unit_price is not None
                    else (line.amount / line.quantity).quantize(CENT),
                    amount=line.amount,
                )
                for line in item.lines
            )
            created.append(invoice)
        by_number = {
            invoice.reference: invoice
            for invoice in Invoice.objects.filter(regie=plan.regie, reference__in=plan.pdfs)
        }
        for number, content in plan.pdfs.items():
            invoice = by_number.get(number)
            if invoice is not None:
                attach_pdf(invoice=invoice, content=content)
        if created:
            from tenants.tasks import enqueue_on_commit

            from .tasks import send_imported_invoice_emails

            enqueue_on_commit(
                send_imported_invoice_emails,
                schema_name=connection.schema_name,
                invoice_ids=[invoice.pk for invoice in created],
            )
    return created


def attach_pdf(*, invoice: Invoice, content: bytes) -> None:
    """The software's own document for an imported invoice (replaces a different one; the
    same one again changes nothing)."""
    if not content.startswith(b"%PDF-") or len(content) > MAX_PDF_BYTES:
        raise FoyerError("invalid_pdf", _("Ce fichier n'est pas un PDF de 5 Mo au plus."))
    if invoice.pdf:
        with invoice.pdf.open("rb") as stream:
            if stream.read() == content:
                return
        invoice.pdf.delete(save=False)
    invoice.pdf.save(f"{invoice.reference}.pdf", ContentFile(content), save=False)
    Invoice.objects.filter(pk=invoice.pk).update(pdf=invoice.pdf.name)


# --- Between the preview and the import --------------------------------------------------------------

STORE_SECONDS = 3600


def _store_key(regie: Regie, actor, token: str) -> str:
    # The cache also prefixes every key with the current schema (django_tenants.cache.make_key).
    return f"invoice-import:{connection.schema_name}:{regie.pk}:{actor.pk}:{token}"


def store_upload(*, regie: Regie, actor, csv_data: bytes, zip_data: bytes = b"") -> str:
    """Keep the agent's files for the preview and the import (an hour, for that agent and
    régie only). Files that cannot be read at all are refused here."""
    read_invoice_csv(csv_data)
    if zip_data:
        read_pdf_zip(zip_data)
    token = secrets.token_urlsafe(24)
    cache.set(_store_key(regie, actor, token), {"csv": csv_data, "zip": zip_data}, STORE_SECONDS)
    return token


def plan_stored(*, regie: Regie, actor, token: str) -> ImportPlan:
    stored = cache.get(_store_key(regie, actor, token))
    if stored is None:
        raise NotFound(_("Ce fichier n'est plus disponible : déposez-le à nouveau."))
    invoices, problems = read_invoice_csv(stored["csv"])
    pdfs = {}
    if stored["zip"]:
        pdfs, zip_problems = read_pdf_zip(stored["zip"])
        problems += zip_problems
    return plan_import(regie=regie, invoices=invoices, problems=problems, pdfs=pdfs)


def forget_upload(*, regie: Regie, actor, token: str) -> None:
    cache.delete(_store_key(regie, actor, token))

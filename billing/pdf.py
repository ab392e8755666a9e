"""Invoices, receipts and credit notes as A4 PDFs, drawn with reportlab. An issued invoice: the commune's header band (brand colour,
name, logo when there is one), the reference and dates, the payer AS COPIED on the invoice
(never the live family), the period, the lines, the total, the payments and what is left to pay.

Fonts: DejaVu Sans when the system has it, else reportlab's built-in Helvetica, whose WinAnsi
encoding has the euro sign and French accents but no narrow no-break space (replaced by a
no-break space)."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from html import escape
from io import BytesIO
from zoneinfo import ZoneInfo

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFError, TTFont
from reportlab.platypus import Image, KeepTogether, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from foyer.formatting import NARROW_NBSP, NBSP, format_day, format_money

from .models import CreditNote, Invoice, Receipt

logger = logging.getLogger(__name__)

DEJAVU = "/usr/share/fonts/truetype/dejavu/"
MARGIN = 18 * mm
BAND_HEIGHT = 30 * mm
LOGO_SIZE = 20 * mm
LINE_COLOUR = colors.HexColor("#d1d5db")


@functools.cache
def _fonts() -> tuple[str, str]:
    """(regular, bold) font names, registered once per process."""
    try:
        pdfmetrics.registerFont(TTFont("DejaVuSans", DEJAVU + "DejaVuSans.ttf"))
        pdfmetrics.registerFont(TTFont("DejaVuSans-Bold", DEJAVU + "DejaVuSans-Bold.ttf"))
    except (OSError, TTFError):
        return "Helvetica", "Helvetica-Bold"
    return "DejaVuSans", "DejaVuSans-Bold"


def _money(amount) -> str:
    text = format_money(amount)
    return text if _fonts()[0] == "DejaVuSans" else text.replace(NARROW_NBSP, NBSP)


def _long_date(day: dt.date) -> str:
    """ "3 mars 2027", "1er février 2027"."""
    return f"{'1er' if day.day == 1 else day.day} {date_format(day, 'F Y')}"


def _issue_line(invoice: Invoice, zone) -> str:
    issued = _long_date(timezone.localtime(invoice.issued_at, zone).date())
    debit = getattr(invoice, "direct_debit", None) if invoice.pk else None
    if debit is not None and debit.status in ("scheduled", "submitted", "paid"):
        return _("Émise le %(issued)s, sera prélevée le %(due)s.") % {
            "issued": issued,
            "due": _long_date(debit.collect_on),
        }
    if invoice.due_date is None:  # an imported invoice may have no due date
        return _("Émise le %(issued)s.") % {"issued": issued}
    return _("Émise le %(issued)s, à payer avant le %(due)s.") % {
        "issued": issued,
        "due": _long_date(invoice.due_date),
    }


def _ink_on(background: colors.Color) -> colors.Color:
    """White or near-black text, whichever contrasts more with the band (WCAG luminance)."""

    def linear(channel: float) -> float:
        return channel / 12.92 if channel <= 0.04045 else ((channel + 0.055) / 1.055) ** 2.4

    luminance = (
        0.2126 * linear(background.red) + 0.7152 * linear(background.green) + 0.0722 * linear(background.blue)
    )
    return (
        colors.white if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.05 else colors.HexColor("#111827")
    )


def _logo(commune) -> ImageReader | None:
    """The commune's logo, or None when it has none or it cannot be read (a logo never stops
    an invoice)."""
    if not commune.logo:
        return None
    try:
        with commune.logo.open("rb") as stream:
            logo = ImageReader(BytesIO(stream.read()))
        logo.getSize()
    except Exception:
        logger.warning("Logo de %s illisible : facture sans logo.", commune.schema_name, exc_info=True)
        return None
    return logo


class _Styles:
    def __init__(self) -> None:
        regular, bold = _fonts()
        self.body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13)
        self.strong = ParagraphStyle("strong", parent=self.body, fontName=bold)
        self.title = ParagraphStyle("title", parent=self.strong, fontSize=18, leading=22, spaceAfter=4 * mm)
        self.heading = ParagraphStyle(
            "heading", parent=self.strong, fontSize=12, leading=15, spaceBefore=6 * mm, spaceAfter=2 * mm
        )


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(str(text)).replace("\n", "<br/>"), style)


def _table(
    header: list[str], rows: list[list], widths: list[float], *, numbers_from: int, total: str | None = None
) -> Table:
    """A table with a bold header row, numbers right-aligned from column ``numbers_from`` on
    (plain strings: never wrapped, no-break spaces kept), and a bold total row when given."""
    regular, bold = _fonts()
    body = [header, *rows] + ([[_("Total"), *[""] * (len(header) - 2), total]] if total else [])
    table = Table(body, colWidths=widths, repeatRows=1, hAlign="LEFT")
    style = [
        ("FONT", (0, 0), (-1, -1), regular, 10),
        ("FONT", (0, 0), (-1, 0), bold, 10),
        ("ALIGN", (numbers_from, 0), (-1, -1), "RIGHT"),
        ("LINEBELOW", (0, 0), (-1, -1), 0.5, LINE_COLOUR),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f3f4f6")),
    ]
    if total:
        style += [
            ("SPAN", (0, -1), (-2, -1)),
            ("FONT", (0, -1), (-1, -1), bold, 10),
            ("LINEABOVE", (0, -1), (-1, -1), 1, colors.black),
        ]
    table.setStyle(TableStyle(style))
    return table


def _render(*, commune, title: str, story: list, compress: bool) -> bytes:
    """An A4 document under the commune's header band, ``title`` in its footer on each page."""
    regular, bold = _fonts()
    band = colors.HexColor(commune.brand_colour)
    logo = _logo(commune)
    width, height = A4

    def draw_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFillColor(band)
        canvas.rect(0, height - BAND_HEIGHT, width, BAND_HEIGHT, stroke=0, fill=1)
        x = MARGIN
        if logo is not None:
            canvas.drawImage(
                logo,
                x,
                height - BAND_HEIGHT + (BAND_HEIGHT - LOGO_SIZE) / 2,
                width=LOGO_SIZE,
                height=LOGO_SIZE,
                preserveAspectRatio=True,
                mask="auto",
            )
            x += LOGO_SIZE + 5 * mm
        canvas.setFillColor(_ink_on(band))
        canvas.setFont(bold, 16)
        canvas.drawString(x, height - BAND_HEIGHT / 2 - 2 * mm, commune.name)
        canvas.setFillColor(colors.HexColor("#4b5563"))
        canvas.setFont(regular, 8)
        canvas.drawRightString(
            width - MARGIN, 10 * mm, _("%(title)s — page %(page)d") % {"title": title, "page": doc.page}
        )
        canvas.restoreState()

    buffer = BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=BAND_HEIGHT + 10 * mm,
        bottomMargin=20 * mm,
        title=title,
        author=commune.name,
        lang="fr-FR",
        pageCompression=1 if compress else 0,
    )
    document.build(story, onFirstPage=draw_page, onLaterPages=draw_page)
    return buffer.getvalue()


def render_invoice_pdf(*, invoice: Invoice, commune, compress: bool = True) -> bytes:
    """The issued ``invoice`` (its lines and payments are read: prefetch them) as PDF bytes.
    ``compress=False`` leaves the page text readable in the bytes (tests)."""
    styles = _Styles()
    zone = ZoneInfo(commune.timezone)
    payer = "\n".join(
        part
        for part in (
            invoice.payer_name,
            invoice.payer_address,
            _("Dossier n° %(number)s") % {"number": invoice.dossier_number} if invoice.dossier_number else "",
        )
        if part
    )
    title = _("Facture %(reference)s") % {"reference": invoice.reference}
    story = [
        _p(title, styles.title),
        _p(_issue_line(invoice, zone), styles.body),
        _p(_("Payeur"), styles.heading),
        _p(payer, styles.body),
        Spacer(0, 4 * mm),
        _p(_("Période : %(period)s") % {"period": date_format(invoice.period_start, "F Y")}, styles.strong),
        _p(_("Détail"), styles.heading),
        _table(
            [_("Enfant"), _("Prestation"), _("Quantité"), _("Prix unitaire"), _("Montant")],
            [
                [
                    _p(line.child_name, styles.body),
                    _p("\n".join(part for part in (line.label, line.days_label) if part), styles.body),
                    str(line.quantity),
                    _money(line.unit_price),
                    _money(line.amount),
                ]
                for line in invoice.lines.all()
            ],
            [34 * mm, 58 * mm, 20 * mm, 29 * mm, 29 * mm],
            numbers_from=2,
            total=_money(invoice.total),
        ),
        _p(_("Paiements reçus"), styles.heading),
    ]
    payments = list(invoice.payments.all())
    if payments:
        story.append(
            _table(
                [_("Date"), _("Mode"), _("Montant")],
                [
                    [
                        date_format(timezone.localtime(payment.received_at, zone).date(), "d/m/Y"),
                        str(payment.get_method_display()),
                        _money(payment.amount),
                    ]
                    for payment in payments
                ],
                [34 * mm, 107 * mm, 29 * mm],
                numbers_from=2,
            )
        )
    else:
        story.append(_p(_("Aucun paiement reçu."), styles.body))
    story += [
        Spacer(0, 6 * mm),
        _p(_("Reste à payer : %(amount)s") % {"amount": _money(invoice.amount_due)}, styles.title),
    ]
    return _render(commune=commune, title=title, story=story, compress=compress)


def _regie_line(regie, styles: _Styles) -> Paragraph:
    return _p(
        _("Régie « %(name)s » (code %(code)s)") % {"name": regie.name, "code": regie.regie_code}, styles.body
    )


def render_receipt_pdf(*, receipt: Receipt, commune, compress: bool = True) -> bytes:
    """A receipt: the régie, the payer, what was paid, how, when, the provider's reference."""
    styles = _Styles()
    zone = ZoneInfo(commune.timezone)
    title = _("Reçu %(reference)s") % {"reference": receipt.reference}
    facts = [
        _("Payeur : %(payer)s") % {"payer": receipt.payer_name},
        _("Reçu le %(date)s") % {"date": _long_date(timezone.localtime(receipt.received_at, zone).date())},
        _("Mode de paiement : %(method)s") % {"method": receipt.get_method_display()},
    ]
    if receipt.provider_reference:
        facts.append(_("Référence du paiement : %(ref)s") % {"ref": receipt.provider_reference})
    story = [
        _p(title, styles.title),
        _regie_line(receipt.regie, styles),
        Spacer(0, 4 * mm),
        *(_p(fact, styles.body) for fact in facts),
        _p(_("Objet du paiement"), styles.heading),
        _table(
            [_("Objet"), _("Montant")],
            [[_p(item["label"], styles.body), _money(item["amount"])] for item in receipt.items],
            [141 * mm, 29 * mm],
            numbers_from=1,
            total=_money(receipt.amount),
        ),
        Spacer(0, 6 * mm),
        _p(_("Montant reçu : %(amount)s") % {"amount": _money(receipt.amount)}, styles.title),
    ]
    return _render(commune=commune, title=title, story=story, compress=compress)


def render_credit_note_pdf(*, note: CreditNote, commune, compress: bool = True) -> bytes:
    """An avoir: the corrected invoice, the reason, the amount, and how it is given back."""
    styles = _Styles()
    zone = ZoneInfo(commune.timezone)
    invoice = note.invoice
    title = _("Avoir %(reference)s") % {"reference": note.reference or note.pk}
    if note.refund_id:
        outcome = _("Remboursé sur le moyen de paiement utilisé en ligne.")
    elif note.applied_at:
        outcome = _("Déduit de la facture suivante, émise le %(date)s.") % {
            "date": _long_date(timezone.localtime(note.applied_at, zone).date())
        }
    else:
        outcome = _("Sera déduit de la prochaine facture.")
    story = [
        _p(title, styles.title),
        _regie_line(invoice.regie, styles),
        Spacer(0, 4 * mm),
        _p(_("Payeur : %(payer)s") % {"payer": invoice.payer_name}, styles.body),
        _p(
            _("Établi le %(date)s") % {"date": _long_date(timezone.localtime(note.created_at, zone).date())},
            styles.body,
        ),
        _p(_("Facture corrigée : %(ref)s") % {"ref": invoice.reference}, styles.body),
        _p(_("Motif : %(reason)s") % {"reason": note.reason}, styles.body),
        Spacer(0, 6 * mm),
        _p(_("Montant de l'avoir : %(amount)s") % {"amount": _money(note.amount)}, styles.title),
        _p(outcome, styles.body),
    ]
    return _render(commune=commune, title=title, story=story, compress=compress)


SIGNATURE_WIDTH = 50 * mm
SIGNATURE_HEIGHT = 25 * mm


def _signature(regie) -> Image | None:
    """The régie's scanned signature, fitted in its box; None when it has none or it cannot be
    read (a signature never stops an attestation)."""
    if not regie.signature:
        return None
    try:
        with regie.signature.open("rb") as stream:
            content = BytesIO(stream.read())
        width, height = ImageReader(content).getSize()
        content.seek(0)
    except Exception:
        logger.warning(
            "Signature de la régie %s illisible : attestation sans image.", regie.pk, exc_info=True
        )
        return None
    scale = min(SIGNATURE_WIDTH / width, SIGNATURE_HEIGHT / height)
    return Image(content, width=width * scale, height=height * scale, hAlign="LEFT")


def render_attestation_pdf(*, attestation, compress: bool = True) -> bytes:
    """A yearly attestation of payments (billing.attestations): the payer, then per régie its
    identity and what was paid per child and service with the dates, the totals, and the
    régie's signature."""
    styles = _Styles()
    commune = attestation.commune
    title = _("%(title)s — %(year)s") % {"title": attestation.title, "year": attestation.year}
    payer = "\n".join(
        part
        for part in (
            attestation.payer_name,
            attestation.payer_address,
            _("Dossier n° %(number)s") % {"number": attestation.dossier_number}
            if attestation.dossier_number
            else "",
        )
        if part
    )
    story = [_p(title, styles.title), _p(_("Payeur"), styles.heading), _p(payer, styles.body)]
    if attestation.kind == "credit-impot":
        story += [
            _p(_("Enfants concernés"), styles.heading),
            _p(
                _(
                    "Enfants de moins de 6 ans au 1er janvier %(year)s (nés à compter du 1er janvier %(born)s), "
                    "pour les seuls services de garde qui ouvrent droit au crédit d'impôt."
                )
                % {"year": attestation.year, "born": attestation.year - 6},
                styles.body,
            ),
            *(
                _p(
                    _("%(child)s, né(e) le %(date)s") % {"child": child, "date": _long_date(born)},
                    styles.body,
                )
                for child, born in attestation.children
            ),
        ]
    for section in attestation.sections:
        regie = section.regie
        identity = "\n".join(
            part
            for part in (
                _("Régie « %(name)s » (code %(code)s) — %(commune)s")
                % {"name": regie.name, "code": regie.regie_code, "commune": commune.name},
                regie.address,
                _("Contact : %(email)s") % {"email": commune.contact_email} if commune.contact_email else "",
            )
            if part
        )
        rows = []
        for row in section.rows:
            for on, method, amount in row.movements:
                rows.append(
                    [
                        _p(row.child, styles.body),
                        _p(row.service, styles.body),
                        _p(format_day(on), styles.body),
                        _p(method, styles.body),
                        _money(amount),
                    ]
                )
            rows.append(["", "", "", _p(_("Sous-total"), styles.strong), _money(row.total)])
        story += [
            _p(regie.name, styles.heading),
            _p(identity, styles.body),
            Spacer(0, 3 * mm),
            _table(
                [_("Enfant"), _("Service"), _("Date"), _("Mode"), _("Montant")],
                rows,
                [34 * mm, 38 * mm, 36 * mm, 33 * mm, 29 * mm],
                numbers_from=4,
                total=_money(section.total),
            ),
        ]
    if not attestation.sections:
        story.append(_p(_("Aucun paiement à attester pour cette année."), styles.body))
    story += [
        Spacer(0, 6 * mm),
        _p(
            _("Total payé en %(year)s : %(amount)s")
            % {"year": attestation.year, "amount": _money(attestation.total)},
            styles.title,
        ),
        _p(
            _(
                "Nous certifions que les sommes ci-dessus ont été payées à %(commune)s au cours de l'année %(year)s, "
                "remboursements déduits. Attestation établie le %(date)s."
            )
            % {
                "commune": commune.name,
                "year": attestation.year,
                "date": _long_date(timezone.localdate(timezone=ZoneInfo(commune.timezone))),
            },
            styles.body,
        ),
    ]
    for section in attestation.sections:
        signature = _signature(section.regie)
        block = [
            Spacer(0, 6 * mm),
            _p(_("Le régisseur de la régie « %(name)s »") % {"name": section.regie.name}, styles.strong),
        ]
        if signature is not None:
            block.append(signature)
        story.append(KeepTogether(block))
    return _render(commune=commune, title=title, story=story, compress=compress)


def pdf_response(content: bytes, *, filename: str):
    """A private PDF download (never cached)."""
    from django.http import FileResponse

    response = FileResponse(
        BytesIO(content), as_attachment=True, filename=filename, content_type="application/pdf"
    )
    response["Cache-Control"] = "private, no-store"
    return response


def invoice_pdf_response(*, invoice, commune):
    """The invoice's PDF: the document of the commune's software for an imported invoice that
    has one, else drawn here."""
    if invoice.pdf:
        with invoice.pdf.open("rb") as stream:
            content = stream.read()
    else:
        content = render_invoice_pdf(invoice=invoice, commune=commune)
    return pdf_response(content, filename=f"facture-{invoice.reference}.pdf")

"""The cells of the week ("Mes réservations", the period page), written without a template
include per cell.

A week of a family in 20 communes shows about 600 cells in the grid and as many slots in the
list of days; rendering each through ``{% include %}`` with a ``{% commune_url %}`` reverse, a
CSRF token and localised dates per cell cost most of the page. Here the markup of a cell is
written once, in Python, with what does not change from one cell to the next computed once per
week: each commune's URLs, the CSRF field, the return address, each day's labels. The HTML is the
one the former ``_cell.html`` and ``_cell_action.html`` templates wrote."""

from __future__ import annotations

import datetime as dt
import html

from django import template
from django.urls import reverse
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.translation import gettext as _

from portal.templatetags.foyer_format import date_fr, swatch_svg
from tenants.middleware import commune_urlconf

register = template.Library()


def escape(value) -> str:
    """What autoescaping does to ``{{ value }}`` (django.utils.html.conditional_escape), without
    its lazy-string wrapper: this runs a few thousand times a page."""
    return str(value) if isinstance(value, SafeData) else html.escape(str(value))


# An id that no URL holds elsewhere: reversed once per commune, then replaced by each booking's.
_ID = 987654321


class _Urls:
    """A commune's URLs for the cells' forms, reversed once per name."""

    def __init__(self, slug: str):
        self.urlconf = commune_urlconf(slug)
        self.plain: dict[str, str] = {}
        self.with_id: dict[str, tuple[str, str] | None] = {}

    def get(self, name: str, pk: int | None = None) -> str:
        if pk is None:
            if name not in self.plain:
                self.plain[name] = escape(reverse(name, urlconf=self.urlconf))
            return self.plain[name]
        if name not in self.with_id:
            before, found, after = reverse(name, args=[_ID], urlconf=self.urlconf).rpartition(str(_ID))
            self.with_id[name] = (escape(before), escape(after)) if found else None
        parts = self.with_id[name]
        if parts is None:  # pragma: no cover - a URL that does not end with its id
            return escape(reverse(name, args=[pk], urlconf=self.urlconf))
        return f"{parts[0]}{pk}{parts[1]}"


class _Day:
    __slots__ = ("compact", "iso", "spoken")

    def __init__(self, day: dt.date):
        self.compact = day.strftime("%Y%m%d")
        self.iso = day.isoformat()
        self.spoken = escape(date_fr(day, "l j F"))


class WeekCells:
    """What every cell of one rendering shares."""

    def __init__(self, context):
        token = context.get("csrf_token")
        self.csrf = (
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{escape(token)}">'
            if token and token != "NOTPROVIDED"
            else ""
        )
        back = context.get("back")
        if not back:
            request = context.get("request")
            back = request.get_full_path() if request is not None else ""
        self.back = escape(back)
        self.urls: dict[str, _Urls] = {}
        self.days: dict[dt.date, _Day] = {}
        self.rows: dict[int, tuple[str, str, str, str, str]] = {}
        self.texts = {
            "retry": escape(_("Réessayer le paiement")),
            "cancel": escape(_("Annuler")),
            "book": escape(_("Réserver")),
            "remove": escape(_("Retirer")),
            "absent": escape(_("Absent")),
            "signal": escape(_("signaler une absence")),
        }

    @classmethod
    def of(cls, context) -> WeekCells:
        """One per rendering of the template (the period page renders a week body per week)."""
        cells = context.render_context.get(cls)
        if cells is None:
            cells = context.render_context[cls] = cls(context)
        return cells

    def day(self, day: dt.date) -> _Day:
        if day not in self.days:
            self.days[day] = _Day(day)
        return self.days[day]

    def url(self, commune, name: str, pk: int | None = None) -> str:
        if commune.slug not in self.urls:
            self.urls[commune.slug] = _Urls(commune.slug)
        return self.urls[commune.slug].get(name, pk)

    def row(self, row) -> tuple[str, str, str, str, str]:
        """(anchor's tail "commune-child-prestation", who, commune, colour, title) of a row."""
        key = id(row)
        if key not in self.rows:
            first_name, label = row.child.first_name, row.prestation["label"]
            self.rows[key] = (
                f"{row.commune.pk}-{row.child.pk}-{row.prestation['id']}",
                escape(f"{first_name} {label}"),
                escape(row.commune.name),
                escape(row.prestation["colour"]),
                f"{escape(first_name)} — {escape(label)}",
            )
        return self.rows[key]

    def action(self, row, cell, layout: str) -> str:
        """The form of a cell (what the family can do there), or nothing."""
        if not (
            cell.state == "held"
            or cell.can_book
            or cell.cart_item_id
            or cell.can_signal_absence
            or cell.can_cancel
        ):
            return ""
        tail, who, commune_name, _colour, _title = self.row(row)
        day = self.day(cell.day)
        hidden = f"{who} {day.spoken} — {commune_name}"
        back = f'<input type="hidden" name="next" value="{self.back}#{layout}-{tail}-{day.compact}">'
        texts = self.texts
        if cell.state == "held":
            return (
                f'<form method="post" action="{self.url(row.commune, "commune:booking_pay", cell.booking_id)}">{self.csrf}\n'
                f'    <button type="submit" class="small">{texts["retry"]}<span class="visually-hidden"> {hidden}</span></button>\n'
                f"  </form>\n"
                f'  <form method="post" action="{self.url(row.commune, "commune:booking_cancel", cell.booking_id)}">{self.csrf}\n'
                f"    {back}\n"
                f'    <button type="submit" class="small secondary">{texts["cancel"]}<span class="visually-hidden"> {hidden}</span></button>\n'
                f"  </form>"
            )
        if cell.can_book:
            return (
                f'<form method="post" action="{self.url(row.commune, "commune:cart_add")}">{self.csrf}\n'
                f'    <input type="hidden" name="child" value="{row.child.pk}"><input type="hidden" name="prestation" value="{row.prestation["id"]}">\n'
                f'    <input type="hidden" name="site" value="{row.site_id}"><input type="hidden" name="date" value="{day.iso}">\n'
                f"    {back}\n"
                f'    <button type="submit" class="small">{texts["book"]}<span class="visually-hidden"> {hidden}</span></button>\n'
                f"  </form>"
            )
        if cell.cart_item_id:
            name, pk, text, visually_hidden = (
                "commune:cart_remove",
                cell.cart_item_id,
                texts["remove"],
                hidden,
            )
        elif cell.can_signal_absence:
            name, pk, text = "commune:cart_absence", cell.booking_id, texts["absent"]
            visually_hidden = f"— {texts['signal']} {hidden}"
        else:
            name, pk, text, visually_hidden = (
                "commune:booking_cancel",
                cell.booking_id,
                texts["cancel"],
                hidden,
            )
        return (
            f'<form method="post" action="{self.url(row.commune, name, pk)}">{self.csrf}\n'
            f"    {back}\n"
            f'    <button type="submit" class="small secondary">{text}<span class="visually-hidden"> {visually_hidden}</span></button>\n'
            f"  </form>"
        )


@register.simple_tag(takes_context=True)
def week_cells(context, row) -> SafeString:
    """The grid's cells of one row (child × prestation), one ``<td>`` a day."""
    cells = WeekCells.of(context)
    tail = cells.row(row)[0]
    parts = []
    for cell in row.cells:
        note = f'\n  <span class="note">{escape(cell.note)}</span>' if cell.note else ""
        parts.append(
            f'<td class="cell state-{escape(cell.state)}" id="g-{tail}-{cells.day(cell.day).compact}">\n'
            f'  <span class="state">{escape(cell.label)}</span>{note}\n'
            f"  {cells.action(row, cell, 'g')}\n"
            f"</td>"
        )
    return mark_safe("".join(parts))


@register.simple_tag(takes_context=True)
def day_slots(context, day) -> SafeString:
    """The list of days' entries of one day (``Week.by_day``), one ``<li>`` a slot."""
    cells = WeekCells.of(context)
    parts = []
    for slot in day.slots:
        row, cell = slot.row, slot.cell
        tail, _who, commune_name, colour, title = cells.row(row)
        price = f" · {escape(cell.price)}" if cell.price and cell.state != "late" else ""
        note = f'<span class="note">{escape(cell.note)}</span>' if cell.note else ""
        parts.append(
            f'<li class="slot state-{escape(cell.state)}" id="l-{tail}-{cells.day(cell.day).compact}">\n'
            f'        <div class="slot-text">\n'
            f'          <span class="slot-title">{swatch_svg(colour)}{title}</span>\n'
            f'          <span class="meta">{commune_name} · {escape(row.site)}</span>\n'
            f'          <span class="state">{escape(cell.label)}{price}</span>\n'
            f"          {note}\n"
            f"        </div>\n"
            f"        {cells.action(row, cell, 'l')}\n"
            f"      </li>"
        )
    return mark_safe("\n      ".join(parts))

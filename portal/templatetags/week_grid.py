"""The week ("Mes réservations", the period page), written without a template include per row
or cell.

A week of a family in 20 communes shows about 600 cells in the grid and as many slots in the
list of days; rendering each through ``{% include %}`` with a ``{% commune_url %}`` reverse, a
CSRF token and localised dates per cell cost most of the page. Here the markup of the rows and
cells is written in Python, with what does not change from one cell to the next computed once
per week: each commune's URLs, the CSRF field, the return address, each day's labels.

Cells have no form of their own. Each row has one booking form (hidden: the child, the
prestation, the site, the return address), and each week one form for the other actions
(cancel, remove from the cart, signal an absence: the return address) and one to pay a held
place; a cell's button names its form (``form=``) and its address (``formaction=``), and the
booking button carries the day (``name="date"``). The views receive the same fields as when every
cell had its form. The address ends with the cell's anchor (``#g-…`` in the grid, ``#l-…`` in
the list of days): a browser keeps that fragment across the view's redirect to the return
address, so the family lands back on the cell it used."""

from __future__ import annotations

import datetime as dt
import html

from django import template
from django.urls import reverse
from django.utils.safestring import SafeData, SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

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
        self.plurals: dict[tuple[str, int], str] = {}
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

    def plural(self, name: str, n: int, translate) -> str:
        """The plural message ``name`` for ``n`` (``translate(n)`` gives it), translated and
        escaped once per rendering."""
        key = (name, n)
        if key not in self.plurals:
            self.plurals[key] = escape(translate(n) % {"n": n})
        return self.plurals[key]

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

    def forms(self, week) -> str:
        """The week's shared forms, once per week shown: the other actions' (with the return
        address) and paying a held place's."""
        key = week.start.strftime("%Y%m%d")
        return (
            f'<form id="a{key}" method="post" hidden>{self.csrf}'
            f'<input type="hidden" name="next" value="{self.back}"></form>'
            f'<form id="p{key}" method="post" hidden>{self.csrf}</form>'
        )

    def booking_form(self, week, row) -> str:
        """A row's booking form: the cells' "Réserver" buttons add their day. Its id names the
        site too: a child enrolled in one service at two sites has a row per site."""
        tail = self.row(row)[0]
        return (
            f'<form id="b{week.start.strftime("%Y%m%d")}-{tail}-{row.site_id}" method="post" hidden '
            f'action="{self.url(row.commune, "commune:cart_add")}">{self.csrf}'
            f'<input type="hidden" name="child" value="{row.child.pk}">'
            f'<input type="hidden" name="prestation" value="{row.prestation["id"]}">'
            f'<input type="hidden" name="site" value="{row.site_id}">'
            f'<input type="hidden" name="next" value="{self.back}"></form>'
        )

    def action(self, week_key: str, row, cell, layout: str) -> str:
        """The button(s) of a cell (what the family can do there), or nothing."""
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
        anchor = f"#{layout}-{tail}-{day.compact}"
        texts = self.texts
        if cell.state == "held":
            pay = self.url(row.commune, "commune:booking_pay", cell.booking_id)
            cancel = self.url(row.commune, "commune:booking_cancel", cell.booking_id)
            return (
                f'<span class="actions-cell"><button type="submit" form="p{week_key}" formaction="{pay}" class="small">'
                f'{texts["retry"]}<span class="visually-hidden"> {hidden}</span></button>'
                f'<button type="submit" form="a{week_key}" formaction="{cancel}{anchor}" class="small secondary">'
                f'{texts["cancel"]}<span class="visually-hidden"> {hidden}</span></button></span>'
            )
        if cell.can_book:
            return (
                f'<button type="submit" form="b{week_key}-{tail}-{row.site_id}" formaction="{self.url(row.commune, "commune:cart_add")}{anchor}" '
                f'name="date" value="{day.iso}" class="small">'
                f'{texts["book"]}<span class="visually-hidden"> {hidden}</span></button>'
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
            f'<button type="submit" form="a{week_key}" formaction="{self.url(row.commune, name, pk)}{anchor}" '
            f'class="small secondary">{text}<span class="visually-hidden"> {visually_hidden}</span></button>'
        )


def _booked(cells: WeekCells, n: int) -> str:
    return cells.plural("booked", n, lambda n: ngettext("%(n)s jour réservé", "%(n)s jours réservés", n))


@register.simple_tag(takes_context=True)
def week_forms(context, week) -> SafeString:
    """The week's shared forms (the cells' buttons other than "Réserver" name them)."""
    return mark_safe(WeekCells.of(context).forms(week))


@register.simple_tag(takes_context=True)
def week_rows(context, week) -> SafeString:
    """The week's summary list, one ``<li>`` a row (child × prestation): the days booked,
    "Réserver la semaine", and the row's booking form."""
    cells = WeekCells.of(context)
    monday = week.start.isoformat()
    parts = []
    for row in week.rows:
        _tail, who, commune_name, colour, title = cells.row(row)
        free = row.free_count
        book_week = ""
        if free:
            text = cells.plural(
                "week",
                free,
                lambda n: ngettext(
                    "Réserver la semaine (%(n)s jour)", "Réserver la semaine (%(n)s jours)", n
                ),
            )
            book_week = (
                f'\n    <form method="post" action="{cells.url(row.commune, "commune:cart_add_week")}">{cells.csrf}'
                f'<input type="hidden" name="child" value="{row.child.pk}">'
                f'<input type="hidden" name="prestation" value="{row.prestation["id"]}">'
                f'<input type="hidden" name="week" value="{monday}">'
                f'<input type="hidden" name="next" value="{cells.back}">'
                f'<button type="submit" class="small secondary">{text}'
                f'<span class="visually-hidden"> {who} — {commune_name}</span></button></form>'
            )
        booking = cells.booking_form(week, row) if any(cell.can_book for cell in row.cells) else ""
        parts.append(
            f"<li>\n    <span><span>{swatch_svg(colour)}<strong>{title}</strong></span>"
            f'<span class="meta">{commune_name} · {_booked(cells, row.booked_count)}</span></span>'
            f"{book_week}{booking}\n  </li>"
        )
    return mark_safe("\n  ".join(parts))


@register.simple_tag(takes_context=True)
def grid_rows(context, week) -> SafeString:
    """The grid's rows, one ``<tr>`` a row (child × prestation), one ``<td>`` a day."""
    cells = WeekCells.of(context)
    key = week.start.strftime("%Y%m%d")
    parts = []
    for number, row in enumerate(week.rows, start=1):
        tail, _who, commune_name, colour, title = cells.row(row)
        booked = f'<span class="meta">{_booked(cells, row.booked_count)}</span>' if row.booked_count else ""
        tds = []
        for cell in row.cells:
            note = f'<span class="note">{escape(cell.note)}</span>' if cell.note else ""
            tds.append(
                f'<td class="cell state-{escape(cell.state)}" id="g-{tail}-{cells.day(cell.day).compact}">'
                f'<span class="state">{escape(cell.label)}</span>{note}{cells.action(key, row, cell, "g")}</td>'
            )
        parts.append(
            f'<tr id="r{key}-{number}"><th scope="row">{swatch_svg(colour)} {title}\n'
            f'<span class="meta">{commune_name} · {escape(row.site)}</span>{booked}</th>'
            + "".join(tds)
            + "</tr>"
        )
    return mark_safe("\n  ".join(parts))


@register.simple_tag(takes_context=True)
def day_slots(context, week, day) -> SafeString:
    """The list of days' entries of one day (``Week.by_day``), one ``<li>`` a slot."""
    cells = WeekCells.of(context)
    key = week.start.strftime("%Y%m%d")
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
            f"        {cells.action(key, row, cell, 'l')}\n"
            f"      </li>"
        )
    return mark_safe("\n      ".join(parts))

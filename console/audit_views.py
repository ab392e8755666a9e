"""The audit log page of the console (commune administrators)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode

from audit import selectors

from . import audit_display as display
from .access import staff_required
from .audit_forms import AuditFilterForm

PAGE_SIZE = 50


@staff_required(admin_only=True)
def audit_log(request: HttpRequest) -> HttpResponse:
    tz = ZoneInfo(request.commune.timezone)
    form = AuditFilterForm(request.GET or None, actors=selectors.list_audit_actors())
    if form.is_bound:
        form.is_valid()
    filters = form.filters()
    page = Paginator(selectors.list_audit_entries(filters=filters, tz=tz), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = {key: value for key, value in request.GET.items() if key != "page" and value}
    return render(
        request,
        "audit/audit_log.html",
        {
            "form": form,
            "page": page,
            "entries": display.present(page.object_list, tz=tz),
            "filtered": filters != selectors.AuditFilters(),
            "query": urlencode(query) + "&" if query else "",
        },
    )

"""Console pages for requests: the commune's queue (every member of its staff), one request
with its whole history and the agent's actions (take in hand, accept, refuse, write to the
family, assign), its documents, and the categories (commune administrators)."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from console.access import staff_required
from demandes import selectors, services
from demandes.forms import AssignForm, CategoryForm, MessageForm, QueueFilterForm, StatusForm
from foyer.errors import FoyerError, apply_errors
from foyer.uploads import stream_attachment

admin_only = staff_required(admin_only=True)


@staff_required
def request_list(request: HttpRequest) -> HttpResponse:
    staff = selectors.list_staff()
    form = QueueFilterForm(
        request.GET or None, categories=selectors.list_categories(), staff=staff, me=request.user
    )
    filters = form.to_filters(request.user)
    page = Paginator(selectors.list_requests(**filters), 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "demandes/console/request_list.html",
        {"form": form, "page": page, "query": query.urlencode()},
    )


def _detail_page(request: HttpRequest, request_id: int, *, status=200, **forms) -> HttpResponse:
    demande = selectors.get_request(request_id=request_id)
    staff = selectors.list_staff()
    type_choices = selectors.attachment_type_choices(demande.category)
    if demande.is_open:
        forms.setdefault("status_form", StatusForm(request=demande))
        forms.setdefault("message_form", MessageForm(request=demande, type_choices=type_choices))
    else:
        forms.setdefault("message_form", None)
    forms.setdefault("assign_form", AssignForm(staff=staff, initial={"assignee": demande.assignee_id}))
    return render(
        request,
        "demandes/console/request_detail.html",
        {"demande": demande, "dossier": selectors.get_dossier(demande), **forms},
        status=status,
    )


@staff_required
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    return _detail_page(request, request_id)


def _act(request: HttpRequest, request_id: int, *, form, form_name: str, save, success: str) -> HttpResponse:
    """Call the service on a valid form; otherwise (or when it refuses) show the request again
    with the form and what was typed."""
    if form.is_valid():
        try:
            save()
        except FoyerError as error:
            if error.status == 404:
                raise
            if error.status == 409:
                messages.error(request, error.message)
                return redirect("console:request_detail", request_id=request_id)
            apply_errors(form, error)
        else:
            messages.success(request, success)
            return redirect("console:request_detail", request_id=request_id)
    return _detail_page(request, request_id, status=400, **{form_name: form})


@staff_required
@require_POST
def request_status(request: HttpRequest, request_id: int) -> HttpResponse:
    demande = selectors.get_request(request_id=request_id)
    form = StatusForm(request.POST, request=demande)
    return _act(
        request,
        request_id,
        form=form,
        form_name="status_form",
        save=lambda: services.change_request_status(
            request_id=request_id,
            actor=request.user,
            status=form.cleaned_data["status"],
            message=form.cleaned_data["message"],
        ),
        success=_("Le statut de la demande est enregistré."),
    )


@staff_required
@require_POST
def request_message(request: HttpRequest, request_id: int) -> HttpResponse:
    demande = selectors.get_request(request_id=request_id)
    form = MessageForm(
        request.POST,
        request.FILES,
        request=demande,
        type_choices=selectors.attachment_type_choices(demande.category),
    )
    internal = request.POST.get("message-internal") == "on"
    return _act(
        request,
        request_id,
        form=form,
        form_name="message_form",
        save=lambda: services.post_request_message(
            request_id=request_id,
            actor=request.user,
            message=form.cleaned_data["message"],
            attachments=form.attachments(),
            internal=form.cleaned_data["internal"],
        ),
        success=_("La note est enregistrée.") if internal else _("Le message est envoyé à la famille."),
    )


@staff_required
@require_POST
def request_assign(request: HttpRequest, request_id: int) -> HttpResponse:
    form = AssignForm(request.POST, staff=selectors.list_staff())
    return _act(
        request,
        request_id,
        form=form,
        form_name="assign_form",
        save=lambda: services.assign_request(
            request_id=request_id, actor=request.user, assignee_id=form.cleaned_data["assignee"]
        ),
        success=_("L'attribution est enregistrée."),
    )


@staff_required
def request_attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """A document of a request of this commune, to its staff only."""
    return stream_attachment(selectors.get_staff_attachment(attachment_id=attachment_id))


# --- Categories (administrators) -----------------------------------------------------------------


@admin_only
def category_list(request: HttpRequest) -> HttpResponse:
    return render(request, "demandes/console/category_list.html", {"categories": selectors.list_categories()})


@admin_only
@require_http_methods(["GET", "POST"])
def category_form(request: HttpRequest, category_id: int | None = None) -> HttpResponse:
    category = selectors.get_category(category_id=category_id) if category_id else None
    form = CategoryForm(request.POST or None, category=category)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.save_category(category_id=category_id, data=form.to_input(), actor=request.user)
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("« %(name)s » est enregistrée.") % {"name": saved.title})
            return redirect("console:request_category_list")
    return render(
        request,
        "demandes/console/category_form.html",
        {
            "form": form,
            "category": category,
            "title": category.title if category else _("Nouvelle catégorie"),
        },
    )

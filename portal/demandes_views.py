"""Family pages for requests: "Historique des demandes" across communes (/demandes/), "Faire
une demande" (choose the commune, then the category), one request with its history, reply,
add a document, cancel, and the documents themselves (streamed, never a public URL)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from demandes import selectors, services
from demandes.family_parts import CommuneCategories
from demandes.forms import ReplyForm, RequestForm
from family import router
from family.router import get_family_scope, get_family_scope_in
from foyer.errors import FoyerError, apply_errors
from foyer.uploads import stream_attachment


@login_required
def history(request: HttpRequest) -> HttpResponse:
    """ "Mes demandes": every request of the family in every commune, in one query."""
    scope = get_family_scope(request.user)
    requests = router.list_family_requests(family_ids=scope.family_ids, communes=scope.open_communes)
    children = {child.pk: child for child in scope.children}
    for row in requests:
        row.child = children.get(row.child_id)
    return render(
        request,
        "demandes/history.html",
        {
            "requests": requests,
            "cancellations": router.list_family_cancellations(scope=scope),
            "open_count": sum(1 for r in requests if r.is_open),
            "several_communes": len(scope.open_communes) > 1,
            "has_communes": bool(scope.open_communes),
            "suspended": scope.suspended_communes,
        },
    )


@login_required
def choose(request: HttpRequest) -> HttpResponse:
    """ "Faire une demande": the family's communes, each with the categories it offers."""
    scope = get_family_scope(request.user)
    return render(
        request,
        "demandes/choose.html",
        {"groups": router.list_family_categories(communes=scope.open_communes), "in_commune": False},
    )


# --- One commune (/c/<slug>/demandes/...) ----------------------------------------------------------


@login_required
def commune_index(request: HttpRequest) -> HttpResponse:
    return redirect("demandes:history")


@login_required
def commune_choose(request: HttpRequest) -> HttpResponse:
    selectors.get_commune_families(account=request.user, commune=request.commune)
    groups = [
        CommuneCategories(
            request.commune, list(selectors.list_offered_categories().values("code", "title", "description"))
        )
    ]
    return render(request, "demandes/choose.html", {"groups": groups, "in_commune": True})


@login_required
@require_http_methods(["GET", "POST"])
def create(request: HttpRequest, code: str) -> HttpResponse:
    families = selectors.get_commune_families(account=request.user, commune=request.commune)
    category = selectors.get_offered_category(code=code)
    children = selectors.list_children_of_families(families)
    form = RequestForm(
        request.POST or None, request.FILES or None, category=category, children=children, families=families
    )
    if request.method == "POST" and form.is_valid():
        family = next((f for f in families if f.pk == form.cleaned_data.get("family")), families[0])
        child_id = form.child_id()
        child = next((c for c in children if c.pk == child_id), None)
        try:
            created = services.submit_request(
                family=family,
                actor=request.user,
                category=category,
                answers=form.answers(),
                attachments=form.attachments(),
                child=child,
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                _(
                    "Votre demande n° %(number)s est envoyée à %(commune)s. Vous serez prévenu par e-mail de sa suite."
                )
                % {"number": created.pk, "commune": request.commune.name},
            )
            return redirect("commune_demandes:detail", request_id=created.pk)
    return render(request, "demandes/request_form.html", {"form": form, "category": category})


def _detail_page(request: HttpRequest, demande, *, reply_form=None, status=200) -> HttpResponse:
    if reply_form is None and demande.is_open:
        reply_form = ReplyForm(
            request=demande, type_choices=selectors.attachment_type_choices(demande.category)
        )
    return render(
        request,
        "demandes/request_detail.html",
        {"demande": demande, "reply_form": reply_form},
        status=status,
    )


@login_required
def detail(request: HttpRequest, request_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    demande = selectors.get_family_request(family_ids=scope.family_ids, request_id=request_id)
    return _detail_page(request, demande)


@login_required
@require_POST
def reply(request: HttpRequest, request_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    demande = selectors.get_family_request(family_ids=scope.family_ids, request_id=request_id)
    form = ReplyForm(
        request.POST,
        request.FILES,
        request=demande,
        type_choices=selectors.attachment_type_choices(demande.category),
    )
    if form.is_valid():
        try:
            services.reply_to_request(
                family_ids=scope.family_ids,
                actor=request.user,
                request_id=demande.pk,
                message=form.cleaned_data["message"],
                attachments=form.attachments(),
            )
        except FoyerError as error:
            if error.status == 409:
                messages.error(request, error.message)
                return redirect("commune_demandes:detail", request_id=demande.pk)
            apply_errors(form, error)
        else:
            messages.success(request, _("Votre réponse est envoyée à la commune."))
            return redirect("commune_demandes:detail", request_id=demande.pk)
    return _detail_page(request, demande, reply_form=form, status=400)


@login_required
@require_POST
def cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    scope = get_family_scope_in(request.user, request.commune)
    try:
        services.cancel_request(family_ids=scope.family_ids, actor=request.user, request_id=request_id)
    except FoyerError as error:
        if error.status == 404:
            raise
        messages.error(request, error.message)
    else:
        messages.success(request, _("Votre demande est annulée."))
    return redirect("commune_demandes:detail", request_id=request_id)


@login_required
def attachment(request: HttpRequest, attachment_id: int) -> FileResponse:
    """A document of one of the family's requests in this commune; anybody else: not found."""
    scope = get_family_scope_in(request.user, request.commune)
    return stream_attachment(
        selectors.get_family_attachment(family_ids=scope.family_ids, attachment_id=attachment_id)
    )

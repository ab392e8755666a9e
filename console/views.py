"""Commune console (staff of the commune): family dossiers and their activation, staff."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from foyer.errors import FoyerError, apply_errors
from shared_identity import selectors, services
from shared_identity.forms import StaffAccountForm
from shared_identity.models import Invitation, Membership, StaffRole

from .access import staff_required
from .forms import BookingSettingsForm, ChildFormSet, FamilyDossierForm, StaffInvitationForm


@staff_required
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard: what there is to do, each count a link to the filtered page."""
    from .dashboard import dashboard_cards, get_dashboard_counts

    dashboard = get_dashboard_counts(commune=request.commune, account=request.user)
    return render(
        request,
        "console/home.html",
        {
            "counts": {"active": dashboard.members_active, "invited": dashboard.members_invited},
            "cards": dashboard_cards(dashboard),
        },
    )


@staff_required
def family_list(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "").strip()
    activation = request.GET.get("activation", "")
    if activation not in selectors.ActivationStatus.values:
        activation = ""
    dossiers = selectors.list_family_dossiers(commune=request.commune, search=search, activation=activation)
    counts = dossiers.aggregate(
        total=Count("pk"), pending=Count("pk", filter=Q(status=Membership.Status.INVITED))
    )
    paginator = Paginator(dossiers, 50)
    paginator.count = counts["total"]  # counted above with the dossiers waiting: one query
    page = paginator.get_page(request.GET.get("page"))
    labels = dict(selectors.ActivationStatus.choices)
    for membership in page:
        membership.activation_label = labels[membership.activation_status]
    return render(
        request,
        "console/family_list.html",
        {
            "page": page,
            "search": search,
            "activation": activation,
            "activation_choices": selectors.ActivationStatus.choices,
            "pending": counts["pending"],
            "query": urlencode({"q": search, "activation": activation}) + "&",
        },
    )


@staff_required
@require_http_methods(["GET", "POST"])
def family_create(request: HttpRequest) -> HttpResponse:
    form = FamilyDossierForm(request.POST or None)
    children = ChildFormSet(request.POST or None, prefix="children")
    if request.method == "POST" and form.is_valid() and children.is_valid():
        child_inputs = [
            services.ChildInput(**child.cleaned_data)
            for child in children
            if child.has_changed() and child.cleaned_data
        ]
        try:
            membership = services.create_family_dossier(
                commune=request.commune, actor=request.user, children=child_inputs, **form.cleaned_data
            )
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(
                request, _("Le dossier n° %(number)s a été créé.") % {"number": membership.dossier_number}
            )
            return redirect("console:family_detail", membership_id=membership.pk)
    return render(request, "console/family_form.html", {"form": form, "children": children})


@staff_required
def family_detail(request: HttpRequest, membership_id: int) -> HttpResponse:
    from .reservation_views import family_page

    membership = selectors.get_family_dossier(commune=request.commune, membership_id=membership_id)
    return family_page(request, membership)


@staff_required
@require_POST
def family_send_activation(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = selectors.get_family_dossier(commune=request.commune, membership_id=membership_id)
    try:
        invitation = services.send_family_invitation(membership=membership, actor=request.user)
    except FoyerError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request,
            _("Le lien d'activation part vers %(email)s (valable 72 heures).") % {"email": invitation.email},
        )
    return redirect("console:family_detail", membership_id=membership.pk)


@staff_required
@require_http_methods(["GET", "POST"])
def staff(request: HttpRequest) -> HttpResponse:
    from console.services import set_staff_2fa_requirement
    from shared_identity.two_factor import two_factor_account_ids

    from .forms import StaffTwoFactorRequirementForm

    is_admin = request.staff_role.role == StaffRole.Role.ADMIN
    # Two forms on the page: the invitation, and the two-factor rule ("form" says which).
    posted = request.POST.get("form", "invitation") if request.method == "POST" else None
    form = StaffInvitationForm(request.POST if posted == "invitation" else None)
    security_form = StaffTwoFactorRequirementForm(
        request.POST if posted == "two_factor" else None,
        initial={"require_staff_2fa": request.commune.require_staff_2fa},
    )
    if request.method == "POST":
        if not is_admin:
            return render(request, "403.html", status=403)
        if posted == "two_factor" and security_form.is_valid():
            required = security_form.cleaned_data["require_staff_2fa"]
            try:
                set_staff_2fa_requirement(commune=request.commune, required=required, actor=request.user)
            except FoyerError as error:
                apply_errors(security_form, error)
            else:
                messages.success(
                    request,
                    _("La double authentification est désormais exigée pour toute l'équipe.")
                    if required
                    else _("La double authentification n'est plus exigée pour l'équipe."),
                )
                return redirect("console:staff")
        elif posted == "invitation" and form.is_valid():
            try:
                services.invite_staff(commune=request.commune, actor=request.user, **form.cleaned_data)
            except FoyerError as error:
                apply_errors(form, error)
            else:
                messages.success(
                    request, _("L'invitation part vers %(email)s.") % {"email": form.cleaned_data["email"]}
                )
                return redirect("console:staff")
    roles = list(
        StaffRole.objects.filter(commune=request.commune).select_related("account").order_by("account__email")
    )
    with_two_factor = two_factor_account_ids(role.account_id for role in roles)
    for role in roles:
        role.has_two_factor = role.account_id in with_two_factor
    return render(
        request,
        "console/staff.html",
        {
            "form": form,
            "security_form": security_form,
            "is_admin": is_admin,
            "roles": roles,
            "invitations": Invitation.objects.filter(
                commune=request.commune, kind=Invitation.Kind.STAFF, used_at__isnull=True
            ),
        },
    )


@require_http_methods(["GET", "POST"])
def accept_invitation(request: HttpRequest, token: str) -> HttpResponse:
    commune = request.commune
    try:
        invitation = selectors.get_invitation_for_token(
            commune=commune, token=token, kind=Invitation.Kind.STAFF
        )
    except FoyerError as error:
        return render(request, "portal/activation_error.html", {"error": error}, status=error.status)
    has_account = selectors.get_account_by_email(invitation.email) is not None
    form = None if (has_account or request.user.is_authenticated) else StaffAccountForm(request.POST or None)
    error = None
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            if form is None:
                if not request.user.is_authenticated:
                    return redirect(f"{reverse('portal:login')}?next={request.path}")
                services.accept_staff_invitation(commune=commune, token=token, account=request.user)
            else:
                account = services.accept_staff_invitation(
                    commune=commune,
                    token=token,
                    account=None,
                    profile=services.ProfileInput(
                        first_name=form.cleaned_data["first_name"],
                        last_name=form.cleaned_data["last_name"],
                        phone=form.cleaned_data["phone"],
                    ),
                    password=form.cleaned_data["password"],
                    password_confirmation=form.cleaned_data["password_confirmation"],
                )
                login(request, account, backend="django.contrib.auth.backends.ModelBackend")
        except FoyerError as exc:
            if form is not None:
                apply_errors(form, exc)
            else:
                error = exc
        else:
            messages.success(
                request, _("Bienvenue dans la console de %(commune)s.") % {"commune": commune.name}
            )
            # A new administrator of a commune still preparing its space starts its onboarding.
            if invitation.role == StaffRole.Role.ADMIN and not commune.is_open:
                return redirect("console:onboarding")
            return redirect("console:home")
    return render(
        request,
        "console/accept_invitation.html",
        {
            "invitation": invitation,
            "form": form,
            "error": error,
            "has_account": has_account,
            "login_url": f"{reverse('portal:login')}?next={request.path}",
        },
    )


@staff_required(admin_only=True)
@require_http_methods(["GET", "POST"])
def booking_settings(request: HttpRequest) -> HttpResponse:
    from console.services import update_booking_settings

    form = BookingSettingsForm(
        request.POST or None, initial={"booking_hold_minutes": request.commune.booking_hold_minutes}
    )
    if request.method == "POST" and form.is_valid():
        try:
            update_booking_settings(commune=request.commune, actor=request.user, **form.cleaned_data)
        except FoyerError as error:
            apply_errors(form, error)
        else:
            messages.success(request, _("Réglages enregistrés."))
            return redirect("console:booking_settings")
    return render(request, "console/booking_settings.html", {"form": form})

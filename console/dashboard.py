"""The console's dashboard: what the commune's staff has to do, counted in one query per
table (seven in all, whatever the number of rows), then turned into cards of links to the
pages that hold the work, filtered."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Count, DecimalField, Exists, F, Min, OuterRef, Q, Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from billing.models import Invoice, InvoicingRun, PaymentAttempt, Refund
from demandes.models import Request
from foyer.formatting import format_money
from reservations.models import CancellationRequest
from shared_identity.models import Account, Membership
from shared_identity.selectors import ActivationStatus, with_activation_status

# An online payment still "in progress" this long after it was started: the periodic
# reconciliation (every 5 minutes, billing.tasks.reconcile_payments, which touches updated_at
# each time) did not settle it, or the provider was never reached.
STUCK_AFTER = dt.timedelta(hours=1)
# A refund asked of the provider this long ago and still without the provider's id: the call
# failed (billing.payments.refund_attempt stores the id right after a successful call).
REFUND_UNCONFIRMED_AFTER = dt.timedelta(minutes=10)
# The words billing.payments writes in PaymentAttempt.flagged for each case (French msgids).
# Chargebacks are told by amount_charged_back; any other flag is a mismatch with the provider.
FLAG_PAID_LATE = "payé après son expiration"
FLAG_OVERPAID = "trop-perçu"

ZERO = Decimal("0.00")
MONEY = DecimalField(max_digits=12, decimal_places=2)


@dataclass(frozen=True)
class DashboardCounts:
    # Dossiers (public schema), by Membership.status and by ActivationStatus value.
    members_active: int
    members_invited: int
    activation: dict[str, int]
    # Requests (demandes)
    requests_submitted: int
    requests_in_progress: int
    requests_mine: int  # open and given to the agent who looks
    requests_unassigned: int  # open and given to nobody
    # Cancellation requests
    cancellations_pending: int
    cancellations_oldest: dt.datetime | None
    # Invoicing
    month_to_prepare: dt.date | None  # last month, while its run does not exist
    draft_runs: int
    draft_run_id: int | None  # the oldest draft run
    unpaid_count: int
    unpaid_total: Decimal
    overdue_count: int
    overdue_total: Decimal
    # Online payments to reconcile
    payments_to_look_at: int  # distinct attempts in any of the cases below but refunds
    payments_overpaid: int
    payments_paid_late: int
    payments_charged_back: int
    debits_failed: int  # direct debits refused or charged back, whose invoice is still to pay
    payments_mismatch: int
    payments_stuck: int
    refunds_unconfirmed: int


def get_dashboard_counts(*, commune, account: Account, now: dt.datetime | None = None) -> DashboardCounts:
    """Everything the dashboard counts: seven queries (one per table), whatever the number of
    rows. Runs in the commune's schema."""
    now = now or timezone.now()
    today = timezone.localdate(now, timezone=ZoneInfo(commune.timezone))
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)

    # Grouped (at most 3 × 6 rows) so that the activation status is computed once per dossier.
    groups = (
        with_activation_status(Membership.objects.filter(commune=commune), now=now)
        .values("status", "activation_status")
        .annotate(dossiers=Count("pk"))
        .order_by()
    )
    by_status = dict.fromkeys(Membership.Status.values, 0)
    activation = dict.fromkeys(ActivationStatus.values, 0)
    for group in groups:
        by_status[group["status"]] += group["dossiers"]
        activation[group["activation_status"]] += group["dossiers"]

    is_open = Q(status__in=Request.OPEN)
    requests = Request.objects.aggregate(
        requests_submitted=Count("pk", filter=Q(status=Request.Status.SUBMITTED)),
        requests_in_progress=Count("pk", filter=Q(status=Request.Status.IN_PROGRESS)),
        requests_mine=Count("pk", filter=is_open & Q(assignee_id=account.pk)),
        requests_unassigned=Count("pk", filter=is_open & Q(assignee__isnull=True)),
    )

    pending = Q(status=CancellationRequest.Status.PENDING)
    cancellations = CancellationRequest.objects.aggregate(
        cancellations_pending=Count("pk", filter=pending),
        cancellations_oldest=Min("created_at", filter=pending),
    )

    draft = Q(status=InvoicingRun.Status.DRAFT)
    runs = InvoicingRun.objects.aggregate(
        draft_runs=Count("pk", filter=draft),
        draft_run_id=Min("pk", filter=draft),
        last_month_runs=Count("pk", filter=Q(period_start=last_month)),
    )

    unpaid = Q(status=Invoice.Status.ISSUED)
    overdue = unpaid & Q(due_date__lt=today)
    due = F("total") - F("paid_amount")
    invoices = Invoice.objects.aggregate(
        unpaid_count=Count("pk", filter=unpaid),
        unpaid_total=Sum(due, filter=unpaid, default=ZERO, output_field=MONEY),
        overdue_count=Count("pk", filter=overdue),
        overdue_total=Sum(due, filter=overdue, default=ZERO, output_field=MONEY),
    )

    refunded = Exists(Refund.objects.filter(attempt=OuterRef("pk")))
    overpaid = Q(flagged__contains=FLAG_OVERPAID) & ~Q(refunded)
    paid_late = Q(flagged__contains=FLAG_PAID_LATE) & ~Q(refunded)
    charged_back = Q(amount_charged_back__gt=0)
    mismatch = (
        ~Q(flagged="")
        & ~Q(flagged__contains=FLAG_OVERPAID)
        & ~Q(flagged__contains=FLAG_PAID_LATE)
        & Q(amount_charged_back=0)
    )
    # A direct debit stays pending for days at the bank: that is not being stuck.
    stuck = (
        ~Q(status__in=PaymentAttempt.FINAL)
        & Q(created_at__lt=now - STUCK_AFTER)
        & Q(direct_debit__isnull=True)
    )
    debit_failed = Q(direct_debit__status="failed", direct_debit__invoice__status=Invoice.Status.ISSUED)
    attempts = PaymentAttempt.objects.aggregate(
        payments_to_look_at=Count(
            "pk", filter=overpaid | paid_late | charged_back | mismatch | stuck | debit_failed
        ),
        payments_overpaid=Count("pk", filter=overpaid),
        payments_paid_late=Count("pk", filter=paid_late),
        payments_charged_back=Count("pk", filter=charged_back),
        debits_failed=Count("pk", filter=debit_failed),
        payments_mismatch=Count("pk", filter=mismatch),
        payments_stuck=Count("pk", filter=stuck),
    )

    refunds = Refund.objects.aggregate(
        refunds_unconfirmed=Count(
            "pk",
            filter=Q(provider_id="", outside_provider=False, created_at__lt=now - REFUND_UNCONFIRMED_AFTER),
        )
    )

    return DashboardCounts(
        members_active=by_status[Membership.Status.ACTIVE],
        members_invited=by_status[Membership.Status.INVITED],
        activation=activation,
        **requests,
        **cancellations,
        month_to_prepare=None if runs.pop("last_month_runs") else last_month,
        **runs,
        **invoices,
        **attempts,
        **refunds,
    )


# --- Cards ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    label: str
    url: str
    count: int | None = None  # None: a thing to do, not a number
    detail: str = ""
    urgent: bool = False  # highlighted when there is something

    @property
    def todo(self) -> bool:
        return self.urgent and (self.count is None or self.count > 0)


@dataclass(frozen=True)
class Card:
    key: str
    title: str
    items: list[Item]
    note: str = ""
    more: tuple[str, str] | None = None  # (label, url) of the whole page


def _url(name: str, *args, **query) -> str:
    url = reverse(name, args=args)
    return f"{url}?{urlencode(query)}" if query else url


def dashboard_cards(counts: DashboardCounts) -> list[Card]:
    """The dashboard's cards, each line a count and a link to the filtered page. Call it
    during a request of the commune (the links use its URLs)."""
    requests = _url("console:request_list")
    cancellations = _url("console:cancellation_request_list")
    runs = _url("console:run_list")
    payments = _url("console:online_payments")
    families = "console:family_list"
    activation = counts.activation
    invoicing: list[Item] = []
    if counts.month_to_prepare:
        invoicing.append(
            Item(
                _("Facturation à préparer : %(month)s")
                % {"month": date_format(counts.month_to_prepare, "F Y")},
                runs,
                urgent=True,
            )
        )
    invoicing += [
        Item(
            ngettext(
                "facturation en brouillon à vérifier et émettre",
                "facturations en brouillon à vérifier et émettre",
                counts.draft_runs,
            ),
            _url("console:run_detail", counts.draft_run_id) if counts.draft_runs == 1 else runs,
            counts.draft_runs,
            urgent=True,
        ),
        Item(
            ngettext("facture émise non payée", "factures émises non payées", counts.unpaid_count),
            runs,
            counts.unpaid_count,
            detail=_("%(amount)s à encaisser") % {"amount": format_money(counts.unpaid_total)},
        ),
        Item(
            ngettext(
                "facture échue (date limite de paiement dépassée)",
                "factures échues (date limite de paiement dépassée)",
                counts.overdue_count,
            ),
            runs,
            counts.overdue_count,
            detail=_("%(amount)s en retard") % {"amount": format_money(counts.overdue_total)},
            urgent=True,
        ),
    ]
    oldest = counts.cancellations_oldest
    return [
        Card(
            "demandes",
            _("Demandes des familles"),
            [
                Item(
                    ngettext(
                        "demande déposée, à prendre en charge",
                        "demandes déposées, à prendre en charge",
                        counts.requests_submitted,
                    ),
                    _url("console:request_list", statut=Request.Status.SUBMITTED),
                    counts.requests_submitted,
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "demande en cours de traitement",
                        "demandes en cours de traitement",
                        counts.requests_in_progress,
                    ),
                    _url("console:request_list", statut=Request.Status.IN_PROGRESS),
                    counts.requests_in_progress,
                ),
                Item(
                    ngettext(
                        "demande ouverte qui m'est attribuée",
                        "demandes ouvertes qui me sont attribuées",
                        counts.requests_mine,
                    ),
                    _url("console:request_list", attribuee="moi"),
                    counts.requests_mine,
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "demande ouverte attribuée à personne",
                        "demandes ouvertes attribuées à personne",
                        counts.requests_unassigned,
                    ),
                    _url("console:request_list", attribuee="personne"),
                    counts.requests_unassigned,
                ),
            ],
            more=(_("Toutes les demandes"), requests),
        ),
        Card(
            "annulations",
            _("Demandes d'annulation"),
            [
                Item(
                    ngettext(
                        "demande en attente de décision",
                        "demandes en attente de décision",
                        counts.cancellations_pending,
                    ),
                    _url("console:cancellation_request_list", statut=CancellationRequest.Status.PENDING),
                    counts.cancellations_pending,
                    detail=_("la plus ancienne reçue le %(day)s")
                    % {"day": date_format(timezone.localtime(oldest), "j F Y")}
                    if oldest
                    else "",
                    urgent=True,
                )
            ],
            more=(_("Toutes les demandes d'annulation"), cancellations),
        ),
        Card("facturation", _("Facturation"), invoicing, more=(_("Toutes les facturations"), runs)),
        Card(
            "paiements",
            _("Paiements en ligne à rapprocher"),
            [
                Item(
                    ngettext(
                        "trop-perçu à rembourser (réservation libérée avant le paiement, facture déjà payée)",
                        "trop-perçus à rembourser (réservation libérée avant le paiement, facture déjà payée)",
                        counts.payments_overpaid,
                    ),
                    payments,
                    counts.payments_overpaid,
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "paiement reçu après son expiration, à vérifier",
                        "paiements reçus après leur expiration, à vérifier",
                        counts.payments_paid_late,
                    ),
                    payments,
                    counts.payments_paid_late,
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "rejet de paiement (chargeback)",
                        "rejets de paiement (chargebacks)",
                        counts.payments_charged_back,
                    ),
                    payments,
                    counts.payments_charged_back,
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "prélèvement refusé, facture de nouveau à payer",
                        "prélèvements refusés, factures de nouveau à payer",
                        counts.debits_failed,
                    ),
                    payments,
                    counts.debits_failed,
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "paiement qui ne correspond pas à Mollie (montant, identifiant, mode)",
                        "paiements qui ne correspondent pas à Mollie (montant, identifiant, mode)",
                        counts.payments_mismatch,
                    ),
                    payments,
                    counts.payments_mismatch,
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "paiement toujours « en cours » depuis plus d'une heure",
                        "paiements toujours « en cours » depuis plus d'une heure",
                        counts.payments_stuck,
                    ),
                    payments,
                    counts.payments_stuck,
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "remboursement non confirmé par Mollie",
                        "remboursements non confirmés par Mollie",
                        counts.refunds_unconfirmed,
                    ),
                    payments,
                    counts.refunds_unconfirmed,
                    urgent=True,
                ),
            ],
            note=ngettext(
                "%(count)d paiement en ligne à regarder.",
                "%(count)d paiements en ligne à regarder.",
                counts.payments_to_look_at,
            )
            % {"count": counts.payments_to_look_at},
            more=(_("Tous les paiements en ligne"), payments),
        ),
        Card(
            "activation",
            _("Activation des espaces famille"),
            [
                Item(
                    ngettext("famille activée", "familles activées", activation[ActivationStatus.ACTIVE]),
                    _url(families, activation=ActivationStatus.ACTIVE),
                    activation[ActivationStatus.ACTIVE],
                ),
                Item(
                    ngettext(
                        "famille invitée, lien envoyé",
                        "familles invitées, lien envoyé",
                        activation[ActivationStatus.SENT],
                    ),
                    _url(families, activation=ActivationStatus.SENT),
                    activation[ActivationStatus.SENT],
                ),
                Item(
                    ngettext(
                        "famille invitée, envoi du lien en cours",
                        "familles invitées, envoi du lien en cours",
                        activation[ActivationStatus.QUEUED],
                    ),
                    _url(families, activation=ActivationStatus.QUEUED),
                    activation[ActivationStatus.QUEUED],
                ),
                Item(
                    ngettext(
                        "famille jamais invitée",
                        "familles jamais invitées",
                        activation[ActivationStatus.NEVER],
                    ),
                    _url(families, activation=ActivationStatus.NEVER),
                    activation[ActivationStatus.NEVER],
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "famille dont l'envoi du lien a échoué",
                        "familles dont l'envoi du lien a échoué",
                        activation[ActivationStatus.FAILED],
                    ),
                    _url(families, activation=ActivationStatus.FAILED),
                    activation[ActivationStatus.FAILED],
                    urgent=True,
                ),
                Item(
                    ngettext(
                        "famille dont le lien a expiré sans activation",
                        "familles dont le lien a expiré sans activation",
                        activation[ActivationStatus.EXPIRED],
                    ),
                    _url(families, activation=ActivationStatus.EXPIRED),
                    activation[ActivationStatus.EXPIRED],
                    urgent=True,
                ),
            ],
            more=(_("Toutes les familles"), _url(families)),
        ),
    ]

"""Demo data: two communes with services and prestations, one family in both, staff and
an operator. Idempotent: running it again changes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from actualites.models import NewsItem
from actualites.services import NewsInput, create_news_item
from billing.fake_mollie import TEST_KEY
from billing.fake_payfip import DEMO_NUMCLI
from demandes.models import Request, RequestCategory
from demandes.services import change_request_status, submit_request
from operators.services import provision_commune
from reservations.deadlines import DeadlineRule
from reservations.models import Booking, Enrolment, Prestation, PrestationSite, PriceBracket, Service, Site
from shared_identity.models import Account, Child, Family, Guardian, Invitation, Membership, StaffRole
from tenants.context import commune_context
from tenants.models import Commune

DEMO_PASSWORD = "foyer-demo-2026"
LEGAL_MENTIONS = (
    "Éditeur : %(name)s (commune de démonstration).\n"
    "Responsable de la publication : le maire.\n"
    "Délégué à la protection des données : %(contact)s.\n"
    "Vous pouvez accéder à vos données, les rectifier ou en demander l'effacement depuis « Mon compte »."
)
SCHOOL_DAYS = [0, 1, 3, 4]
OPERATOR_EMAIL = "operateur@foyer.localhost"
PARENT_EMAIL = "parent@foyer.localhost"
# The accounts of the fake Mollie the demo starts (run_demo), by API key: JolieVille's
# périscolaire has its own, every other demo régie shares the first. The fake refuses any
# other key, as Mollie does.
PERISCOLAIRE_KEY = "test_FoyerDemoPeriscolaireKey000000000004"
FAKE_MOLLIE_ACCOUNTS = {
    TEST_KEY: "Régies de démonstration Foyer",
    PERISCOLAIRE_KEY: "JolieVille – Service périscolaire",
}
# The client numbers of the fake PayFiP the demo starts: Collectivité Démo's own invoices are
# paid through PayFiP, DGFiP's service for public bodies.
FAKE_PAYFIP_CLIENTS = {DEMO_NUMCLI: "Collectivité Démo – Factures de la collectivité"}


@dataclass(frozen=True)
class DemoRegie:
    """A demo régie: its services, and how it is paid online (a key at the fake Mollie, or a
    client number at the fake PayFiP); ``imported``: its invoices come from the commune's software."""

    name: str
    code: str
    services: tuple[str, ...] = ()
    mollie_key: str = TEST_KEY
    payfip_numcli: str = ""
    imported: bool = False
    direct_debit: bool = False  # "prélèvement automatique" offered (Mollie régies only)


COMMUNES = [
    {
        "name": "Commune de JolieVille",
        "slug": "jolieville",
        "kind": Commune.Kind.COMMUNE,
        "insee_code": "",
        "colour": "#1d4ed8",
        "admin": "admin@jolieville.localhost",
        "dossier": "JV-0154",
        # Two régies, two accounts at the fake Mollie.
        "regies": [
            DemoRegie("Restauration scolaire", "CA", ("Restauration scolaire",)),
            # Families may sign a SEPA mandate here: invoices debited on their due date.
            DemoRegie(
                "Service périscolaire",
                "A4",
                ("Périscolaire",),
                mollie_key=PERISCOLAIRE_KEY,
                direct_debit=True,
            ),
        ],
        "sites": ["École Jules Ferry", "École du Parc"],
        "catalogue": {
            "Restauration scolaire": [
                (
                    "Repas",
                    "REPAS",
                    "#16a34a",
                    "month_end",
                    "4.05",
                    SCHOOL_DAYS,
                    "11:45",
                    DeadlineRule.weekday_previous_week(1, at=dt.time(23, 59)),
                    DeadlineRule.days_before(1, at=dt.time(9, 0)),
                    "5.20",
                    60,
                ),
            ],
            "Périscolaire": [
                (
                    "Garderie du matin",
                    "GARMAT",
                    "#f59e0b",
                    "month_end",
                    "1.80",
                    SCHOOL_DAYS,
                    "07:30",
                    DeadlineRule.days_before(1, at=dt.time(18, 0)),
                    DeadlineRule.days_before(1, at=dt.time(18, 0)),
                    None,
                    None,
                ),
                (
                    "Garderie du soir",
                    "GARSOIR",
                    "#d97706",
                    "month_end",
                    "2.50",
                    SCHOOL_DAYS,
                    "16:30",
                    DeadlineRule.days_before(1, at=dt.time(18, 0)),
                    DeadlineRule.days_before(0, at=dt.time(9, 0)),
                    None,
                    None,
                ),
            ],
        },
    },
    {
        "name": "Collectivité Démo",
        "slug": "demo",
        "kind": Commune.Kind.SYNDICAT,
        "insee_code": "",
        "colour": "#7c3aed",
        "admin": "admin@demo.localhost",
        "dossier": "CD-0078",
        # Mollie for the bookings and meals; the invoices of the commune's own billing software
        # are paid through PayFiP.
        "regies": [
            DemoRegie("Paiement en ligne", "PL", ("Accueil de loisirs", "Restauration scolaire")),
            DemoRegie("Factures de la collectivité", "FC", payfip_numcli=DEMO_NUMCLI, imported=True),
        ],
        "sites": ["Centre de loisirs Les Pins"],
        "catalogue": {
            "Accueil de loisirs": [
                (
                    "Mercredi journée",
                    "MERJ",
                    "#db2777",
                    "prepaid",
                    "12.00",
                    [2],
                    "08:30",
                    DeadlineRule.days_before(2, at=dt.time(10, 0), working_days=True),
                    DeadlineRule.hours_before(72),
                    None,
                    24,
                ),
                (
                    "Mercredi demi-journée",
                    "MERDJ",
                    "#be185d",
                    "prepaid",
                    "7.00",
                    [2],
                    "13:30",
                    DeadlineRule.days_before(2, at=dt.time(10, 0), working_days=True),
                    DeadlineRule.hours_before(72),
                    None,
                    12,
                ),
            ],
            "Restauration scolaire": [
                (
                    "Repas",
                    "REPAS",
                    "#16a34a",
                    "month_end",
                    "3.90",
                    SCHOOL_DAYS,
                    "12:00",
                    DeadlineRule.weekday_previous_week(3, at=dt.time(23, 59)),
                    DeadlineRule.days_before(2),
                    None,
                    None,
                ),
            ],
        },
    },
]


def seed_demo() -> dict:
    operator = _account(OPERATOR_EMAIL, "Olivia", "Opératrice", is_platform_operator=True)
    parent = _account(PARENT_EMAIL, "Pauline", "Claironi")
    family = _family(parent)
    communes = []
    for spec in COMMUNES:
        commune = Commune.objects.filter(slug=spec["slug"]).first() or provision_commune(
            name=spec["name"], slug=spec["slug"], kind=spec["kind"], admin_email=spec["admin"]
        )
        Commune.objects.filter(pk=commune.pk).update(
            brand_colour=spec["colour"],
            contact_email=spec["admin"],
            legal_mentions=LEGAL_MENTIONS % {"name": spec["name"], "contact": spec["admin"]},
            # The demo communes are open to families (a new commune opens at the end of its
            # onboarding); the first seeding's date is kept.
            opened_at=Coalesce("opened_at", Value(timezone.now())),
        )
        admin = _account(spec["admin"], "Admin", spec["name"])
        StaffRole.objects.get_or_create(
            account=admin, commune=commune, defaults={"role": StaffRole.Role.ADMIN}
        )
        Invitation.objects.filter(commune=commune, email=spec["admin"], used_at__isnull=True).update(
            used_at=timezone.now(), used_by=admin
        )
        Membership.objects.get_or_create(
            family=family,
            commune=commune,
            defaults={
                "dossier_number": spec["dossier"],
                "status": Membership.Status.ACTIVE,
                "activated_at": timezone.now(),
            },
        )
        with commune_context(commune):
            _catalogue(spec, family)
            _billing(family, regies=spec["regies"])
            _news(spec, admin)
        communes.append(commune)
    with commune_context(communes[0]):
        _request(family, parent, admin=Account.objects.get(email=COMMUNES[0]["admin"]))
    return {"operator": operator, "parent": parent, "communes": communes}


def _account(email: str, first_name: str, last_name: str, **fields) -> Account:
    account = Account.objects.filter(email=email).first()
    if account is None:
        account = Account.objects.create_user(
            email=email, password=DEMO_PASSWORD, first_name=first_name, last_name=last_name, **fields
        )
    return account


@transaction.atomic
def _family(parent: Account) -> Family:
    guardian = Guardian.objects.filter(account=parent).select_related("family").first()
    if guardian:
        return guardian.family
    family = Family.objects.create(
        name="Claironi", address_line="12 rue des Tilleuls", postcode="38000", city="JolieVille"
    )
    Guardian.objects.create(
        family=family,
        account=parent,
        first_name="Pauline",
        last_name="Claironi",
        email=parent.email,
        phone="06 12 34 56 78",
    )
    Child.objects.create(
        family=family, first_name="Alvaro", last_name="Claironi", birth_date=dt.date(2016, 11, 14)
    )
    Child.objects.create(
        family=family, first_name="Sofia", last_name="Claironi", birth_date=dt.date(2019, 5, 20)
    )
    return family


TAX_CREDIT_SERVICES = ("Périscolaire", "Accueil de loisirs")


@transaction.atomic
def _catalogue(spec: dict, family: Family) -> None:
    sites = [Site.objects.get_or_create(name=name)[0] for name in spec["sites"]]
    today = timezone.localdate()
    start = dt.date(today.year if today.month >= 8 else today.year - 1, 9, 1)  # the school year
    end = dt.date(start.year + 1, 7, 4)
    for service_name, prestations in spec["catalogue"].items():
        # Childcare qualifies for the tax credit; school meals do not.
        service, _ = Service.objects.get_or_create(
            name=service_name, defaults={"tax_credit_eligible": service_name in TAX_CREDIT_SERVICES}
        )
        for site in sites:
            site.services.add(service)
        for (
            label,
            code,
            colour,
            mode,
            price,
            weekdays,
            start_time,
            booking,
            cancelling,
            late,
            capacity,
        ) in prestations:
            prestation, created = Prestation.objects.get_or_create(
                code=code,
                defaults={
                    "service": service,
                    "label": label,
                    "colour": colour,
                    "billing_mode": mode,
                    "base_price": Decimal(price),
                    "weekdays": weekdays,
                    "start_time": dt.time.fromisoformat(start_time),
                    "booking_rule": booking.to_dict(),
                    "cancellation_rule": cancelling.to_dict(),
                    "late_price": Decimal(late) if late else None,
                    "period": Prestation.Period.SCHOOL if weekdays != [2] else Prestation.Period.ALL,
                },
            )
            if created:
                for site in sites:
                    PrestationSite.objects.create(prestation=prestation, site=site, capacity=capacity)
                if code == "REPAS":
                    PriceBracket.objects.bulk_create(
                        [
                            PriceBracket(prestation=prestation, qf_min=0, qf_max=600, price=Decimal("1.00")),
                            PriceBracket(
                                prestation=prestation, qf_min=601, qf_max=1200, price=Decimal("3.10")
                            ),
                        ]
                    )
        for child in family.children.all():
            Enrolment.objects.get_or_create(
                child=child,
                service=service,
                site=sites[0],
                start=start,
                defaults={"family": family, "end": end},
            )


def _billing(family: Family, *, regies: list[DemoRegie]) -> None:
    """The commune's régies (each its own account at the fake Mollie or PayFiP, its services),
    and last month's invoice of each to pay."""
    from billing.crypto import encrypt_secret
    from billing.models import InvoicingRun, PaymentProvider, Regie, default_regie_id
    from billing.services import issue_invoicing_run, month_bounds, prepare_invoicing_run

    start, end = month_bounds(timezone.localdate().replace(day=1) - dt.timedelta(days=1))
    for position, spec in enumerate(regies):
        regie = (
            Regie.objects.filter(pk=default_regie_id()).first()
            if position == 0
            else Regie.objects.filter(regie_code=spec.code).first()
        ) or Regie(regie_code=spec.code)
        if regie.saved_at is None:
            regie.name, regie.regie_code = spec.name, spec.code
            regie.source = Regie.Source.IMPORTED if spec.imported else Regie.Source.FOYER
            regie.online_payment = True
            regie.mollie_key_encrypted = encrypt_secret(spec.mollie_key)
            regie.mollie_mode = "test"
            if spec.payfip_numcli:
                regie.payment_provider = PaymentProvider.PAYFIP
                regie.payfip_numcli = spec.payfip_numcli
            regie.direct_debit_enabled = spec.direct_debit
            regie.saved_at = timezone.now()
            regie.save()
        services = list(spec.services)
        Service.objects.filter(name__in=services).update(regie=regie)
        if regie.imported:
            _imported_invoice(family, regie, start, end)
            continue
        if InvoicingRun.objects.filter(regie=regie, period_start=start).exists():
            continue
        prestation = (
            Prestation.objects.filter(service__regie=regie, billing_mode=Prestation.BillingMode.MONTH_END)
            .order_by("pk")
            .first()
        )
        if prestation is None:
            continue
        _attended(family, prestation, start, end)
        run = prepare_invoicing_run(month=start, regie_id=regie.pk)
        issue_invoicing_run(run_id=run.pk)


def _imported_invoice(family: Family, regie, start: dt.date, end: dt.date) -> None:
    """An invoice of the commune's own billing software, published for the family to pay."""
    from billing import imports

    dossier = family.memberships.get(commune=connection.tenant).dossier_number
    issued = end + dt.timedelta(days=3)
    invoice = imports.InvoiceInput(
        number=f"{issued.year}-{regie.regie_code}-00-78",
        dossier=dossier,
        issued_on=issued,
        due_on=issued + dt.timedelta(days=30),
        period_start=start,
        period_end=end,
        lines=[
            imports.LineInput("Transport scolaire", Decimal("18.00"), "Alvaro", 1, Decimal("18.00")),
            imports.LineInput("Étude surveillée", Decimal("9.60"), "Alvaro", 4, Decimal("2.40")),
        ],
        source="démo",
    )
    plan = imports.plan_import(regie=regie, invoices=[invoice])
    if plan.create:
        imports.import_invoices(plan=plan)


def _attended(family: Family, prestation: Prestation, start: dt.date, end: dt.date) -> None:
    enrolment = Enrolment.objects.filter(family=family, service=prestation.service).select_related("site")
    day = start
    while day <= end:
        if day.weekday() in prestation.weekdays:
            for enrolled in enrolment:
                Booking.objects.get_or_create(
                    child=enrolled.child,
                    prestation=prestation,
                    date=day,
                    defaults={
                        "family": family,
                        "site": enrolled.site,
                        "status": Booking.Status.ATTENDED,
                        "price": prestation.base_price,
                    },
                )
        day += dt.timedelta(days=1)


def _news(spec: dict, admin: Account) -> None:
    if NewsItem.objects.exists():
        return
    now = timezone.now()
    create_news_item(
        actor=admin,
        data=NewsInput(
            title="Menus de la cantine : les repas de la semaine sont en ligne",
            body=(
                "Retrouvez les menus de la semaine affichés dans chaque école.\n"
                "Pensez à réserver les repas avant la date limite indiquée sur chaque jour."
            ),
            publish_at=now - dt.timedelta(days=2),
        ),
    )
    create_news_item(
        actor=admin,
        data=NewsInput(
            title=f"{spec['name']} : fermeture exceptionnelle du périscolaire vendredi",
            body="Le périscolaire du soir sera fermé vendredi pour la formation des animateurs.",
            publish_at=now - dt.timedelta(hours=3),
            pinned=True,
        ),
    )


# The smallest valid PDF: a pièce d'identité stand-in for the demo request.
DEMO_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


def _request(family: Family, parent: Account, *, admin: Account) -> None:
    """One "Autorisation de récupération d'un enfant" that the commune has taken in hand."""
    if Request.objects.filter(family=family).exists():
        return
    category = RequestCategory.objects.filter(code="autorisation-recuperation", is_active=True).first()
    if category is None:
        return
    request = submit_request(
        family=family,
        actor=parent,
        category=category,
        child=family.children.order_by("birth_date").first(),
        answers={
            "personne_autorisee": "Jeanne Claironi",
            "lien": "Grand-mère",
            "telephone": "06 98 76 54 32",
            "date_debut": timezone.localdate().strftime("%d/%m/%Y"),
        },
        attachments=[("piece_identite", SimpleUploadedFile("piece-identite.pdf", DEMO_PDF))],
    )
    change_request_status(
        request_id=request.pk,
        actor=admin,
        status=Request.Status.IN_PROGRESS,
        message="Merci, nous vérifions la pièce d'identité et revenons vers vous sous deux jours.",
    )

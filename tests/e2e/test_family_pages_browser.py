"""In Chromium, with the demo's family (two communes, two children, invoices, a request, news)
and a place held awaiting payment: every family page at 375 × 812, 320 × 640 and 1280 × 800 fits the
viewport (no horizontal scrolling), axe-core finds nothing serious or critical, the browser
blocks nothing under the Content-Security-Policy, and on the
week every control to book or cancel lies inside the viewport of the phone."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from actualites.models import NewsItem
from billing.models import Invoice
from demandes.models import Request
from family.payment_plans import plan_invoices
from family.router import family_invoice_lists, get_family_scope
from operators.demo import DEMO_PASSWORD, PARENT_EMAIL, seed_demo
from reservations.models import Booking, Cart, Enrolment, Prestation
from shared_identity.models import Account
from tenants.context import commune_context
from tenants.models import Commune
from tests.demandes.conftest import install_default_categories
from tests.e2e.conftest import axe_violations, csp_violations

pytestmark = pytest.mark.browser

PHONE = {"width": 375, "height": 812}
SMALL_PHONE = {"width": 320, "height": 640}
DESKTOP = {"width": 1280, "height": 800}


def _with_a_held_place_and_a_meal_today(parent: Account) -> None:
    """A prepaid Wednesday held in Collectivité Démo; a meal today in JolieVille (its
    cancellation deadline is past: the page offers a cancellation request)."""
    demo, jolieville = Commune.objects.get(slug="demo"), Commune.objects.get(slug="jolieville")
    family = parent.guardianships.get().family
    child = family.children.order_by("birth_date").first()
    with commune_context(demo):
        prestation = Prestation.objects.filter(billing_mode="prepaid").order_by("pk").first()
        site = prestation.offers.first().site
        cart = Cart.objects.create(family=family, account=parent, status=Cart.Status.AWAITING_PAYMENT)
        Booking.objects.create(
            child=child,
            family=family,
            prestation=prestation,
            site=site,
            date=timezone.localdate() + dt.timedelta(days=30),
            status="held",
            price=prestation.base_price,
            cart=cart,
            hold_expires_at=timezone.now() + dt.timedelta(hours=2),
        )
    with commune_context(jolieville):
        enrolment = Enrolment.objects.filter(child=child).first()
        prestation = Prestation.objects.filter(service=enrolment.service).order_by("pk").first()
        Booking.objects.create(
            child=child,
            family=family,
            prestation=prestation,
            site=enrolment.site,
            date=timezone.localdate(),
            status="confirmed",
            price=Decimal("4.05"),
        )


def _family_pages(parent: Account) -> list[str]:
    jolieville, demo = Commune.objects.get(slug="jolieville"), Commune.objects.get(slug="demo")
    # a payment plan over every invoice of the demo (three régies, two communes)
    lists = family_invoice_lists(scope=get_family_scope(parent))
    plan, _offline = plan_invoices(
        scope=get_family_scope(parent), account=parent, keys=[i.key for i in lists.to_pay]
    )
    next_monday = timezone.localdate() + dt.timedelta(days=7 - timezone.localdate().weekday())
    pages = [
        "/",
        "/reservations/",
        f"/reservations/?semaine={next_monday.isoformat()}",
        "/reservations/periode/",
        "/panier/",
        "/factures/",
        "/demandes/",
        "/demandes/nouvelle/",
        "/actualites/",
        "/compte/",
        "/compte/profil/",
        "/compte/email/",
        "/compte/suppression/",
        "/compte/communes/adherer/",
        "/mot-de-passe/changer/",
        jolieville.path_prefix,
        f"{jolieville.path_prefix}mentions-legales/",
        f"{demo.path_prefix}demandes/nouvelle/autre-demande/",
        f"/paiements/{plan.pk}/",
        "/factures/recus/",
        "/factures/attestations/",
    ]
    for commune in (jolieville, demo):
        with commune_context(commune):
            for invoice in Invoice.objects.order_by("pk"):
                pages.append(f"{commune.path_prefix}factures/{invoice.pk}/")
            item = NewsItem.objects.order_by("pk").first()
            pages.append(f"{commune.path_prefix}actualites/{item.pk}/")
            request = Request.objects.first()
            if request is not None:
                pages.append(f"{commune.path_prefix}demandes/{request.pk}/")
            booking = Booking.objects.filter(date=timezone.localdate(), status="confirmed").first()
            if booking is not None:
                pages.append(f"{commune.path_prefix}reservations/{booking.pk}/demande-annulation/")
    return pages


def _sign_in(page, live_url: str) -> None:
    page.goto(f"{live_url}/connexion/")
    page.fill("#id_username", PARENT_EMAIL)
    page.fill("#id_password", DEMO_PASSWORD)
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"{live_url}/")


def test_every_family_page_fits_a_phone_and_a_desktop_and_passes_axe(live_url, browser):
    # given the demo's family, with a place held and a meal today
    for commune in Commune.objects.all():
        install_default_categories(commune)
    parent = seed_demo()["parent"]
    _with_a_held_place_and_a_meal_today(parent)
    pages = _family_pages(parent)
    problems = []
    for viewport in (PHONE, SMALL_PHONE, DESKTOP):
        page = browser.new_context(viewport=viewport).new_page()
        _sign_in(page, live_url)
        for path in pages:
            # when each page is shown
            response = page.goto(live_url + path)
            # then it answers, fits the width, blocks nothing under the CSP and has nothing
            # serious for axe
            if response.status != 200:
                problems.append((viewport["width"], path, f"HTTP {response.status}"))
                continue
            width = page.evaluate("document.documentElement.scrollWidth")
            if width > viewport["width"]:
                problems.append((viewport["width"], path, f"scrollWidth {width}"))
            blocked = csp_violations(page)
            if blocked:
                problems.append((viewport["width"], path, blocked))
            violations = axe_violations(page)
            if violations:
                problems.append((viewport["width"], path, [v["id"] for v in violations]))
        page.context.close()
    assert problems == [], "\n".join(str(problem) for problem in problems)


def test_on_a_phone_every_control_of_the_week_is_within_reach(live_url, browser):
    # given the demo's family, next week
    for commune in Commune.objects.all():
        install_default_categories(commune)
    seed_demo()
    next_monday = timezone.localdate() + dt.timedelta(days=7 - timezone.localdate().weekday())
    page = browser.new_context(viewport=PHONE).new_page()
    _sign_in(page, live_url)
    # when the week is shown on a phone
    page.goto(f"{live_url}/reservations/?semaine={next_monday.isoformat()}")
    # then every button and link to book, remove or cancel lies inside the viewport's width
    controls = page.locator(".week-days button, .week-days a")
    boxes = [controls.nth(i).bounding_box() for i in range(controls.count())]
    visible = [box for box in boxes if box is not None]
    assert len(visible) >= 10
    assert [box for box in visible if box["x"] < 0 or box["x"] + box["width"] > PHONE["width"]] == []
    # and each is big enough for a thumb
    assert [box for box in visible if box["height"] < 40] == []


def test_the_browser_enforces_the_policy_and_the_invoices_script_still_runs(live_url, browser):
    # given the demo's family on its invoices, whose total follows the boxes ticked (a script
    # now served from /static/)
    seed_demo()
    page = browser.new_context(viewport=DESKTOP).new_page()
    _sign_in(page, live_url)
    page.goto(f"{live_url}/factures/")
    shown = page.inner_text("#amount-to-pay")
    # when an invoice is unticked
    page.locator("#pay-form input[name=invoices]:checked").first.uncheck()
    # then the script ran: the total changed
    assert page.inner_text("#amount-to-pay") != shown
    # when something injects an inline script and an inline style into the page
    injected = page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.__injected = true;";
          document.body.appendChild(script);
          const box = document.createElement("div");
          box.setAttribute("style", "width: 123px");
          document.body.appendChild(box);
          return [window.__injected === true, box.getBoundingClientRect().width === 123];
        }"""
    )
    # then the browser ran neither, and reported both (the reports are events: wait for them)
    assert injected == [False, False]
    page.wait_for_function("(window.__cspViolations || []).length >= 2", timeout=5000)
    blocked = csp_violations(page)
    assert [line.split(" blocked ")[0] for line in blocked] == [
        "CSP violation: script-src-elem",
        "CSP violation: style-src-attr",
    ]
    browser.csp_violations.clear()  # expected here; every other test must have none

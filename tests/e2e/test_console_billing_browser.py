"""The console's billing pages added with direct debit, PayFiP and attestations, in headless
Chromium at 375 and 1280 px: each answers, fits the width, breaks no Content-Security-Policy
and has nothing serious for axe."""

from __future__ import annotations

import pytest

from billing.models import Regie
from operators.demo import DEMO_PASSWORD, seed_demo
from tenants.context import commune_context
from tenants.models import Commune
from tests.e2e.conftest import axe_violations, csp_violations

pytestmark = pytest.mark.browser

ADMIN_EMAIL = "admin@jolieville.localhost"
VIEWPORTS = ({"width": 375, "height": 812}, {"width": 1280, "height": 800})


def test_the_new_billing_pages_of_the_console_fit_a_phone_and_a_desktop_and_pass_axe(live_url, browser):
    # given the demo, and JolieVille's régies (one of them offers direct debit)
    seed_demo()
    jolieville = Commune.objects.get(slug="jolieville")
    with commune_context(jolieville):
        regies = list(Regie.objects.order_by("pk"))
    console = f"{jolieville.path_prefix}console/facturation/"
    pages = [f"{console}regies/", f"{console}attestations/"]
    for regie in regies:
        pages += [f"{console}regies/{regie.pk}/", f"{console}regies/{regie.pk}/signature/"]
        if regie.direct_debit_enabled:
            pages.append(f"{console}regies/{regie.pk}/prelevements/")
    assert any(page.endswith("/prelevements/") for page in pages)
    problems = []
    for viewport in VIEWPORTS:
        page = browser.new_context(viewport=viewport).new_page()
        page.goto(f"{live_url}/connexion/")
        page.fill("#id_username", ADMIN_EMAIL)
        page.fill("#id_password", DEMO_PASSWORD)
        page.get_by_role("button", name="Se connecter").click()
        page.wait_for_url(f"{live_url}/**")
        for path in pages:
            # when each page is shown
            response = page.goto(live_url + path)
            # then it answers, fits the width, blocks nothing and has nothing serious for axe
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

"""The browser policy: a Content-Security-Policy with no inline script or style attribute on
every response (family, console, operator and error pages), Permissions-Policy, and templates
that need nothing the policy forbids."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

from tests.actualites.conftest import news
from tests.conftest import (
    commune_path,
    login_verified,
    make_family,
    make_operator,
    make_staff,
    open_to_families,
)

ROOT = Path(__file__).resolve().parents[1]
NONCE = re.compile(r"^'nonce-[A-Za-z0-9+/=]{20,}'$")
DIRECTIVES = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "img-src": ["'self'"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "frame-ancestors": ["'none'"],
    "form-action": ["'self'", "https://www.mollie.com", "https://www.payfip.gouv.fr"],
}
PERMISSIONS = (
    "accelerometer=(), autoplay=(), camera=(), display-capture=(), encrypted-media=(), "
    "fullscreen=(), geolocation=(), gyroscope=(), hid=(), magnetometer=(), microphone=(), midi=(), "
    "payment=(), picture-in-picture=(), publickey-credentials-get=(), screen-wake-lock=(), "
    "serial=(), usb=(), xr-spatial-tracking=()"
)


def _policy(response) -> dict[str, list[str]]:
    """The directives of the response's policy; a nonce, where there is one, under "nonce"."""
    policy: dict[str, list[str]] = {}
    for directive in response["Content-Security-Policy"].split(";"):
        name, *values = directive.split()
        nonces = [value for value in values if NONCE.match(value)]
        policy[name] = [value for value in values if value not in nonces]
        if nonces:
            policy[f"{name} nonce"] = [nonce.removeprefix("'nonce-").removesuffix("'") for nonce in nonces]
    return policy


def test_family_console_operator_and_error_pages_carry_the_policy(client, commune_a, commune_b):
    # given a family, an agent and an operator
    open_to_families(commune_a)
    parent = make_family(commune_a, email="parent@example.fr").family.guardians.get().account
    agent = make_staff(commune_a, "agent@jolieville.test")
    operator = make_operator("ops@foyer.test")
    pages = {
        None: ["/connexion/", "/mot-de-passe/oubli/", "/c/inconnue/", "/page-inconnue/"],
        parent: ["/", "/reservations/", "/factures/", commune_path(commune_a), commune_path(commune_b)],
        agent: [commune_path(commune_a, "console/"), commune_path(commune_a, "console/familles/")],
        operator: ["/operateur/", "/operateur/sante/"],
    }
    for who, paths in pages.items():
        if who is None:
            client.logout()
        elif who == operator:
            login_verified(client, who)
        else:
            client.force_login(who)
        for path in paths:
            # when the page is shown
            response = client.get(path)
            # then its answer, whatever it is, carries the policy and the features turned off
            assert response.status_code in (200, 302, 404), (path, response.status_code)
            policy = _policy(response)
            policy.pop("style-src nonce", None)  # pages of a commune set its colour (below)
            assert policy == DIRECTIVES, path  # no page needs an inline script
            assert response["Permissions-Policy"] == PERMISSIONS, path


def test_the_commune_colour_is_a_style_element_with_the_nonce_of_the_header(client, commune_a):
    # given a family of JolieVille
    open_to_families(commune_a)
    client.force_login(make_family(commune_a, email="parent@example.fr").family.guardians.get().account)
    # when a page of the commune is shown
    response = client.get(commune_path(commune_a))
    # then its one <style> element carries the nonce the header allows, and no style attribute
    [nonce] = _policy(response)["style-src nonce"]
    page = response.content.decode()
    assert re.findall(r"<style[^>]*>", page) == [f'<style nonce="{nonce}">']
    assert f":root {{ --brand: {commune_a.brand_colour}; }}" in page
    assert " style=" not in page
    # and another request gets another nonce
    assert _policy(client.get(commune_path(commune_a)))["style-src nonce"] != [nonce]


def test_the_dashboard_colours_each_commune_card_through_the_nonce(client, commune_a, commune_b):
    # given a family of both communes, each with its colour
    open_to_families(commune_a)
    open_to_families(commune_b)
    membership = make_family(commune_a, email="parent@example.fr")
    membership.family.memberships.create(commune=commune_b, dossier_number="F9", status="active")
    type(commune_a).objects.filter(pk=commune_b.pk).update(brand_colour="#7c2d12")
    client.force_login(membership.family.guardians.get().account)
    # when the dashboard is shown
    response = client.get("/")
    # then each card names its colour, set by a <style> allowed by the header's nonce
    [nonce] = _policy(response)["style-src nonce"]
    page = response.content.decode()
    assert f'data-brand="{commune_a.brand_colour}"' in page and 'data-brand="#7c2d12"' in page
    assert f'<style nonce="{nonce}">[data-brand="#7c2d12"] {{ --brand: #7c2d12; }}</style>' in page
    assert " style=" not in page


def test_the_news_image_keeps_its_own_stricter_policy(client, commune_a, settings, tmp_path):
    # given an item of A with an image, and a member family
    settings.STORAGES = {
        **settings.STORAGES,
        "attachments": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(tmp_path)},
        },
    }
    open_to_families(commune_a)
    item = news(commune_a, image="c_jolieville/actualites/abc.png", image_type="image/png")
    (tmp_path / "c_jolieville/actualites").mkdir(parents=True)
    (tmp_path / "c_jolieville/actualites/abc.png").write_bytes(b"\x89PNG\r\n\x1a\n0000")
    client.force_login(make_family(commune_a, email="parent@example.fr").family.guardians.get().account)
    # when the image is fetched
    response = client.get(commune_path(commune_a, f"actualites/{item.pk}/image/"))
    # then it is sandboxed, as before
    assert response.status_code == 200
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert response["Permissions-Policy"] == PERMISSIONS


def test_payment_forms_may_lead_to_the_fake_mollie_server_it_is_pointed_at(client, settings):
    # given the demo's fake Mollie server on a loopback port
    settings.MOLLIE_API_ENDPOINT = "http://127.0.0.1:8765"
    # then forms may post to it (through the redirect to its checkout)
    assert _policy(client.get("/connexion/"))["form-action"] == [
        "'self'",
        "https://www.mollie.com",
        "https://www.payfip.gouv.fr",
        "http://127.0.0.1:8765",
    ]
    # and with Mollie's own API, to Mollie's and PayFiP's checkouts only
    settings.MOLLIE_API_ENDPOINT = "https://api.mollie.com"
    assert _policy(client.get("/connexion/"))["form-action"] == [
        "'self'",
        "https://www.mollie.com",
        "https://www.payfip.gouv.fr",
    ]


def test_payment_forms_may_lead_to_the_fake_payfip_server_it_is_pointed_at(client, settings):
    # given the demo's fake PayFiP server on a loopback port
    settings.PAYFIP_ENDPOINT = "http://127.0.0.1:8766"
    # then forms may post to it too (the redirect to its checkout page)
    assert _policy(client.get("/connexion/"))["form-action"] == [
        "'self'",
        "https://www.mollie.com",
        "https://www.payfip.gouv.fr",
        "http://127.0.0.1:8766",
    ]


# --- Templates -----------------------------------------------------------------------------------

TEMPLATE_DIRS = [ROOT / "templates", *ROOT.glob("*/templates")]
# E-mails are read in mail clients, which take no CSP and need inline styles.
EXEMPT = ("emails/",)
# HTML written by Python (template tags) follows the same rules.
PYTHON_HTML = [*ROOT.glob("*/templatetags/*.py"), *ROOT.glob("portal/*views.py")]
INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*\bnonce=)[^>]*>", re.IGNORECASE)
STYLE_ELEMENT = re.compile(r"<style\b(?![^>]*\bnonce=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"""[\s"']on[a-z]+\s*=|\bhx-on""", re.IGNORECASE)
STYLE_ATTRIBUTE = re.compile(r"""[\s"']style\s*=""", re.IGNORECASE)
JAVASCRIPT_URL = re.compile(r"javascript:", re.IGNORECASE)


def _templates() -> list[Path]:
    files = [path for folder in TEMPLATE_DIRS for path in folder.rglob("*.html")]
    return [path for path in files if not any(part in path.as_posix() for part in EXEMPT)]


def test_no_template_needs_what_the_policy_forbids():
    # given every page template and every template tag that writes HTML
    sources = _templates() + PYTHON_HTML
    assert len(sources) > 100
    problems = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        for name, pattern in (
            ("inline <script> without nonce", INLINE_SCRIPT),
            ("<style> without nonce", STYLE_ELEMENT),
            ("inline event handler", EVENT_HANDLER),
            ("style attribute", STYLE_ATTRIBUTE),
            ("javascript: URL", JAVASCRIPT_URL),
        ):
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                problems.append(f"{path.relative_to(ROOT)}:{line}: {name}: {match.group(0).strip()}")
    # then none has an inline script, an unnonced style element, an on*= handler, a style
    # attribute or a javascript: URL
    assert problems == []


@pytest.mark.parametrize(
    "snippet",
    [
        "<script>alert(1)</script>",
        '<script type="text/javascript">x()</script>',
        '<button onclick="go()">',
        "<a href=\"#\" onmouseover='x'>",
        '<div hx-on:click="x">',
        '<span style="color: red">',
        "<style>body { color: red }</style>",
        '<a href="javascript:void(0)">',
    ],
)
def test_the_template_scan_catches_each_kind(snippet):
    patterns = (INLINE_SCRIPT, STYLE_ELEMENT, EVENT_HANDLER, STYLE_ATTRIBUTE, JAVASCRIPT_URL)
    assert any(pattern.search(snippet) for pattern in patterns)


@pytest.mark.parametrize(
    "snippet",
    [
        '<script src="/static/js/invoices.js" defer></script>',
        '<script nonce="{{ request.csp_nonce }}">x()</script>',
        '<style nonce="{{ request.csp_nonce }}">:root {}</style>',
        '<input name="online" data-amount="2">',
        '<label for="id_stylesheet">',
    ],
)
def test_the_template_scan_lets_allowed_markup_through(snippet):
    patterns = (INLINE_SCRIPT, STYLE_ELEMENT, EVENT_HANDLER, STYLE_ATTRIBUTE, JAVASCRIPT_URL)
    assert not any(pattern.search(snippet) for pattern in patterns)


# --- Production ------------------------------------------------------------------------------------


def test_production_sends_hsts_for_subdomains_and_upgrades_requests():
    # given the production settings
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DJANGO_SETTINGS_MODULE"}}
    code = (
        "import django; from django.conf import settings as s; django.setup(); "
        "print(s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_HSTS_PRELOAD, "
        "s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.LANGUAGE_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, "
        "s.X_FRAME_OPTIONS, s.SECURE_REFERRER_POLICY, "
        "s.CONTENT_SECURITY_POLICY['DIRECTIVES']['upgrade-insecure-requests'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            "PYTHONPATH": f"{ROOT}/platform:{ROOT}",
            "DJANGO_SETTINGS_MODULE": "foyer.settings.production",
            "SECRET_KEY": "x" * 50,
            "FOYER_ENCRYPTION_KEY": "k" * 44,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then HSTS covers subdomains for a year, not preloaded, cookies are HTTPS only
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "31536000", "True", "False", "True", "True", "True", "True", "DENY", "same-origin", "True"
    ]  # fmt: skip
    # and the settings of the other environments send no upgrade (plain-HTTP demo)
    assert "upgrade-insecure-requests" not in settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]

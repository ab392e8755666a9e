"""The rules a commune's settings must follow, with their French refusals: custom host names
and brand colours. The writes that use them are the operators' (operators.services) and the
administrators' (console.services)."""

from __future__ import annotations

import re

from django.conf import settings
from django.utils.translation import gettext as _

from foyer.errors import FoyerError

# --- Custom domains ----------------------------------------------------------------------

_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TOP_LEVEL = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_NOT_A_HOST = re.compile(r"[/:?#@\\\s]")


def refuse_domain(message: str) -> FoyerError:
    return FoyerError(
        "invalid_domain",
        _("Le domaine n'a pas été enregistré : corrigez-le."),
        extra={"fields": {"domain": [message]}},
    )


def clean_hostname(value: str) -> str:
    """A commune's custom host name as browsers send it: lower case, ASCII (an accented name
    in its xn-- form), at least two labels, no scheme, path or port. Raises FoyerError with a
    French message on the ``domain`` field."""
    host = (value or "").strip().lower()
    if host.endswith("."):  # "famille.jolieville.fr." is the same host
        host = host[:-1]
    example = "famille.jolieville.fr"
    if not host:
        raise refuse_domain(_("Indiquez un nom de domaine, par exemple %(example)s.") % {"example": example})
    if _NOT_A_HOST.search(host):
        raise refuse_domain(
            _(
                "Saisissez seulement le nom de domaine, sans « https:// », chemin ni port : par exemple %(example)s."
            )
            % {"example": example}
        )
    invalid = _(
        "« %(value)s » n'est pas un nom de domaine valide : des mots de lettres sans accent, de chiffres "
        "et de tirets, séparés par des points, par exemple %(example)s."
    ) % {"value": value.strip(), "example": example}
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise refuse_domain(invalid) from None
    if len(host) > 253:
        raise refuse_domain(_("Un nom de domaine compte au plus 253 caractères."))
    labels = host.split(".")
    if (
        len(labels) < 2
        or not all(_HOST_LABEL.match(label) for label in labels)
        or not _TOP_LEVEL.match(labels[-1])
    ):
        raise refuse_domain(invalid)
    if host == settings.FOYER_BASE_DOMAIN.lower():
        raise refuse_domain(_("C'est le domaine de la plateforme : il ne peut pas être celui d'une commune."))
    return host


# --- Branding ---------------------------------------------------------------------------------

# White text sits on the brand colour (buttons, header mark) and brand links on white: WCAG AA.
MIN_CONTRAST_WITH_WHITE = 4.5


def contrast_with_white(colour: str) -> float:
    """The WCAG 2 contrast ratio between ``colour`` (#RRGGBB) and white."""

    def channel(hex_pair: str) -> float:
        value = int(hex_pair, 16) / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (channel(colour[i : i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return 1.05 / (luminance + 0.05)


def brand_colour_problem(colour: str) -> str | None:
    """Why a brand colour cannot be used, or None."""
    if not re.fullmatch(r"#[0-9a-fA-F]{6}", colour or ""):
        return _("La couleur s'écrit #RRGGBB (par exemple #1d4ed8).")
    ratio = contrast_with_white(colour)
    # Rounded down: 4,49:1 must not read "4,5:1" in a refusal.
    if ratio < MIN_CONTRAST_WITH_WHITE:
        shown = f"{int(ratio * 10) / 10:.1f}".replace(".", ",")
        return _(
            "Cette couleur est trop claire : le texte blanc posé dessus (en-tête, boutons) serait "
            "difficile à lire. Son contraste avec le blanc est de %(ratio)s:1, il faut au moins 4,5:1 : "
            "choisissez une couleur plus foncée."
        ) % {"ratio": shown}
    return None

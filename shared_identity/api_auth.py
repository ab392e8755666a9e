"""Authentication of the family API by a personal key (``Authorization: Bearer foyer_pt_…``),
beside the session. The same Bearer scheme as the régie API (``foyer_rt_…``, console.regie_api),
whose views use their own authentication. A key-authenticated request carries no cookie,
so it needs no CSRF token; session requests keep DRF's CSRF check."""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from .models import PersonalApiToken


class PersonalTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed(_("En-tête Authorization invalide : « Bearer <clé> » attendu."))
        # Imported here: DRF loads this class while foyer.errors (which selectors use) is
        # still importing rest_framework.
        from .selectors import find_personal_api_token

        token = find_personal_api_token(header[1].decode("latin-1"))
        if token is None:
            raise AuthenticationFailed(_("Clé d'API inconnue ou révoquée."))
        PersonalApiToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now())
        return token.account, token

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="foyer"'

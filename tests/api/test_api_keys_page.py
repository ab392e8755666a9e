"""« Mon compte » → « Clés d'API »: create a key (shown once), use it, revoke it."""

from __future__ import annotations

import html

from shared_identity.models import PersonalApiToken
from tests.reservations.conftest import family_in


def test_a_key_is_shown_once_then_revoked(client, commune_a):
    # given a signed-in parent
    account = family_in(commune_a, "parent@example.fr").family.guardians.get().account
    client.force_login(account)
    # when they create a key
    response = client.post("/compte/cles-api/", {"name": "Mon tableur"})
    assert response.status_code == 302 and response["Location"] == "/compte/#cles-api"
    page = html.unescape(client.get("/compte/").content.decode())
    # then the key is shown this once, and only its hash is kept
    token = PersonalApiToken.objects.get(account=account)
    start = page.index('id="new-api-key" readonly value="') + len('id="new-api-key" readonly value="')
    raw = page[start : page.index('"', start)]
    assert raw.startswith("foyer_pt_") and token.key_hash != raw and "Copiez-la maintenant" in page
    again = html.unescape(client.get("/compte/").content.decode())
    assert raw not in again and "Mon tableur" in again and "Révoquer la clé Mon tableur" in again
    # and it opens the API
    client.logout()
    assert client.get("/api/profil/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    # when it is revoked, it opens nothing
    client.force_login(account)
    client.post(f"/compte/cles-api/{token.pk}/revoquer/")
    client.logout()
    assert client.get("/api/profil/", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401


def test_a_key_needs_a_name_and_another_accounts_key_is_404(client, commune_a):
    account = family_in(commune_a, "parent@example.fr").family.guardians.get().account
    client.force_login(account)
    page = html.unescape(client.post("/compte/cles-api/", {"name": "  "}).content.decode())
    assert "Ce champ est obligatoire." in page and not PersonalApiToken.objects.exists()
    other = family_in(commune_a, "autre@example.fr", name="Durand", dossier="F00002").family
    token = PersonalApiToken.objects.create(
        account=other.guardians.get().account, name="x", prefix="foyer_pt_abcd", key_hash="0" * 64
    )
    assert client.post(f"/compte/cles-api/{token.pk}/revoquer/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None

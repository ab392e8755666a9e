"""A family's move: the new address, shared by all its communes, and a "Changement
d'adresse" request with the proof in every commune where its file is active."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils.translation import gettext as _

from demandes.models import Request, RequestAttachment, RequestCategory, RequestEvent
from demandes.services import submit_request
from foyer.errors import FoyerError
from foyer.uploads import private_storage, validate_attachment
from shared_identity.models import Account, Family
from shared_identity.selectors import active_communes_of, get_family_for_account
from shared_identity.services import AddressInput, invalid, validate_address
from tenants.context import commune_context

ADDRESS_CATEGORY = "changement-adresse"
PROOF_OF_ADDRESS = "justificatif_domicile"


@dataclass
class AddressChange:
    family: Family
    # (commune, request id): the "Changement d'adresse" request filed in each active commune.
    requests: list[tuple[object, int]]

    def summary(self) -> str:
        if not self.requests:
            return _("Votre nouvelle adresse est enregistrée.")
        return _(
            "Votre nouvelle adresse est enregistrée. Une demande « Changement d'adresse » avec votre "
            "justificatif est envoyée à : %(communes)s."
        ) % {"communes": ", ".join(commune.name for commune, _request in self.requests)}


def change_family_address(*, actor: Account, family_id: int, address: AddressInput, proof) -> AddressChange:
    """A new address, with a proof of address (justificatif de domicile). The family's address
    changes at once (it is shared by all communes); each commune where the family's file is
    active receives a "Changement d'adresse" request carrying the proof, for its records and
    checks. Invoices already issued keep the address they were issued with.

    All or nothing: the proof is checked once up front (type sniffed from the content), then
    in every commune the category and its file rules, before anything is written. The requests
    are filed commune by commune (demandes.services.submit_request commits each in its own
    transaction); if one fails, those already filed are withdrawn (rows and files deleted) and
    the address is not changed."""
    errors: dict[str, list[str]] = {}
    cleaned = validate_address(address, errors)
    if not proof:
        errors.setdefault("proof", []).append(
            _(
                "Joignez un justificatif de domicile (PDF, JPEG ou PNG) : il est obligatoire pour changer d'adresse."
            )
        )
    else:
        try:
            validate_attachment(proof)
        except FoyerError as exc:
            errors.setdefault("proof", []).append(exc.message)
    family = get_family_for_account(actor, family_id)
    if not errors and (family.address_line, family.postcode, family.city) == (
        cleaned.address_line,
        cleaned.postcode,
        cleaned.city,
    ):
        errors.setdefault("address_line", []).append(_("C'est déjà l'adresse de votre famille."))
    if errors:
        raise invalid(_("L'adresse n'a pas été changée : corrigez les erreurs."), errors)
    communes = active_communes_of(family)
    categories = _address_categories(communes, proof)
    filed: list[tuple[object, object]] = []
    try:
        for commune in communes:
            filed.append(
                (
                    commune,
                    _file_address_request(commune, categories[commune.pk], family, actor, cleaned, proof),
                )
            )
        with transaction.atomic(durable=True):
            family = get_family_for_account(actor, family_id, lock=True)
            family.address_line = cleaned.address_line
            family.postcode = cleaned.postcode
            family.city = cleaned.city
            family.save(update_fields=["address_line", "postcode", "city"])
    except BaseException:
        _withdraw_requests(filed)
        raise
    return AddressChange(family=family, requests=[(commune, request.pk) for commune, request in filed])


def _address_categories(communes: list, proof) -> dict:
    """Each commune's "Changement d'adresse" category, checked before anything is stored."""
    categories = {}
    for commune in communes:
        with commune_context(commune):
            category = RequestCategory.objects.filter(code=ADDRESS_CATEGORY, is_active=True).first()
        if category is None or PROOF_OF_ADDRESS not in category.attachment_types:
            raise FoyerError(
                "address_category_missing",
                _(
                    "%(commune)s ne reçoit pas les changements d'adresse en ligne : votre adresse n'a pas "
                    "été changée. Contactez la commune."
                )
                % {"commune": commune.name},
                status=409,
            )
        try:
            validate_attachment(proof, allowed_types=category.file_types, max_bytes=category.max_file_bytes)
        except FoyerError as exc:
            raise invalid(
                _("L'adresse n'a pas été changée : corrigez les erreurs."),
                {"proof": [_("%(commune)s : %(reason)s") % {"commune": commune.name, "reason": exc.message}]},
            ) from exc
        categories[commune.pk] = category
    return categories


def _file_address_request(commune, category, family: Family, actor: Account, address: AddressInput, proof):
    proof.seek(0)
    with commune_context(commune):
        return submit_request(
            family=family,
            actor=actor,
            category=category,
            answers={
                "address_line": address.address_line,
                "postcode": address.postcode,
                "city": address.city,
            },
            attachments=[(PROOF_OF_ADDRESS, proof)],
        )


def _withdraw_requests(filed: list) -> None:
    """Undo the address requests already filed when a later step fails (compensation: the
    request services commit each request in its own transaction)."""
    for commune, request in filed:
        with commune_context(commune):
            with transaction.atomic():
                attachments = RequestAttachment.objects.filter(request_id=request.pk)
                names = [name for name in attachments.values_list("file", flat=True) if name]
                attachments.delete()
                RequestEvent.objects.filter(request_id=request.pk).delete()
                Request.objects.filter(pk=request.pk).delete()
            for name in names:
                private_storage().delete(name)

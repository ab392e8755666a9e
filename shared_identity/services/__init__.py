"""Writes on the shared identity, one module per job (each re-exported here):

* ``inputs``: what people type, checked (e-mail, phone, postcode, address, birth date);
* ``dossiers``: family dossiers opened by a commune's staff;
* ``invitations``: activation links, staff invitations, and the accounts they create;
* ``profile``: the family profile shared by all communes, the calendar link, e-mail preferences;
* ``email_change``: the login e-mail, confirmed from the new address;
* ``guardians``: the second guardian and their own login.

What spans commune apps lives in the family layer (family.address, family.activation,
family.data_rights); every e-mail leaves through shared_identity.notifications.
"""

from .api_tokens import create_personal_api_token, revoke_personal_api_token
from .dossier_edits import edit_dossier_family, save_dossier_child, save_dossier_guardian
from .dossiers import create_family_dossier, next_dossier_number
from .email_change import cancel_email_change, confirm_email_change, request_email_change
from .guardians import (
    MAX_GUARDIANS,
    accept_guardian_invitation_for_account,
    accept_guardian_invitation_with_new_account,
    cancel_guardian_invitation,
    invite_guardian,
)
from .inputs import (
    POSTCODE_RE,
    AddressInput,
    ChildInput,
    ProfileInput,
    check_email_into,
    check_max_length_into,
    check_phone_into,
    child_birth_date_problem,
    clean_phone,
    invalid,
    require,
    validate_address,
)
from .invitations import (
    accept_staff_invitation,
    activate_family_with_new_account,
    complete_activation,
    create_account,
    ensure_open_to_families,
    invite_staff,
    mark_invitation_delivery,
    resend_invitation,
    send_family_invitation,
)
from .join_requests import (
    cancel_join_request,
    joinable_communes,
    refuse_join_request,
    request_link_renewal,
    request_to_join,
)
from .profile import (
    revoke_calendar_token,
    rotate_calendar_token,
    set_notification_preferences,
    update_family,
    update_my_identity,
)

__all__ = [
    "create_personal_api_token",
    "revoke_personal_api_token",
    "cancel_join_request",
    "joinable_communes",
    "next_dossier_number",
    "refuse_join_request",
    "request_link_renewal",
    "request_to_join",
    "edit_dossier_family",
    "save_dossier_child",
    "save_dossier_guardian",
    "AddressInput",
    "ChildInput",
    "MAX_GUARDIANS",
    "POSTCODE_RE",
    "ProfileInput",
    "accept_guardian_invitation_for_account",
    "accept_guardian_invitation_with_new_account",
    "accept_staff_invitation",
    "activate_family_with_new_account",
    "cancel_email_change",
    "cancel_guardian_invitation",
    "check_email_into",
    "check_max_length_into",
    "check_phone_into",
    "child_birth_date_problem",
    "clean_phone",
    "complete_activation",
    "confirm_email_change",
    "create_account",
    "create_family_dossier",
    "ensure_open_to_families",
    "invalid",
    "invite_guardian",
    "invite_staff",
    "mark_invitation_delivery",
    "request_email_change",
    "require",
    "resend_invitation",
    "revoke_calendar_token",
    "rotate_calendar_token",
    "send_family_invitation",
    "set_notification_preferences",
    "update_family",
    "update_my_identity",
    "validate_address",
]

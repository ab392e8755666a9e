from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SharedIdentityConfig(AppConfig):
    name = "shared_identity"
    verbose_name = _("Identité partagée")

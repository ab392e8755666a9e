from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ActualitesConfig(AppConfig):
    name = "actualites"
    verbose_name = _("Actualités")

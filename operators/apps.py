from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OperatorsConfig(AppConfig):
    name = "operators"
    verbose_name = _("Console des opérateurs")

    def ready(self) -> None:
        from celery.signals import task_failure

        from .signals import record_failed_task

        task_failure.connect(record_failed_task, weak=False, dispatch_uid="operators.record_failed_task")

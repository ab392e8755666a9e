import django.db.models.deletion
from django.db import migrations, models


def attach_services(apps, schema_editor):
    regie = apps.get_model("billing", "Regie").objects.order_by("pk").first()
    if regie is not None:
        apps.get_model("reservations", "Service").objects.filter(regie__isnull=True).update(regie=regie)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0003_regies"),
        ("reservations", "0003_cancellation_request_several_bookings"),
    ]

    operations = [
        migrations.AddField(
            model_name="service",
            name="regie",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="services",
                to="billing.regie",
                verbose_name="régie",
            ),
        ),
        migrations.RunPython(attach_services, migrations.RunPython.noop),
    ]

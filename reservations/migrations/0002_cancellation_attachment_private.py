# Cancellation certificates move to the private attachments storage (never a public URL).

import reservations.models
import foyer.uploads
from django.db import migrations, models


def move_to_private_storage(apps, schema_editor):
    """Certificates stored before this migration sit in the default storage: copy each one to
    the attachments storage under the same (schema-prefixed) name, then remove the original."""
    from django.core.files.storage import default_storage

    from foyer.uploads import private_storage

    private = private_storage()
    CancellationRequest = apps.get_model("reservations", "CancellationRequest")
    for request in CancellationRequest.objects.exclude(attachment="").only("pk", "attachment"):
        name = request.attachment.name
        if not default_storage.exists(name):
            continue
        if not private.exists(name):  # names are random: an existing copy is this file
            with default_storage.open(name, "rb") as source:
                stored = private.save(name, source)
            if stored != name:
                CancellationRequest.objects.filter(pk=request.pk).update(attachment=stored)
        default_storage.delete(name)


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="cancellationrequest",
            name="attachment",
            field=models.FileField(
                blank=True,
                storage=foyer.uploads.private_storage,
                upload_to=reservations.models.attachment_path,
                verbose_name="justificatif",
            ),
        ),
        migrations.RunPython(move_to_private_storage, migrations.RunPython.noop, elidable=True),
    ]

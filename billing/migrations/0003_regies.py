"""Several régies per commune: the single settings row becomes the commune's first régie
(created when there was none), and every run, invoice, number counter and payment attempt is
attached to it."""

import django.contrib.postgres.fields
import django.core.validators
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import Q

import billing.models
import foyer.uploads


def attach_to_first_regie(apps, schema_editor):
    """Every commune (and the template new communes are cloned from) starts with one régie."""
    Regie = apps.get_model("billing", "Regie")
    regie = Regie.objects.order_by("pk").first()
    if regie is None:
        regie = Regie.objects.create(regie_code="RG")
    if not regie.name:
        regie.name = "Régie principale"
        regie.save(update_fields=["name"])
    for name in ("InvoicingRun", "Invoice", "InvoiceCounter", "PaymentAttempt"):
        apps.get_model("billing", name).objects.filter(regie__isnull=True).update(regie=regie)


class Migration(migrations.Migration):
    dependencies = [
        ("billing", "0002_regie_saved_at"),
        ("shared_identity", "0004_join_requests"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RenameModel("RegieSettings", "Regie"),
        migrations.AlterModelOptions(name="regie", options={"ordering": ["pk"], "verbose_name": "régie"}),
        migrations.AddField(
            model_name="regie",
            name="name",
            field=models.CharField(default="", max_length=120, verbose_name="nom"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="regie",
            name="source",
            field=models.CharField(
                choices=[
                    ("foyer", "Factures préparées dans Foyer"),
                    ("imported", "Factures importées du logiciel de la commune"),
                ],
                default="foyer",
                max_length=10,
                verbose_name="origine des factures",
            ),
        ),
        migrations.AlterField(
            model_name="regie",
            name="regie_code",
            field=models.CharField(
                max_length=4,
                unique=True,
                validators=[
                    django.core.validators.RegexValidator("^[A-Z0-9]{1,4}$", "1 à 4 majuscules ou chiffres.")
                ],
                verbose_name="code de la régie",
            ),
        ),
        # Counters: one per régie, kind and year.
        migrations.AlterField(model_name="invoicecounter", name="year", field=models.PositiveIntegerField()),
        migrations.AddField(
            model_name="invoicecounter",
            name="regie",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="+", to="billing.regie"
            ),
        ),
        migrations.AddField(
            model_name="invoicecounter",
            name="kind",
            field=models.CharField(
                choices=[("invoice", "Factures"), ("credit_note", "Avoirs"), ("receipt", "Reçus")],
                default="invoice",
                max_length=12,
            ),
        ),
        migrations.RemoveConstraint(model_name="invoicingrun", name="one_run_per_period"),
        migrations.AddField(
            model_name="invoicingrun",
            name="regie",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="runs",
                to="billing.regie",
            ),
        ),
        migrations.RemoveConstraint(model_name="invoice", name="invoice_number_unique"),
        migrations.RemoveConstraint(model_name="invoice", name="issued_invoice_is_numbered"),
        migrations.AddField(
            model_name="invoice",
            name="regie",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="invoices",
                to="billing.regie",
            ),
        ),
        migrations.AlterField(
            model_name="invoice",
            name="run",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="invoices",
                to="billing.invoicingrun",
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="source",
            field=models.CharField(
                choices=[("foyer", "Foyer"), ("imported", "Importée")], default="foyer", max_length=10
            ),
        ),
        migrations.AddField(
            model_name="invoice",
            name="pdf",
            field=models.FileField(
                blank=True,
                max_length=255,
                storage=foyer.uploads.private_storage,
                upload_to=billing.models.invoice_pdf_path,
            ),
        ),
        migrations.AddField(
            model_name="invoice", name="imported_at", field=models.DateTimeField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="invoiceline",
            name="dates",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.DateField(), blank=True, default=list, size=None
            ),
        ),
        migrations.AddField(
            model_name="paymentattempt",
            name="regie",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="attempts",
                to="billing.regie",
            ),
        ),
        migrations.AddField(
            model_name="creditnote", name="year", field=models.PositiveIntegerField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="creditnote", name="number", field=models.PositiveIntegerField(blank=True, null=True)
        ),
        migrations.AddField(
            model_name="creditnote", name="reference", field=models.CharField(blank=True, max_length=40)
        ),
        migrations.RunPython(attach_to_first_regie, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="invoicecounter",
            name="regie",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="+", to="billing.regie"
            ),
        ),
        migrations.AlterField(
            model_name="invoicingrun",
            name="regie",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="runs", to="billing.regie"
            ),
        ),
        migrations.AlterField(
            model_name="invoice",
            name="regie",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="invoices", to="billing.regie"
            ),
        ),
        migrations.AlterField(
            model_name="paymentattempt",
            name="regie",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="attempts", to="billing.regie"
            ),
        ),
        migrations.AddConstraint(
            model_name="invoicecounter",
            constraint=models.UniqueConstraint(
                fields=("regie", "kind", "year"), name="one_counter_per_regie_kind_year"
            ),
        ),
        migrations.AddConstraint(
            model_name="invoicingrun",
            constraint=models.UniqueConstraint(
                fields=("regie", "period_start"), name="one_run_per_regie_and_period"
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.UniqueConstraint(
                condition=Q(number__isnull=False),
                fields=("regie", "year", "number"),
                name="invoice_number_unique_per_regie",
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.UniqueConstraint(
                condition=~Q(reference=""), fields=("regie", "reference"), name="invoice_reference_unique"
            ),
        ),
        migrations.AddConstraint(
            model_name="invoice",
            constraint=models.CheckConstraint(
                condition=Q(status="draft") | Q(number__isnull=False) | Q(source="imported"),
                name="issued_invoice_is_numbered",
            ),
        ),
        migrations.AddConstraint(
            model_name="creditnote",
            constraint=models.UniqueConstraint(
                condition=~Q(reference=""), fields=("reference",), name="credit_note_reference_unique"
            ),
        ),
        migrations.CreateModel(
            name="Receipt",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("year", models.PositiveIntegerField()),
                ("number", models.PositiveIntegerField()),
                ("reference", models.CharField(max_length=40)),
                ("payer_name", models.CharField(blank=True, max_length=255)),
                (
                    "method",
                    models.CharField(
                        choices=[
                            ("online", "Paiement en ligne"),
                            ("cash", "Espèces"),
                            ("check", "Chèque"),
                            ("cesu", "CESU"),
                        ],
                        max_length=10,
                    ),
                ),
                ("amount", models.DecimalField(decimal_places=2, max_digits=12)),
                ("received_at", models.DateTimeField()),
                ("provider_reference", models.CharField(blank=True, max_length=100)),
                ("items", models.JSONField(default=list)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "attempt",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="receipt",
                        to="billing.paymentattempt",
                    ),
                ),
                (
                    "family",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="shared_identity.family",
                    ),
                ),
                (
                    "regie",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="receipts",
                        to="billing.regie",
                    ),
                ),
            ],
            options={
                "ordering": ["-received_at", "-pk"],
                "constraints": [
                    models.UniqueConstraint(fields=("regie", "year", "number"), name="receipt_number_unique"),
                    models.CheckConstraint(condition=Q(amount__gt=0), name="receipt_positive"),
                ],
            },
        ),
        migrations.AddField(
            model_name="payment",
            name="receipt",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="payments",
                to="billing.receipt",
            ),
        ),
        migrations.CreateModel(
            name="RegieApiToken",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=120, verbose_name="nom")),
                ("prefix", models.CharField(max_length=12)),
                ("key_hash", models.CharField(max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "regie",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="api_tokens",
                        to="billing.regie",
                    ),
                ),
            ],
            options={"ordering": ["-created_at"]},
        ),
    ]

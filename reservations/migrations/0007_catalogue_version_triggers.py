from django.db import migrations

# The commune's catalogue tables: what family.router caches per commune (the week's services,
# sites, prestations and their sites, closures, school holidays) and the rest of what the
# console's catalogue writes (sites' services, quotient-familial brackets). One statement-level
# trigger per table bumps Commune.catalogue_version in the writing transaction, whatever sends
# the write (services, the demo, a migration, raw SQL, TRUNCATE); the function is the public
# schema's (tenants migration 0005). tenants.schemas.clone_template copies the triggers.
CATALOGUE_TABLES = (
    "reservations_service",
    "reservations_site",
    "reservations_site_services",
    "reservations_prestation",
    "reservations_prestationsite",
    "reservations_pricebracket",
    "reservations_closure",
    "reservations_schoolholiday",
)

CREATE_TRIGGERS = "\n".join(
    f"CREATE TRIGGER catalogue_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
    "FOR EACH STATEMENT EXECUTE FUNCTION public.foyer_catalogue_changed();"
    for table in CATALOGUE_TABLES
)
DROP_TRIGGERS = "\n".join(
    f"DROP TRIGGER IF EXISTS catalogue_changed ON {table};" for table in CATALOGUE_TABLES
)


class Migration(migrations.Migration):
    dependencies = [
        ("reservations", "0006_service_tax_credit_eligible"),
        ("tenants", "0005_commune_catalogue_version"),
    ]

    operations = [
        migrations.RunSQL(CREATE_TRIGGERS, DROP_TRIGGERS),
    ]

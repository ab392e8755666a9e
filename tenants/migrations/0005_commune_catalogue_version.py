from django.db import migrations, models

# Every write to a commune's catalogue tables sets its Commune.catalogue_version to the next
# value of one platform-wide sequence, in the same transaction. A sequence rather than "+ 1":
# nextval() is never rolled back, so a version seen inside a transaction that was then rolled
# back is never given again (a cache entry written under it can never be served), and a
# commune provisioned again under a schema name that existed before starts from a number its
# predecessor never had. The function lives in the public schema, like the audit log's guard;
# the per-table triggers are the commune's (reservations migration 0007, copied by
# tenants.schemas.clone_template). On the template schema no commune row matches: nothing.
CATALOGUE_CHANGED_FUNCTION = """
CREATE SEQUENCE IF NOT EXISTS public.tenants_commune_catalogue_version_seq;
CREATE OR REPLACE FUNCTION public.foyer_catalogue_changed() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  UPDATE public.tenants_commune
     SET catalogue_version = nextval('public.tenants_commune_catalogue_version_seq')
   WHERE schema_name = TG_TABLE_SCHEMA;
  RETURN NULL;
END
$fn$;
"""
DROP_FUNCTION = """
DROP FUNCTION IF EXISTS public.foyer_catalogue_changed() CASCADE;
DROP SEQUENCE IF EXISTS public.tenants_commune_catalogue_version_seq;
"""


class Migration(migrations.Migration):
    dependencies = [
        ("tenants", "0004_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="commune",
            name="catalogue_version",
            field=models.BigIntegerField(default=0, editable=False, verbose_name="version du catalogue"),
        ),
        migrations.RunSQL(CATALOGUE_CHANGED_FUNCTION, DROP_FUNCTION),
    ]

-- Make the public schema's tables reference tables (a copy on every node), so that commune
-- queries may join them on their worker.
-- Run on the coordinator after every `migrate_communes` that adds a public table, and before the
-- first commune is provisioned: citus_schema_distribute refuses a schema whose foreign keys
-- point at a public table that is not a reference table. Idempotent.
-- Commune tables hold no foreign key to public tables (tenants.references, docs/scaling.md §3.1):
-- Citus would otherwise convert the template's tables, which reference them, into local tables.
--
-- Left on the coordinator: django_session (written at every sign-in, never read by a commune
-- query; a write to a reference table is a two-phase commit on every node) and the public
-- schema's own django_migrations. Objects owned by an extension (Citus' views) are skipped.

-- Foreign keys between public tables make Citus convert their neighbours as it goes; doing so
-- in one transaction needs sequential per-node execution.
SET citus.multi_shard_modify_mode TO 'sequential';

DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN
    SELECT c.oid::regclass
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public'
      AND c.relkind IN ('r', 'p')
      AND c.relname NOT IN ('django_session', 'django_migrations')
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
    ORDER BY c.relname
  LOOP
    IF NOT EXISTS (
      SELECT 1 FROM citus_tables ct WHERE ct.table_name = t AND ct.citus_table_type = 'reference'
    ) THEN
      PERFORM create_reference_table(t);
    END IF;
  END LOOP;
END
$$;

SELECT table_name, citus_table_type FROM citus_tables
WHERE table_name::text NOT LIKE '%.%' ORDER BY 1;

-- The Citus cluster of deploy/citus/compose.yml, run on the coordinator by the cluster-setup
-- service. Idempotent. The image has already created the citus extension in the database
-- named by POSTGRES_DB on every node.

-- Workers reach the coordinator by this name (the default, localhost, is wrong in a network).
SELECT citus_set_coordinator_host('coordinator', 5432);

SELECT citus_add_node('worker1', 5432)
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = 'worker1' AND nodeport = 5432);
SELECT citus_add_node('worker2', 5432)
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = 'worker2' AND nodeport = 5432);

-- Schema-based sharding needs Citus 12.0 or later: fail here, not at the first provisioning.
SELECT 'citus_schema_distribute(regnamespace)'::regprocedure;

-- citus.enable_schema_based_sharding stays off on purpose: with it on, every CREATE SCHEMA is
-- distributed, including the template schema that communes are cloned from, which must stay a
-- regular schema on the coordinator. Foyer distributes each commune schema itself, right after
-- its clone (FOYER_CITUS=1); tables that later migrations add to a distributed schema are
-- distributed with it whatever this setting says.

SELECT nodename, nodeport, noderole, shouldhaveshards FROM pg_dist_node ORDER BY nodeid;

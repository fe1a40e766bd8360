-- Verification queries for the performance-index migration (the specification's, adapted
-- to the reference schema: org_id is a bigint here, so 'org123' becomes organisation 1).
-- Read-only; run with psql after the migration. tests/integration/test_index_explain.py
-- runs each of them and checks the results.

-- Check created indexes
SELECT schemaname, tablename, indexname
FROM pg_indexes
WHERE indexname LIKE 'idx_%'
ORDER BY tablename, indexname;

-- Validate index usage
EXPLAIN ANALYZE SELECT * FROM insight_issues
WHERE org_id = 1 AND deleted_at IS NULL
ORDER BY created_at DESC LIMIT 50;

-- No invalid or not-ready index (a failed CONCURRENTLY build leaves one behind)
SELECT c.relname AS index_name, i.indisvalid, i.indisready
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND NOT (i.indisvalid AND i.indisready);

-- Size and use of each index since the statistics were last reset
SELECT s.relname AS table_name, s.indexrelname AS index_name,
       pg_size_pretty(pg_relation_size(s.indexrelid)) AS index_size,
       s.idx_scan, s.idx_tup_read, s.idx_tup_fetch
FROM pg_stat_user_indexes s
WHERE s.indexrelname LIKE 'idx_%'
ORDER BY s.relname, s.indexrelname;

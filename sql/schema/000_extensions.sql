-- Extensions the reference schema relies on.
-- pg_stat_statements feeds the bottleneck analysis (it also needs
-- shared_preload_libraries = 'pg_stat_statements' in postgresql.conf).
-- pg_trgm is created by the index migration (DatabaseTuning), not here.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

-- Extensions the reference schema relies on.
-- pg_stat_statements feeds the bottleneck analysis (it also needs
-- shared_preload_libraries = 'pg_stat_statements' in postgresql.conf). Creating it needs
-- superuser rights; on a managed database where the role lacks them the schema still
-- applies and a NOTICE says the extension must be created by an administrator.
-- pg_trgm is created by the index migration (DatabaseTuning), not here.
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
EXCEPTION
    WHEN insufficient_privilege OR undefined_file THEN
        RAISE NOTICE 'pg_stat_statements not created (%); ask an administrator to create it', SQLERRM;
END
$$;

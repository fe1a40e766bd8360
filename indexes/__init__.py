"""The performance indexes of the project's database, as pure logic over SQL text (pglast, no I/O).

    migration_plan   sql/migrations/add-performance-indexes.sql: its one parser (`parse_migration`),
                     definition normal forms, and the create / keep / rebuild decision per index
    targets          sql/verify/index_targets.sql: its one parser (`parse_index_targets`), which
                     index serves which query, and the indexes an EXPLAIN plan uses
    suggestions      indexes derived from the SQL behind slow endpoints, checked against the
                     migration's indexes

Used by the Pulumi providers (components/providers/index_*.py), the database components, the
load-test analysis (loadtests/analysis), the benchmarks and the tests. It imports none of them.
"""

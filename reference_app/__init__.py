"""Reference Studio Hub API: an async HTTP service on PostgreSQL.

It is the target of the local stack, the integration tests and the benchmarks. Importing
the package has no side effects; `reference_app.queries` holds every SQL statement the
service runs, so the index migration and its verification can target exactly that SQL.
"""

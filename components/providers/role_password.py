"""A role's password as the server should receive it: a SCRAM-SHA-256 verifier made on the client.

`CREATE ROLE r PASSWORD 'plain'` puts the plain password into the statement text, which the
server can write to its log (log_statement, the text of a failed statement) and which
pg_stat_statements keeps. libpq computes the salted verifier locally instead, so only the
verifier reaches the server; it logs in the same way.

    conn.execute(sql.SQL("ALTER ROLE {} ").format(sql.Identifier(role)) + password_clause(conn, role, pw))
"""

from __future__ import annotations

import psycopg
from psycopg import sql

__all__ = ["password_clause"]


def password_clause(conn: psycopg.Connection, role: str, password: str) -> sql.Composed:
    """`PASSWORD '<SCRAM-SHA-256 verifier>'` for `role`, computed by libpq on this connection."""
    verifier = conn.pgconn.encrypt_password(password.encode(), role.encode(), b"scram-sha-256").decode()
    return sql.SQL("PASSWORD {}").format(sql.Literal(verifier))

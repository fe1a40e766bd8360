"""Connection helpers shared by the PostgreSQL dynamic providers (no secrets kept).

Each provider takes a DSN as a secret input and keeps only its password-free target
(`connection_target`) in its outputs. `delete` only sees outputs, so the password comes
from the stack configuration key named at construction time (`PasswordFromConfig`, read
in `configure`, never pickled into state), or else from libpq's own sources (PGPASSWORD,
~/.pgpass, the DSN's passfile).
"""

from __future__ import annotations

from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pulumi.dynamic import ConfigureRequest, ResourceProvider

__all__ = [
    "UNKNOWN",
    "PasswordFromConfig",
    "connection_target",
    "database_name",
    "is_unknown",
    "replaced_properties",
]

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"  # pulumi.runtime.rpc.UNKNOWN, seen during preview
# passfile names libpq's password file (a path, not a secret): a server whose password lives only
# there (services/postgres.py) stays reachable from the outputs alone, e.g. on delete.
_TARGET_KEYS = ("host", "hostaddr", "port", "dbname", "user", "sslmode", "passfile")


def is_unknown(value: object) -> bool:
    return value == UNKNOWN


def connection_target(dsn: str) -> str:
    """The DSN reduced to host, hostaddr, port, dbname, user, sslmode and passfile (no password)."""
    params = conninfo_to_dict(dsn)
    return make_conninfo(**{key: str(params[key]) for key in _TARGET_KEYS if params.get(key) is not None})


def database_name(dsn: str) -> str:
    return str(conninfo_to_dict(dsn).get("dbname") or "")


def replaced_properties(olds: dict, news: dict, identity: tuple[str, ...] = ()) -> list[str]:
    """Inputs whose change means another object: the server/database ("dsn"), the schema,
    and the named identity inputs (e.g. "role"), compared with the old outputs."""
    replaces = []
    dsn = news.get("dsn")
    if is_unknown(dsn) or connection_target(dsn) != olds.get("target"):
        replaces.append("dsn")
    replaces.extend(key for key in identity if news.get(key) != olds.get(key))
    if (news.get("schema") or "public") != olds.get("schema"):
        replaces.append("schema")
    return replaces


class PasswordFromConfig(ResourceProvider):
    """Base for providers whose delete needs the password that only the stack config holds."""

    def __init__(self, password_config_key: str | None = None) -> None:
        self._password_config_key = password_config_key
        self._password: str | None = None

    def configure(self, req: ConfigureRequest) -> None:
        if self._password_config_key:
            value = req.config.get(self._password_config_key)
            self._password = str(value) if value else None

    def conninfo_for(self, target: str) -> str:
        """The target with the configured password, when there is one."""
        if not self._password:
            return target
        return make_conninfo(target, password=self._password)

"""Pure logic of the performance-index migration: parse, compare, plan.

No I/O here. `parse_migration` turns the migration file into one `IndexDefinition` per
`CREATE INDEX CONCURRENTLY IF NOT EXISTS` statement plus the session timeouts it sets;
`plan_index` decides, from what the catalog reports about one index, whether to create
it, keep it, or rebuild it (drop concurrently, then create); `leftover_names` finds the
`_ccnew`/`_ccold` remnants an interrupted `REINDEX CONCURRENTLY` leaves behind.
`parse_migration` is the one reader of the migration file: the migration and check providers,
the database components and the analysis' index suggestions all go through it.

Definitions are compared on a normal form: both the statement from the file and the
server's `pg_get_indexdef()` text are parsed with pglast, stripped of what the server adds
or drops on its own (schema qualification, `USING btree`, implicit casts, `IN` written as
`= ANY (ARRAY[...])`, default sort orders, opclass schemas) and printed again.

Errors (all `MigrationError`):
    MigrationError
    ├── MigrationParseError      the file is not a migration this runner can apply safely
    └── UnsupportedServerError   PostgreSQL 14.0 to 14.3 (concurrent builds can corrupt indexes)
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from pglast import ast, enums, parse_sql, visitors
from pglast.parser import ParseError
from pglast.stream import RawStream

from indexes.errors import IndexesError

__all__ = [
    "Action",
    "ExistingIndex",
    "IndexDefinition",
    "IndexPlan",
    "Migration",
    "MigrationError",
    "MigrationParseError",
    "UnsupportedServerError",
    "check_server_version",
    "leftover_names",
    "normalise_index_definition",
    "parse_migration",
    "plan_index",
]

# Casts the server adds by itself when it prints a definition (text-like columns compared
# with literals, varchar columns passed to text functions).
_IMPLICIT_CAST_TYPES = frozenset({"text", "varchar", "bpchar", "name"})
_TIMEOUT_SETTINGS = ("lock_timeout", "statement_timeout")
_LEFTOVER_SUFFIX = re.compile(r"^(?P<base>.+)_cc(?:new|old)\d*$")


class MigrationError(IndexesError):
    """Base class of every error of the index migration."""


class MigrationParseError(MigrationError):
    """The migration file holds something the runner refuses to apply."""


class UnsupportedServerError(MigrationError):
    """The server version is one on which concurrent index builds are unsafe."""


@dataclass(frozen=True)
class IndexDefinition:
    """One index as the migration file defines it.

    create_sql: the statement exactly as written in the file (CONCURRENTLY IF NOT EXISTS).
    normal_form: the comparable form of the definition (see `normalise_index_definition`).
    method: the access method, "btree" unless the statement says USING.
    columns: the plain-column key names in key order, without direction or opclass; expression
        keys (`lower(email)`) are left out, so an index on expressions only has none.
    """

    name: str
    schema: str
    table: str
    create_sql: str
    normal_form: str
    method: str
    columns: tuple[str, ...]


@dataclass(frozen=True)
class Migration:
    """The parsed migration: its indexes in file order and the session timeouts it sets.

    checksum: sha256 hex of the file text; a change means the desired state changed.
    """

    indexes: tuple[IndexDefinition, ...]
    lock_timeout: str | None
    statement_timeout: str | None
    checksum: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(index.name for index in self.indexes)

    def index(self, name: str) -> IndexDefinition:
        for index in self.indexes:
            if index.name == name:
                return index
        raise KeyError(name)


@dataclass(frozen=True)
class ExistingIndex:
    """What the catalog says about one index (pg_index joined with pg_class)."""

    name: str
    schema: str
    table: str
    definition: str  # pg_get_indexdef()
    valid: bool  # indisvalid AND indisready AND indislive


class Action(enum.StrEnum):
    CREATE = "create"
    KEEP = "keep"
    REBUILD = "rebuild"


@dataclass(frozen=True)
class IndexPlan:
    """What to do with one index and why (the reason is shown to the operator)."""

    name: str
    action: Action
    reason: str


class _Normaliser(visitors.Visitor):
    """Rewrites a parsed CREATE INDEX into the shape the server prints it in, minus noise."""

    def visit_TypeCast(self, ancestors, node):
        type_name = node.typeName.names[-1].sval
        if type_name in _IMPLICIT_CAST_TYPES or isinstance(node.arg, ast.A_Const):
            return node.arg
        return None

    def visit_A_Expr(self, ancestors, node):
        # `x IN (a, b)` is stored and printed as `x = ANY (ARRAY[a, b])`.
        if node.kind == enums.A_Expr_Kind.AEXPR_IN:
            operator = node.name[-1].sval
            kind = enums.A_Expr_Kind.AEXPR_OP_ANY if operator == "=" else enums.A_Expr_Kind.AEXPR_OP_ALL
            return ast.A_Expr(
                kind=kind,
                name=node.name,
                lexpr=node.lexpr,
                rexpr=ast.A_ArrayExpr(elements=node.rexpr),
            )
        return None

    def visit_IndexElem(self, ancestors, node):
        if node.ordering == enums.SortByDir.SORTBY_ASC:
            node.ordering = enums.SortByDir.SORTBY_DEFAULT
        descending = node.ordering == enums.SortByDir.SORTBY_DESC
        nulls = node.nulls_ordering
        # DESC sorts NULLs first and ASC last by default; the server omits the default.
        if (descending and nulls == enums.SortByNulls.SORTBY_NULLS_FIRST) or (
            not descending and nulls == enums.SortByNulls.SORTBY_NULLS_LAST
        ):
            node.nulls_ordering = enums.SortByNulls.SORTBY_NULLS_DEFAULT
        if node.opclass:
            node.opclass = (node.opclass[-1],)
        return None


def _parse_index_statement(sql: str) -> ast.IndexStmt:
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        raise MigrationParseError(f"cannot parse index definition {sql!r}: {exc}") from exc
    if len(statements) != 1 or not isinstance(statements[0].stmt, ast.IndexStmt):
        raise MigrationParseError(f"expected exactly one CREATE INDEX statement, got {sql!r}")
    return statements[0].stmt


def _normal_form_of(statement: ast.IndexStmt, default_schema: str) -> str:
    statement.concurrent = False
    statement.if_not_exists = False
    if not statement.relation.schemaname:
        statement.relation.schemaname = default_schema
    statement.relation.inh = True
    _Normaliser()(statement)
    return RawStream()(statement)


def normalise_index_definition(sql: str, default_schema: str = "public") -> str:
    """The comparable form of a CREATE INDEX statement or of a `pg_get_indexdef()` text.

    Two definitions describe the same index exactly when their normal forms are equal.
    """
    return _normal_form_of(_parse_index_statement(sql), default_schema)


def _setting_value(statement: ast.VariableSetStmt) -> str:
    values = []
    for arg in statement.args or ():
        value = arg.val
        values.append(str(value.sval if isinstance(value, ast.String) else value.ival))
    return ", ".join(values)


def _without_leading_comments(text: str) -> str:
    lines = text.strip().splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines).strip()


def parse_migration(sql_text: str, default_schema: str = "public") -> Migration:
    """Parse a migration file of SET/RESET statements and concurrent, robust CREATE INDEXes.

    Refuses (MigrationParseError) anything else, a CREATE INDEX without CONCURRENTLY or
    IF NOT EXISTS, an unnamed index, a UNIQUE index, a name used twice, and a file that
    does not set both lock_timeout and statement_timeout before its first index.
    """
    try:
        raw_statements = parse_sql(sql_text)
    except ParseError as exc:
        raise MigrationParseError(f"the migration is not valid SQL: {exc}") from exc
    encoded = sql_text.encode("utf-8")
    settings: dict[str, str] = {}
    indexes: list[IndexDefinition] = []
    for raw in raw_statements:
        text = _without_leading_comments(
            encoded[raw.stmt_location : raw.stmt_location + raw.stmt_len].decode("utf-8")
        )
        statement = raw.stmt
        if isinstance(statement, ast.VariableSetStmt):
            if statement.name in _TIMEOUT_SETTINGS and statement.kind == enums.VariableSetKind.VAR_SET_VALUE:
                if statement.is_local:
                    raise MigrationParseError(
                        f"{text!r}: SET LOCAL has no effect outside a transaction; use SET"
                    )
                settings[statement.name] = _setting_value(statement)
            continue
        if not isinstance(statement, ast.IndexStmt):
            raise MigrationParseError(
                f"{text!r}: only SET and CREATE INDEX CONCURRENTLY IF NOT EXISTS statements are allowed"
            )
        indexes.append(_index_definition(statement, text, settings, default_schema))
    if not indexes:
        raise MigrationParseError("the migration defines no index")
    names = [index.name for index in indexes]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise MigrationParseError(f"index names defined more than once: {', '.join(duplicates)}")
    return Migration(
        indexes=tuple(indexes),
        lock_timeout=settings.get("lock_timeout"),
        statement_timeout=settings.get("statement_timeout"),
        checksum=hashlib.sha256(encoded).hexdigest(),
    )


def _index_definition(
    statement: ast.IndexStmt, text: str, settings: dict[str, str], default_schema: str
) -> IndexDefinition:
    if not statement.idxname:
        raise MigrationParseError(f"{text!r}: the index needs an explicit name")
    if not statement.concurrent:
        raise MigrationParseError(f"{statement.idxname}: CREATE INDEX must be CONCURRENTLY")
    if not statement.if_not_exists:
        raise MigrationParseError(f"{statement.idxname}: CREATE INDEX must say IF NOT EXISTS")
    if statement.unique:
        raise MigrationParseError(
            f"{statement.idxname}: UNIQUE indexes are constraints; this migration only adds indexes"
        )
    missing = [name for name in _TIMEOUT_SETTINGS if name not in settings]
    if missing:
        raise MigrationParseError(f"{statement.idxname}: set {' and '.join(missing)} before the first index")
    schema = statement.relation.schemaname or default_schema
    table = statement.relation.relname
    normal_form = _normal_form_of(_parse_index_statement(text), default_schema)
    columns = tuple(param.name for param in statement.indexParams or () if getattr(param, "name", None))
    return IndexDefinition(
        name=statement.idxname,
        schema=schema,
        table=table,
        create_sql=text,
        normal_form=normal_form,
        method=statement.accessMethod or "btree",
        columns=columns,
    )


def check_server_version(server_version_num: int) -> None:
    """Refuse PostgreSQL 14.0 to 14.3, where CREATE/REINDEX CONCURRENTLY can corrupt indexes."""
    if 140000 <= server_version_num < 140004:
        major, minor = divmod(server_version_num, 10000)
        raise UnsupportedServerError(
            f"PostgreSQL {major}.{minor} can silently corrupt indexes built CONCURRENTLY; "
            "upgrade to 14.4 or later before running this migration"
        )


def plan_index(wanted: IndexDefinition, existing: ExistingIndex | None, default_schema: str) -> IndexPlan:
    """Create an absent index, keep a valid identical one, rebuild an invalid or drifted one."""
    if existing is None:
        return IndexPlan(wanted.name, Action.CREATE, "absent")
    if not existing.valid:
        return IndexPlan(wanted.name, Action.REBUILD, "invalid (an earlier build failed or was cancelled)")
    current = normalise_index_definition(existing.definition, default_schema)
    if current != wanted.normal_form:
        return IndexPlan(
            wanted.name, Action.REBUILD, f"definition drifted: found {current!r}, want {wanted.normal_form!r}"
        )
    return IndexPlan(wanted.name, Action.KEEP, "valid and identical")


def leftover_names(index_names: Iterable[str], managed: Iterable[str]) -> list[str]:
    """The `<name>_ccnew[N]` / `<name>_ccold[N]` indexes among index_names, for managed names only."""
    managed_set = set(managed)
    found = []
    for name in index_names:
        match = _LEFTOVER_SUFFIX.match(name)
        if match and match.group("base") in managed_set:
            found.append(name)
    return sorted(found)

"""Index suggestions derived from the SQL behind slow endpoints.

The SQL comes from the reference app's named queries (it names each one in the
`X-Db-Query-Name` header) or, when a database is given and exposes it, from
`pg_stat_statements` (both read by loadtests/analysis/sources.py). Each statement is parsed
with pglast (PostgreSQL's own parser) and its predicates decide the index:

- equality predicates (`col = $1`, `col = 'x'`) lead the key, in the order written;
- then the ORDER BY columns, with their direction (the index returns rows pre-sorted);
- then one range predicate (`<`, `>`, `BETWEEN`) when nothing is sorted;
- literal `col IS NULL` / `col IS NOT NULL` predicates become a partial-index WHERE
  clause (the planner matches partial indexes only on literal predicates);
- `LIKE/ILIKE '%...%'` (or a parameter) gets a pg_trgm GIN index;
- JOIN ... ON a.x = b.y gets an index on the joined table's column.

Suggested statements use CREATE INDEX CONCURRENTLY IF NOT EXISTS, as the migrations do. A
suggestion the performance-index migration already serves is marked with that index's name
(`covered_by`); the migration is read with `indexes.migration_plan.parse_migration`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pglast
from pglast import ast
from pglast.enums.parsenodes import A_Expr_Kind, SortByDir
from pglast.enums.primnodes import BoolExprType, NullTestType

from indexes.errors import IndexesError
from indexes.migration_plan import IndexDefinition

__all__ = [
    "IndexSuggestion",
    "NamedQuery",
    "QuerySource",
    "SqlParseError",
    "suggest_indexes",
    "suggestions_for_sql",
]

_RANGE_OPERATORS = {"<", ">", "<=", ">="}
_TRIGRAM_OPERATORS = {"~~", "~~*"}  # LIKE, ILIKE


@dataclass(frozen=True)
class NamedQuery:
    """A statement and the name it is known by (query name or pg_stat_statements queryid)."""

    name: str
    sql: str
    source: str = "reference app"
    mean_ms: float | None = None
    calls: int | None = None


# endpoint name -> the queries it runs
QuerySource = Callable[[str], list[NamedQuery]]


@dataclass(frozen=True)
class IndexSuggestion:
    table: str
    columns: tuple[str, ...]  # "created_at DESC" keeps its direction
    method: str = "btree"  # or "gin"
    where: str | None = None
    queries: tuple[str, ...] = field(default=(), compare=False)
    reason: str = field(default="", compare=False)
    covered_by: str | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        parts = [column.split()[0] for column in self.columns]
        suffix = "_trgm" if self.method == "gin" else ""
        return f"idx_{self.table}_{'_'.join(parts)}{suffix}"[:63]

    @property
    def sql(self) -> str:
        if self.method == "gin":
            key = ", ".join(f"{column} gin_trgm_ops" for column in self.columns)
            using = " USING gin"
        else:
            key = ", ".join(self.columns)
            using = ""
        where = f" WHERE {self.where}" if self.where else ""
        return f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {self.name} ON {self.table}{using} ({key}){where};"


@dataclass
class _TableUse:
    table: str
    equality: list[str] = field(default_factory=list)
    ranges: list[str] = field(default_factory=list)
    order: list[str] = field(default_factory=list)
    null_tests: list[str] = field(default_factory=list)
    patterns: list[str] = field(default_factory=list)
    join_keys: list[str] = field(default_factory=list)


class _Tables:
    """Alias resolution for one statement's FROM clause."""

    def __init__(self) -> None:
        self.by_alias: dict[str, _TableUse] = {}
        self.order: list[_TableUse] = []

    def add(self, range_var: ast.RangeVar) -> None:
        use = _TableUse(range_var.relname)
        self.order.append(use)
        self.by_alias[range_var.relname] = use
        if range_var.alias is not None:
            self.by_alias[range_var.alias.aliasname] = use

    def column(self, node: Any) -> tuple[_TableUse, str] | None:
        if not isinstance(node, ast.ColumnRef) or not self.order:
            return None
        names = [part.sval for part in node.fields if isinstance(part, ast.String)]
        if len(names) != len(node.fields) or not names:
            return None
        if len(names) == 1:
            return self.order[0], names[0]
        use = self.by_alias.get(names[-2])
        return (use, names[-1]) if use else None


def _operator(expr: ast.A_Expr) -> str:
    return expr.name[-1].sval if expr.name else ""


def _is_value(node: Any) -> bool:
    return isinstance(node, ast.A_Const | ast.ParamRef | ast.TypeCast | ast.FuncCall | ast.A_Expr)


def _collect_from(node: Any, tables: _Tables, joins: list[Any]) -> None:
    if isinstance(node, ast.RangeVar):
        tables.add(node)
    elif isinstance(node, ast.JoinExpr):
        _collect_from(node.larg, tables, joins)
        _collect_from(node.rarg, tables, joins)
        if node.quals is not None:
            joins.append((node.rarg, node.quals))


def _walk_predicate(node: Any, tables: _Tables) -> None:
    if isinstance(node, ast.BoolExpr):
        if node.boolop == BoolExprType.AND_EXPR:
            for argument in node.args:
                _walk_predicate(argument, tables)
        return  # OR / NOT: no single index serves them
    if isinstance(node, ast.NullTest):
        found = tables.column(node.arg)
        if found:
            use, column = found
            test = "IS NULL" if node.nulltesttype == NullTestType.IS_NULL else "IS NOT NULL"
            use.null_tests.append(f"{column} {test}")
        return
    if not isinstance(node, ast.A_Expr):
        return
    found = tables.column(node.lexpr)
    if found is None:
        return
    use, column = found
    operator = _operator(node)
    if (
        node.kind == A_Expr_Kind.AEXPR_OP and operator == "=" and _is_value(node.rexpr)
    ) or node.kind == A_Expr_Kind.AEXPR_IN:
        use.equality.append(column)
    elif (
        node.kind == A_Expr_Kind.AEXPR_OP and operator in _RANGE_OPERATORS and _is_value(node.rexpr)
    ) or node.kind == A_Expr_Kind.AEXPR_BETWEEN:
        use.ranges.append(column)
    elif node.kind in (A_Expr_Kind.AEXPR_LIKE, A_Expr_Kind.AEXPR_ILIKE) and operator in _TRIGRAM_OPERATORS:
        pattern = node.rexpr
        literal = (
            pattern.val.sval
            if isinstance(pattern, ast.A_Const) and isinstance(pattern.val, ast.String)
            else None
        )
        if literal is None or literal.startswith("%"):
            use.patterns.append(column)
        else:  # anchored prefix: a btree serves it
            use.ranges.append(column)


def _walk_joins(joins: list[Any], tables: _Tables) -> None:
    for right, quals in joins:
        right_use = tables.by_alias.get(
            right.alias.aliasname
            if isinstance(right, ast.RangeVar) and right.alias
            else getattr(right, "relname", "")
        )
        if not isinstance(quals, ast.A_Expr) or _operator(quals) != "=":
            continue
        for side in (quals.lexpr, quals.rexpr):
            found = tables.column(side)
            if found and found[0] is right_use and found[1] != "id":
                right_use.join_keys.append(found[1])


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _statement_uses(statement: Any) -> list[_TableUse]:
    tables = _Tables()
    joins: list[Any] = []
    if isinstance(statement, ast.SelectStmt):
        if statement.op is not None and statement.larg is not None:  # UNION etc.
            return _statement_uses(statement.larg) + _statement_uses(statement.rarg)
        for item in statement.fromClause or ():
            _collect_from(item, tables, joins)
        where = statement.whereClause
        for sort in statement.sortClause or ():
            found = tables.column(sort.node)
            if found:
                direction = " DESC" if sort.sortby_dir == SortByDir.SORTBY_DESC else ""
                found[0].order.append(found[1] + direction)
    elif isinstance(statement, ast.UpdateStmt | ast.DeleteStmt):
        tables.add(statement.relation)
        where = statement.whereClause
    else:
        return []
    if where is not None:
        _walk_predicate(where, tables)
    _walk_joins(joins, tables)
    return tables.order


def _suggest(use: _TableUse, query: str) -> list[IndexSuggestion]:
    suggestions: list[IndexSuggestion] = []
    equality = _unique(use.equality)
    order = _unique(use.order)
    key = equality + [column for column in order if column.split()[0] not in equality]
    if not order and use.ranges:
        key.append(use.ranges[0])
    where = " AND ".join(_unique(use.null_tests)) or None
    # An equality on the primary key finds at most one row: the primary key serves it already.
    if key and "id" not in equality:
        reason = []
        if equality:
            reason.append("equality on " + ", ".join(equality))
        if order:
            reason.append("ORDER BY " + ", ".join(order))
        elif use.ranges:
            reason.append("range on " + use.ranges[0])
        if where:
            reason.append("partial: " + where)
        suggestions.append(
            IndexSuggestion(use.table, tuple(key), "btree", where, (query,), "; ".join(reason))
        )
    for column in _unique(use.patterns):
        suggestions.append(
            IndexSuggestion(
                use.table, (column,), "gin", None, (query,), f"pattern match (LIKE/ILIKE) on {column}"
            )
        )
    for column in _unique(use.join_keys):
        if column not in equality:
            suggestions.append(
                IndexSuggestion(
                    use.table, (column,), "btree", None, (query,), f"join key {use.table}.{column}"
                )
            )
    return suggestions


_PSYCOPG_PARAMETER = re.compile(r"%\((\w+)\)s|%s")


def _positional(sql: str) -> str:
    """psycopg placeholders (`%(name)s`, `%s`) as PostgreSQL's `$n`, which the parser understands."""
    numbers: dict[str, int] = {}

    def number(match: re.Match[str]) -> str:
        key = match.group(1) or f"#{len(numbers)}"
        numbers.setdefault(key, len(numbers) + 1)
        return f"${numbers[key]}"

    return _PSYCOPG_PARAMETER.sub(number, sql).replace("%%", "%")


class SqlParseError(IndexesError, ValueError):
    """A statement PostgreSQL's parser rejects; names the query and the parser's message (which
    quotes the token it stopped at)."""

    def __init__(self, query_name: str, message: str) -> None:
        super().__init__(f"query {query_name}: PostgreSQL cannot parse it: {message}")
        self.query_name = query_name


def suggestions_for_sql(sql: str, query_name: str = "query") -> list[IndexSuggestion]:
    """Indexes that would serve `sql`.

    Raises SqlParseError when PostgreSQL's parser rejects the statement: an empty answer would
    read as "no index needed" and hide a broken query.
    """
    try:
        statements = pglast.parse_sql(_positional(sql))
    except pglast.parser.ParseError as error:
        raise SqlParseError(query_name, str(error.args[0] if error.args else error)) from None
    suggestions: list[IndexSuggestion] = []
    for raw in statements:
        for use in _statement_uses(raw.stmt):
            suggestions.extend(_suggest(use, query_name))
    return suggestions


def _covers(index: IndexDefinition, suggestion: IndexSuggestion) -> bool:
    """Same table and method, same leading column, and the suggestion's last key column too:
    the same access path (filter, then sort), even when the column lists differ in detail."""
    wanted = [column.split()[0] for column in suggestion.columns]
    return (
        index.table == suggestion.table
        and index.method == suggestion.method
        and bool(index.columns)
        and index.columns[0] == wanted[0]
        and wanted[-1] in index.columns
    )


def _covering(
    suggestion: IndexSuggestion, existing: Sequence[IndexDefinition], targets: Mapping[str, Sequence[str]]
) -> IndexDefinition | None:
    """The index built for one of the suggestion's queries on the same leading column, else any
    existing index with the same access path."""
    by_name = {index.name: index for index in existing}
    leading = suggestion.columns[0].split()[0]
    for query in suggestion.queries:
        for name in targets.get(query, ()):
            index = by_name.get(name)
            if (
                index
                and (index.table, index.method) == (suggestion.table, suggestion.method)
                and index.columns[:1] == (leading,)
            ):
                return index
    return next((index for index in existing if _covers(index, suggestion)), None)


def suggest_indexes(
    queries: Iterable[NamedQuery],
    existing: Sequence[IndexDefinition] = (),
    targets: Mapping[str, Sequence[str]] | None = None,
) -> list[IndexSuggestion]:
    """Merged suggestions for `queries`, each listing every query it serves; a suggestion an
    `existing` index (the migration's, `parse_migration(...).indexes`) already serves is marked
    `covered_by` that index. `targets` maps a query name to the indexes built for it
    (`indexes_by_query` of the verification file); without one the index's shape decides."""
    merged: dict[IndexSuggestion, IndexSuggestion] = {}
    for query in queries:
        for suggestion in suggestions_for_sql(query.sql, query.name):
            known = merged.get(suggestion)
            if known is None:
                merged[suggestion] = suggestion
            elif query.name not in known.queries:
                merged[suggestion] = replace(known, queries=(*known.queries, query.name))
    result = []
    for suggestion in merged.values():
        cover = _covering(suggestion, existing, targets or {})
        result.append(replace(suggestion, covered_by=cover.name) if cover else suggestion)
    return sorted(result, key=lambda item: (item.table, item.name))

"""Benchmark: latency of each index's target query before and after the index migration.

Starts a throwaway PostgreSQL on 127.0.0.1 (services.postgres), seeds the reference schema
(default: the large scale), ANALYZEs, and times every target query of
sql/verify/index_targets.sql (the reference app's own SQL, same parameters in both phases)
without the performance indexes; then applies sql/migrations/add-performance-indexes.sql
with the real runner, ANALYZEs again and times the same queries. Reports median and p95
client-side latency per query, the speed-up (median before / median after), and whether
the planner used the index afterwards. Statements that write (the foreign-key actions)
run inside a transaction that is rolled back.

JIT compilation is switched off on the benchmark server: it would add its compile time
to the sequential scans of the "before" phase and inflate the speed-ups.

Usage:
    python bench/index_speedup.py [--scale large] [--seed 42] [--runs 11] [--warmup 2]
                                  [--json bench/out/index_speedup.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402 - after the path set-up, like every bench script
from psycopg.rows import dict_row  # noqa: E402

from components.providers.index_migration_runner import PsycopgIndexDatabase, apply_migration  # noqa: E402
from indexes.migration_plan import parse_migration  # noqa: E402
from indexes.targets import (  # noqa: E402
    MIGRATION_FILE,
    IndexTarget,
    index_names_in_plan,
    load_index_targets,
)
from reference_app.seed import seed_database  # noqa: E402
from services.postgres import PostgresServer  # noqa: E402

SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "512MB",
    "jit": "off",
}
SELECTIVE_GOAL = 10.0


@dataclass
class Timing:
    median_ms: float
    p95_ms: float


@dataclass
class Row:
    index: str
    query: str
    before: Timing
    after: Timing
    speedup: float
    index_used_after: bool
    rows: int


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = fraction * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def writes(target: IndexTarget) -> bool:
    return target.sql.lstrip().upper().startswith(("UPDATE", "DELETE", "INSERT"))


def time_query(
    conn: psycopg.Connection, target: IndexTarget, params: dict, runs: int, warmup: int
) -> tuple[Timing, int]:
    samples = []
    count = 0
    for i in range(warmup + runs):
        if writes(target):
            with conn.transaction(force_rollback=True):
                started = time.perf_counter()
                count = conn.execute(target.sql, params).rowcount
                elapsed = time.perf_counter() - started
        else:
            started = time.perf_counter()
            count = len(conn.execute(target.sql, params).fetchall())
            elapsed = time.perf_counter() - started
        if i >= warmup:
            samples.append(elapsed * 1000.0)
    return Timing(round(statistics.median(samples), 3), round(percentile(samples, 0.95), 3)), count


def resolve_params(conn: psycopg.Connection, targets: list[IndexTarget]) -> dict[str, dict]:
    cursor = conn.cursor(row_factory=dict_row)
    return {t.index: dict(cursor.execute(t.params_sql).fetchone() or {}) for t in targets}


def measure(dsn: str, targets: list[IndexTarget], params: dict[str, dict], runs: int, warmup: int):
    # prepare_threshold=None: plan each execution with its values, as the first executions
    # of the app's queries are planned (no generic plan muddying the comparison).
    with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        results = {}
        for target in targets:
            timing, count = time_query(conn, target, params[target.index], runs, warmup)
            plan = conn.execute("EXPLAIN (FORMAT JSON) " + target.sql, params[target.index]).fetchone()[0]
            results[target.index] = (timing, count, index_names_in_plan(plan))
            print(
                f"  {target.index:38s} median {timing.median_ms:9.2f} ms  p95 {timing.p95_ms:9.2f} ms",
                flush=True,
            )
        return results


def table(rows: list[Row]) -> str:
    lines = [
        "| index | target query | before p50 ms | before p95 ms | after p50 ms | after p95 ms "
        "| speed-up (p50) | index used |",
        "|---|---|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.index} | {r.query} | {r.before.median_ms:.2f} | {r.before.p95_ms:.2f} | "
            f"{r.after.median_ms:.2f} | {r.after.p95_ms:.2f} | {r.speedup:.1f}x | "
            f"{'yes' if r.index_used_after else 'no'} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("small", "medium", "large"), default="large")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=11, help="timed executions per query and phase")
    parser.add_argument("--warmup", type=int, default=2, help="untimed executions first (warm caches)")
    parser.add_argument("--json", type=Path, default=ROOT / "bench" / "out" / "index_speedup.json")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be >= 1 and --warmup >= 0")

    targets = load_index_targets()
    migration = parse_migration(MIGRATION_FILE.read_text(encoding="utf-8"))
    with PostgresServer(settings=SERVER_SETTINGS) as server:
        dsn = server.create_database("studiohub")
        started = time.perf_counter()
        seed_database(dsn, scale=args.scale, seed=args.seed)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            conn.execute("VACUUM ANALYZE")
            params = resolve_params(conn, targets)
        print(
            f"seeded scale={args.scale} seed={args.seed} in {time.perf_counter() - started:.0f} s", flush=True
        )

        print("before the migration:", flush=True)
        before = measure(dsn, targets, params, args.runs, args.warmup)
        started = time.perf_counter()
        with PsycopgIndexDatabase(dsn) as db:
            report = apply_migration(db, migration)
        build_s = time.perf_counter() - started
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        print(f"migration: {len(report.outcomes)} indexes built in {build_s:.1f} s", flush=True)
        print("after the migration:", flush=True)
        after = measure(dsn, targets, params, args.runs, args.warmup)

    rows = []
    for target in targets:
        b_timing, count, _ = before[target.index]
        a_timing, _, used = after[target.index]
        rows.append(
            Row(
                index=target.index,
                query=target.query_name or f"FK action: {target.referential_action}",
                before=b_timing,
                after=a_timing,
                speedup=round(b_timing.median_ms / max(a_timing.median_ms, 1e-6), 1),
                index_used_after=target.index in used,
                rows=count,
            )
        )
    print()
    print(table(rows))
    below = [r.index for r in rows if r.speedup < SELECTIVE_GOAL]
    print(
        f"\n{len(rows) - len(below)}/{len(rows)} queries at least {SELECTIVE_GOAL:.0f}x faster; "
        f"below: {', '.join(below) or 'none'}"
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "scale": args.scale,
                "seed": args.seed,
                "runs": args.runs,
                "warmup": args.warmup,
                "server_settings": SERVER_SETTINGS,
                "build_seconds": report.build_seconds,
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    print(f"written {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

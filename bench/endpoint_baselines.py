"""Measure the endpoint baselines of docs/SLO_BASELINES.md with one real run against the reference app.

    python bench/endpoint_baselines.py [--users 60] [--ramp 10] [--hold 50] [--workers 2]
                                       [--think-time 0.2-1.2] [--scale small] [--dry-run]

Starts a throwaway PostgreSQL on loopback, seeds it at the local stack's scale, applies the
performance-index migration (as the local stack does), starts the reference app on loopback and
runs the whole suite on a local Locust fleet: a ramp to the given users, a hold, a short ramp
down. The results document is kept under bench/out/; then
`python -m tools.slo_doc --from-results` turns it into docs/endpoint_baselines.json and
regenerates the document (skipped with --dry-run, which only prints the numbers).
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402 - after the path set-up, like every bench script

from components.providers.index_migration_runner import PsycopgIndexDatabase, apply_migration  # noqa: E402
from indexes.migration_plan import parse_migration  # noqa: E402
from indexes.targets import MIGRATION_FILE  # noqa: E402
from loadtests.results.endpoint_baselines import baselines_from_results  # noqa: E402
from loadtests.run.config import DEFAULT_WEIGHTS, RunConfig, TestUser  # noqa: E402
from loadtests.run.runner import run_local  # noqa: E402
from loadtests.run.shape import Stage  # noqa: E402
from loadtests.slo import catalog as slo_catalog  # noqa: E402
from reference_app.seed import loadtest_users, seed_database  # noqa: E402
from services.postgres import PostgresServer  # noqa: E402
from services.reference_app import ReferenceApp  # noqa: E402
from tools import slo_doc  # noqa: E402

SERVER_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
TEST_USER_COUNT = 5


def think_time(text: str) -> tuple[float, float]:
    low, _, high = text.partition("-")
    try:
        bounds = float(low), float(high)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--think-time {text!r}: expected MIN-MAX seconds, e.g. 0.2-1.2"
        ) from None
    if not 0 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"--think-time {text!r}: expected 0 <= MIN <= MAX")
    return bounds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=60, help="users during the hold")
    parser.add_argument("--ramp", type=float, default=10.0, help="seconds to ramp up to --users")
    parser.add_argument("--hold", type=float, default=50.0, help="seconds at --users")
    parser.add_argument("--workers", type=int, default=2, help="Locust worker processes")
    parser.add_argument("--think-time", type=think_time, default=(0.2, 1.2), help="MIN-MAX seconds")
    parser.add_argument("--scale", choices=("small", "medium", "large"), default="small")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "out" / "endpoint_baselines.json")
    parser.add_argument("--dry-run", action="store_true", help="print the numbers, write no committed file")
    args = parser.parse_args(argv)
    if args.users < 1 or args.ramp <= 0 or args.hold <= 0:
        parser.error("--users must be >= 1, --ramp and --hold > 0")

    args.results.parent.mkdir(parents=True, exist_ok=True)
    password = secrets.token_urlsafe(12)
    users = loadtest_users(TEST_USER_COUNT, password)
    with PostgresServer(settings=SERVER_SETTINGS) as server:
        dsn = server.create_database("studiohub")
        seed_database(dsn, scale=args.scale, seed=42, users=users)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        with PsycopgIndexDatabase(dsn) as db:
            apply_migration(db, parse_migration(MIGRATION_FILE.read_text(encoding="utf-8")))
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        with ReferenceApp(dsn, log_path=args.results.with_suffix(".app.log")) as app:
            low, high = args.think_time
            doc = run_local(
                RunConfig(
                    target=app.base_url,
                    stages=(Stage(args.ramp, args.users), Stage(args.hold, args.users), Stage(5, 0)),
                    workers=args.workers,
                    user_weights=dict(DEFAULT_WEIGHTS),
                    think_time_min_s=low,
                    think_time_max_s=high,
                    test_users=tuple(TestUser(u.email, password) for u in users),
                    results_path=str(args.results),
                    run_id="endpoint-baselines",
                    stop_timeout_s=5.0,
                )
            )
    conditions = (
        f"the reference app on PostgreSQL (seed scale {args.scale}, performance indexes applied), "
        f"default user-group weights, think time {low:g}-{high:g} s"
    )
    endpoints = [e.endpoint for e in slo_catalog.ENDPOINT_SLOS]
    if args.dry_run:
        print(json.dumps(baselines_from_results(doc, endpoints, conditions), indent=2))
        return 0
    return slo_doc.main(["--from-results", str(args.results), "--conditions", conditions])


if __name__ == "__main__":
    sys.exit(main())

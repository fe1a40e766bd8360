"""Database outages against the reference app: how fast it answers 503, how fast it recovers.

    python bench/reference_app_outage.py [--outages 3,20] [--scale small]

Starts a throwaway PostgreSQL and the app on loopback, then for each outage length stops
PostgreSQL, polls GET /healthz every 0.2 s (each answer must be 503), starts PostgreSQL
again and polls until 200. Prints one row per outage: the slowest 503 and the time from
PostgreSQL accepting connections to the app reporting ready, with no app restart.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reference_app.seed import loadtest_users, seed_database
from services.postgres import PostgresServer
from services.reference_app import ReferenceApp

_RECOVERY_LIMIT_S = 120.0


def _outage(server: PostgresServer, client: httpx.Client, seconds: float) -> tuple[int, float, float]:
    server.stop()
    ends = time.monotonic() + seconds
    answers, slowest = 0, 0.0
    while time.monotonic() < ends:
        started = time.perf_counter()
        status = client.get("/healthz").status_code
        slowest = max(slowest, time.perf_counter() - started)
        if status != 503:
            raise RuntimeError(f"expected 503 while PostgreSQL is down, got {status}")
        answers += 1
        time.sleep(0.2)
    server.start()
    restarted = time.perf_counter()
    while client.get("/healthz").status_code != 200:
        if time.perf_counter() - restarted > _RECOVERY_LIMIT_S:
            raise RuntimeError(f"the app did not recover within {_RECOVERY_LIMIT_S:g} s")
        time.sleep(0.05)
    return answers, slowest, time.perf_counter() - restarted


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outages", default="3,20", help="outage lengths in seconds, comma-separated")
    parser.add_argument("--scale", default="small", choices=["small", "medium"])
    args = parser.parse_args(argv)
    try:
        lengths = [float(part) for part in args.outages.split(",")]
    except ValueError:
        parser.error(f"--outages {args.outages!r} must be numbers separated by commas, e.g. 3,20")
    password = secrets.token_urlsafe(12)
    with PostgresServer(settings={"fsync": "off"}) as server:
        dsn = server.create_database("studiohub")
        seed_database(dsn, scale=args.scale, seed=42, users=loadtest_users(1, password), vacuum=False)
        with ReferenceApp(dsn) as app, httpx.Client(base_url=app.base_url, timeout=10) as client:
            pid = app.pid
            print("| outage (s) | 503 answers | slowest 503 (s) | recovery after restart (s) |")
            print("|---:|---:|---:|---:|")
            for seconds in lengths:
                answers, slowest, recovery = _outage(server, client, seconds)
                print(f"| {seconds:g} | {answers} | {slowest:.3f} | {recovery:.2f} |")
            if app.pid != pid:
                raise RuntimeError("the app process changed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

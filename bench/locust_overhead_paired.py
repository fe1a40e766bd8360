"""Hook overhead measured in pairs: the suite and bare Locust at the same time, on one core.

On a shared machine the load of other processes changes from one second to the next, which
makes one-after-the-other runs (bench/locust_overhead.py) noisy. Here both clients run at the
same moment, pinned to the same CPU (taskset), each against its own nginx (pinned to the other
CPU, counting its requests with stub_status): whatever else happens, both see it. The InfluxDB
server the suite exports to is pinned to that other CPU too, as on a real fleet, where InfluxDB
does not run on the generators' cores: left to float, its ingest ran on the clients' CPU at
random moments and cost both clients about a third of their requests per CPU-second, the
suite more. Each round gives requests per CPU-second for both; the suite's ratio to bare
Locust, median over rounds, is the figure. Goal: at least 0.90 (hook overhead <= 10 %); below
it the benchmark exits 1. `--variant` sets something else beside bare Locust: the suite
without its exporters or without one of them (what each costs), or bare Locust checking its
responses in catch_response.

    python bench/locust_overhead_paired.py [--users 32] [--window 10] [--rounds 5] [--goal 0.90]
                                           [--variant suite|suite-no-exporters|suite-no-influx|
                                                      suite-no-prometheus|bare-checked]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.locust_overhead import Nginx, cpu_seconds, free_port  # noqa: E402
from loadtests.run.config import InfluxExport, PrometheusExport, SuiteConfig  # noqa: E402
from loadtests.run.shape import Stage  # noqa: E402
from services.influxdb import InfluxDBServer  # noqa: E402


def start(cmd: list[str], env: dict[str, str], cpu: str) -> subprocess.Popen:
    return subprocess.Popen(
        ["taskset", "-c", cpu, *cmd],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)


def pin(pid: int, cpu: str) -> None:
    subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], check=True, capture_output=True, timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description="hook overhead, suite and bare Locust side by side")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--goal", type=float, default=0.90, help="the lowest median ratio that passes")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--variant",
        choices=("suite", "suite-no-exporters", "suite-no-influx", "suite-no-prometheus", "bare-checked"),
        default="suite",
        help="what to set beside bare Locust: the suite with every hook (default), the suite "
        "without exporters or without one of them, or bare Locust checking responses in "
        "catch_response",
    )
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error(f"--rounds {args.rounds}: the median needs at least 5 rounds")
    for tool in ("nginx", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"needs {tool}")
    bare_server, suite_server = Nginx(), Nginx()
    influx = InfluxDBServer(database="bench").start()
    work = Path(tempfile.mkdtemp(prefix="odavl-bench-"))
    try:
        # The servers (both nginx and influxd) on CPU 1, the two clients on CPU 0 (see above).
        for server in (bare_server, suite_server, influx):
            pin(server.process.pid, "1")
        prometheus = args.variant in ("suite", "suite-no-influx")
        influxdb = args.variant in ("suite", "suite-no-prometheus")
        suite = SuiteConfig(
            target=suite_server.url,
            stages=(Stage(0.5, args.users), Stage(3600, args.users)),
            prometheus=PrometheusExport(enabled=prometheus, master_port=free_port()),
            influxdb=InfluxExport(enabled=influxdb, url=influx.url, database="bench"),
            results_path=str(work / "results.json"),
        )
        (work / "suite.json").write_text(suite.to_json())
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PROBE_PATH": "/fast", "PROBE_WAIT_MAX_S": "0"}
        locust = [sys.executable, "-m", "locust", "--headless", "--only-summary"]
        bare_cmd = [*locust, "--host", bare_server.url, "-f", "bench/locust_bare.py", "-u", str(args.users)]
        bare_cmd += ["-r", "1000", "-t", "600s"]
        suite_cmd = [*locust, "--host", suite_server.url, "-f", "bench/locust_probe.py"]
        suite_env = {**env, "ODAVL_LOADTEST_CONFIG": str(work / "suite.json")}
        if args.variant == "bare-checked":
            suite_cmd = [*locust, "--host", suite_server.url, *bare_cmd[bare_cmd.index("-f") :]]
            suite_env = {**env, "BARE_CHECK": "1"}
        rounds = []
        for _ in range(args.rounds):
            bare = start(bare_cmd, env, "0")
            suite_proc = start(suite_cmd, suite_env, "0")
            try:
                time.sleep(args.warmup)
                b1, s1 = bare_server.requests(), suite_server.requests()
                bc1, sc1 = cpu_seconds(bare.pid), cpu_seconds(suite_proc.pid)
                time.sleep(args.window)
                b2, s2 = bare_server.requests(), suite_server.requests()
                bc2, sc2 = cpu_seconds(bare.pid), cpu_seconds(suite_proc.pid)
            finally:
                stop(bare)
                stop(suite_proc)
            bare_per_core = (b2 - b1 - 1) / (bc2 - bc1)
            suite_per_core = (s2 - s1 - 1) / (sc2 - sc1)
            rounds.append(
                {
                    "bare_rps_per_core": round(bare_per_core),
                    "suite_rps_per_core": round(suite_per_core),
                    "ratio": round(suite_per_core / bare_per_core, 3),
                }
            )
            print(rounds[-1], flush=True)
        ratio = statistics.median(r["ratio"] for r in rounds)
        print(f"{args.variant} / bare, requests per CPU-second, median of {len(rounds)} rounds: {ratio:.3f}")
        print(f"hook overhead: {(1 - ratio) * 100:.1f} %  (goal: ratio >= {args.goal:.2f})")
        if args.json:
            args.json.write_text(json.dumps({"rounds": rounds, "ratio_median": ratio}, indent=2))
        if ratio < args.goal:
            print(f"below the goal: {ratio:.3f} < {args.goal:.2f}", file=sys.stderr)
            raise SystemExit(1)
    finally:
        influx.stop()
        bare_server.stop()
        suite_server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

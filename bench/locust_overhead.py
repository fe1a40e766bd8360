"""Requests per second per CPU core: the suite with every hook vs bare Locust vs wrk.

All three load the same cheap endpoint (nginx `return 200`, or the Python target server when
nginx is not installed), one client at a time, side by side in one run:

  bare   bench/locust_bare.py: FastHttpUser, no listeners
  suite  bench/locust_probe.py: the suite's listeners (HDR recording, checks),
         its Prometheus exporter and its InfluxDB export to a real influxd
  wrk    the Debian wrk, one thread

Each client runs for a warm-up, then a measured window: requests counted by the server
(nginx stub_status), CPU seconds read from /proc for the client process. RPS per core =
requests / client CPU seconds. Rounds alternate the clients; the median round is reported.
Goal: the suite's RPS per core at least 90 % of bare Locust's (hook overhead <= 10 %).

    python bench/locust_overhead.py [--users 32] [--window 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from loadtests.run.config import InfluxExport, PrometheusExport, SuiteConfig  # noqa: E402
from loadtests.run.shape import Stage  # noqa: E402
from services.influxdb import InfluxDBServer  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


class Nginx:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="odavl-bench-nginx-"))
        self.port = free_port()
        conf = self.dir / "nginx.conf"
        conf.write_text(
            f"""daemon off;
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {self.dir}/error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {self.dir};
  proxy_temp_path {self.dir};
  fastcgi_temp_path {self.dir};
  uwsgi_temp_path {self.dir};
  scgi_temp_path {self.dir};
  server {{
    listen 127.0.0.1:{self.port};
    keepalive_requests 1000000;
    location = /fast {{ return 200 "ok"; }}
    location = /status {{ stub_status; }}
  }}
}}
"""
        )
        self.process = subprocess.Popen(
            ["nginx", "-c", str(conf), "-p", str(self.dir)], start_new_session=True
        )
        for _ in range(50):
            try:
                self.requests()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> int:
        with urllib.request.urlopen(f"{self.url}/status", timeout=5) as response:
            text = response.read().decode()
        # "server accepts handled requests\n N N N" ; minus the status requests themselves
        return int(text.split("\n")[2].split()[2])

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


def measure(cmd: list[str], env: dict[str, str], server: Nginx, warmup_s: float, window_s: float) -> dict:
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(warmup_s)
        if proc.poll() is not None:
            raise RuntimeError(f"{cmd[:4]} exited early with code {proc.returncode}")
        r1, c1, t1 = server.requests(), cpu_seconds(proc.pid), time.monotonic()
        time.sleep(window_s)
        r2, c2, t2 = server.requests(), cpu_seconds(proc.pid), time.monotonic()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
    requests = r2 - r1 - 1  # one status request inside the window
    cpu = c2 - c1
    return {
        "rps": requests / (t2 - t1),
        "cpu": cpu / (t2 - t1),
        "rps_per_core": requests / cpu if cpu else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="hook overhead: suite vs bare Locust vs wrk")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=4.0)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--breakdown", action="store_true", help="also run the suite without exporters")
    args = parser.parse_args()
    if shutil.which("nginx") is None or shutil.which("wrk") is None:
        sys.exit("needs the Debian packages nginx-light and wrk")
    server = Nginx()
    influx = InfluxDBServer(database="bench").start()
    work = Path(tempfile.mkdtemp(prefix="odavl-bench-"))
    try:
        suite = SuiteConfig(
            target=server.url,
            stages=(Stage(0.5, args.users), Stage(3600, args.users)),
            prometheus=PrometheusExport(enabled=True, master_port=free_port()),
            influxdb=InfluxExport(enabled=True, url=influx.url, database="bench"),
            results_path=str(work / "results.json"),
        )
        (work / "suite.json").write_text(suite.to_json())
        plain = SuiteConfig(
            target=server.url, stages=suite.stages, results_path=str(work / "results-plain.json")
        )
        (work / "suite-plain.json").write_text(plain.to_json())
        base_env = {
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            "PROBE_PATH": "/fast",
            "PROBE_WAIT_MAX_S": "0",
        }
        locust = [sys.executable, "-m", "locust", "--headless", "--host", server.url, "--only-summary"]
        clients = {
            "bare": (
                [*locust, "-f", "bench/locust_bare.py", "-u", str(args.users), "-r", "1000", "-t", "600s"],
                base_env,
            ),
            "suite": (
                [*locust, "-f", "bench/locust_probe.py"],
                {**base_env, "ODAVL_LOADTEST_CONFIG": str(work / "suite.json")},
            ),
            "wrk": (["wrk", "-t1", f"-c{args.users}", "-d600s", f"{server.url}/fast"], base_env),
        }
        if args.breakdown:
            # Where the cost sits: bare Locust checking each response in catch_response like the
            # suite's users, and the suite's listeners and checks without the exporters.
            clients["bare-checked"] = (
                [*locust, "-f", "bench/locust_bare.py", "-u", str(args.users), "-r", "1000", "-t", "600s"],
                {**base_env, "BARE_CHECK": "1"},
            )
            clients["suite-no-exporters"] = (
                [*locust, "-f", "bench/locust_probe.py"],
                {**base_env, "ODAVL_LOADTEST_CONFIG": str(work / "suite-plain.json")},
            )
        results: dict[str, list[dict]] = {name: [] for name in clients}
        for _ in range(args.rounds):
            for name, (cmd, env) in clients.items():
                results[name].append(measure(cmd, env, server, args.warmup, args.window))
        # Each round runs every client back to back, so a round's ratio to bare Locust is
        # measured under the same background load; the median ratio over rounds is reported.
        summary: dict = {}
        for name, runs in results.items():
            ratios = [
                run["rps_per_core"] / bare["rps_per_core"]
                for run, bare in zip(runs, results["bare"], strict=True)
            ]
            summary[name] = {
                "rps_per_core_median": round(statistics.median(r["rps_per_core"] for r in runs)),
                "rps_median": round(statistics.median(r["rps"] for r in runs)),
                "client_cores_median": round(statistics.median(r["cpu"] for r in runs), 2),
                "ratio_to_bare_median": round(statistics.median(ratios), 4),
                "rounds_rps_per_core": [round(r["rps_per_core"]) for r in runs],
                "rounds_ratio_to_bare": [round(x, 3) for x in ratios],
            }
        overhead = 1 - summary["suite"]["ratio_to_bare_median"]
        summary["hook_overhead"] = round(overhead, 4)
        summary["goal_met"] = overhead <= 0.10
        summary["points_written_to_influxdb"] = influx.scalar("SELECT count(duration_ms) FROM http_reqs")
        print(
            f"{'client':19} {'RPS/core':>9} {'RPS':>7} {'cores':>6} {'x bare':>7}  per round: ratio to bare"
        )
        for name in clients:
            s = summary[name]
            row = (
                f"{name:19} {s['rps_per_core_median']:>9} {s['rps_median']:>7} {s['client_cores_median']:>6}"
            )
            print(f"{row} {s['ratio_to_bare_median']:>7.3f}  {s['rounds_ratio_to_bare']}")
        print(
            f"hook overhead (suite vs bare, median of paired rounds): {overhead * 100:.1f} %  (goal <= 10 %)"
        )
        if args.json:
            args.json.write_text(json.dumps(summary, indent=2))
    finally:
        influx.stop()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

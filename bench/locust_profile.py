"""Where a Locust client's CPU goes per request: two clients side by side under cProfile.

Runs bare Locust (bench/locust_bare.py) and the suite with every hook (bench/locust_probe.py,
exporters to a real influxd) at the same time, pinned to the same CPU like
bench/locust_overhead_paired.py, each against its own nginx, each under cProfile with a CPU
clock (time.process_time: a greenlet waiting on the network costs nothing). Prints CPU
microseconds per request (requests counted by nginx): the totals, per package, and the
functions whose own time differs most between the two. Profiling slows every call down, so
read the figures as shares and differences, not as the unprofiled cost.

    python bench/locust_profile.py [--other suite|suite-no-exporters|bare-checked] [--seconds 20]
"""

from __future__ import annotations

import argparse
import os
import pstats
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.locust_overhead import Nginx, free_port  # noqa: E402
from bench.locust_overhead_paired import pin  # noqa: E402
from loadtests.run.config import InfluxExport, PrometheusExport, SuiteConfig  # noqa: E402
from loadtests.run.shape import Stage  # noqa: E402
from services.influxdb import InfluxDBServer  # noqa: E402

# SIGUSR1 starts profiling (after the start-up and warm-up), SIGUSR2 writes the profile and
# ends the client at once, however far the client's own shutdown would get.
WRAPPER = (
    "import cProfile, os, runpy, signal, sys, time; p = cProfile.Profile(time.process_time);"
    "signal.signal(signal.SIGUSR1, lambda *_: p.enable());"
    "signal.signal(signal.SIGUSR2, lambda *_: (p.disable(), p.dump_stats(os.environ['PROFILE_OUT']),"
    " os._exit(0))); sys.argv = ['locust', *sys.argv[1:]];"
    " runpy.run_module('locust', run_name='__main__')"
)
Row = tuple[float, float, float]  # own us/request, cumulative us/request, calls/request


def per_request(path: Path, requests: int) -> dict[tuple, Row]:
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    rows: dict[tuple, Row] = {}
    for (path_, line, func), v in stats.items():
        # "<function HTTPResponse.feed at 0x7f...>": the address differs between processes
        key = (path_, line, re.sub(r" at 0x[0-9a-f]+", "", func))
        old = rows.get(key, (0.0, 0.0, 0.0))
        rows[key] = (old[0] + v[2] / requests * 1e6, old[1] + v[3] / requests * 1e6, old[2] + v[1] / requests)
    return rows


def package(key: tuple) -> str:
    """site-packages/<pkg>/..., the project's top-level package, the stdlib module, or a builtin."""
    path = key[0]
    if path == "~":
        return "(builtins)"
    parts = Path(path).parts
    if "site-packages" in parts:
        return parts[parts.index("site-packages") + 1].split(".")[0]
    try:
        return Path(path).resolve().relative_to(REPO_ROOT).parts[0]
    except ValueError:
        return f"stdlib:{Path(path).stem}"


def where(key: tuple) -> str:
    path, line, func = key
    return f"{Path(path).name}:{line}({func})" if line else func


def main() -> None:
    parser = argparse.ArgumentParser(description="cProfile of bare Locust and the suite, side by side")
    parser.add_argument("--other", choices=("suite", "suite-no-exporters", "bare-checked"), default="suite")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--keep", type=Path, help="a directory to keep the two pstats files in")
    args = parser.parse_args()
    for tool in ("nginx", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"needs {tool} (the Debian packages nginx-light and util-linux)")
    bare_server, other_server = Nginx(), Nginx()
    influx = InfluxDBServer(database="bench").start() if args.other == "suite" else None
    work = Path(tempfile.mkdtemp(prefix="odavl-profile-"))
    out = args.keep or work
    out.mkdir(parents=True, exist_ok=True)
    try:
        for server in (bare_server, other_server, *([influx] if influx else [])):
            pin(server.process.pid, "1")  # servers on CPU 1, clients on CPU 0 (as the paired bench)
        exporters = influx is not None
        suite = SuiteConfig(
            target=other_server.url,
            stages=(Stage(0.5, args.users), Stage(3600, args.users)),
            prometheus=PrometheusExport(enabled=exporters, master_port=free_port()),
            influxdb=InfluxExport(enabled=exporters, url=influx.url if influx else "", database="bench"),
            results_path=str(work / "results.json"),
        )
        (work / "suite.json").write_text(suite.to_json())
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PROBE_PATH": "/fast", "PROBE_WAIT_MAX_S": "0"}
        locust = ["taskset", "-c", "0", sys.executable, "-c", WRAPPER, "--headless", "--only-summary"]
        bare_args = ["-f", "bench/locust_bare.py", "-u", str(args.users), "-r", "1000", "-t", "3600s"]
        clients = {
            "bare": ([*locust, "--host", bare_server.url, *bare_args], env, bare_server),
            args.other: (
                [*locust, "--host", other_server.url, *bare_args]
                if args.other == "bare-checked"
                else [*locust, "--host", other_server.url, "-f", "bench/locust_probe.py"],
                {**env, "BARE_CHECK": "1"}
                if args.other == "bare-checked"
                else {**env, "ODAVL_LOADTEST_CONFIG": str(work / "suite.json")},
                other_server,
            ),
        }
        procs, counts = {}, {}
        for name, (cmd, client_env, _server) in clients.items():
            procs[name] = subprocess.Popen(
                cmd,
                env={**client_env, "PROFILE_OUT": str(out / f"{name}.prof")},
                cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        time.sleep(args.warmup)
        for proc in procs.values():
            if proc.poll() is not None:
                sys.exit(f"a client exited early with code {proc.returncode}")
            os.killpg(proc.pid, signal.SIGUSR1)
        before = {name: server.requests() for name, (_c, _e, server) in clients.items()}
        time.sleep(args.seconds)
        for name, (_cmd, _env, server) in clients.items():
            counts[name] = server.requests() - before[name] - 1
        for proc in procs.values():
            os.killpg(proc.pid, signal.SIGUSR2)
        for name, proc in procs.items():
            if proc.wait(timeout=60) != 0:
                sys.exit(f"{name} client exited with code {proc.returncode}; its profile is missing")
        rows = {name: per_request(out / f"{name}.prof", counts[name]) for name in clients}
        base, other = rows["bare"], rows[args.other]
        for name in clients:
            total = sum(r[0] for r in rows[name].values())
            print(f"{name:20} {counts[name]:7d} requests  {total:7.1f} us CPU per request (profiled)")
        print(f"\nown us/request by package ({args.other} - bare):")
        by_package: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])
        for i, table in enumerate((base, other)):
            for key, row in table.items():
                by_package[package(key)][i] += row[0]
        for name, (b, o) in sorted(by_package.items(), key=lambda kv: -abs(kv[1][1] - kv[1][0]))[:15]:
            print(f"  {o - b:+8.2f}   {b:7.2f} -> {o:7.2f}  {name}")
        print(f"\nfunctions, own us/request ({args.other} - bare), calls/request, cumulative:")
        keys = sorted(
            set(base) | set(other), key=lambda k: -(other.get(k, (0, 0, 0))[0] - base.get(k, (0, 0, 0))[0])
        )
        for key in keys[: args.top]:
            b, o = base.get(key, (0.0, 0.0, 0.0)), other.get(key, (0.0, 0.0, 0.0))
            print(
                f"  {o[0] - b[0]:+8.2f}   {b[0]:7.2f} -> {o[0]:7.2f}  calls {b[2]:5.2f} -> {o[2]:5.2f}"
                f"  cum {o[1]:8.2f}  {where(key)}"
            )
    finally:
        if influx is not None:
            influx.stop()
        bare_server.stop()
        other_server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

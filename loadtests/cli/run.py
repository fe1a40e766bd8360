"""`python -m loadtests run`: a load test with a local master and N workers, shown live.

    python -m loadtests run --target http://127.0.0.1:8080 --profile staged --max-users 50 \
        --time-scale 0.02 --workers 2 --results reports/run.json

Test users come from ODAVL_LOADTEST_USERS (JSON) or --users-file / ODAVL_LOADTEST_USERS_FILE,
never from the command line. An https target's certificate must verify against the system store
(or --ca-bundle) before the run starts; the users follow no redirects. Ctrl-C stops the run and
keeps the partial results.

A target that is not a loopback address needs its environment named (--environment staging or
production). A target host listed by --production-host (default: odavl.studio, www.odavl.studio)
is production whatever the label says: such a run needs --environment production, the permission
--allow-production for this one run, and at most 2000 users.
Open model (k6's executors, loadtests/run/arrival.py): --executor constant-arrival-rate --rate 50
--duration 30s, or ramping-arrival-rate --start-rate 0 --rate-stages 30s:50,1m:50,30s:0, with
--pre-allocated-users and --max-users (the pool's limit); each request's latency from its
iteration's intended start is recorded as http_req_latency_intended beside http_req_duration.
--executor capacity --rate 10 --capacity-max-rate 500 --threshold 'http_req_failed: rate<0.01'
searches the highest rate that meets every --threshold line.
The run goes through `loadtests.pipeline.run_pipeline` (the run alone: no gate, no archive).
Each Locust process samples its CPU and event-loop lag; a run whose generators were saturated
(loadtests/results/generators.py) exits 3, no verdict, unless --accept-saturated-generators.
Exit codes (loadtests/exit_codes.py): 0 completed, 99 aborted by a live check, 3 completed on
saturated generators, 2 interrupted, failed or bad input.
"""

from __future__ import annotations

import argparse
import functools
import os
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from loadtests.errors import ConfigError
from loadtests.pipeline import PipelineRequest, run_pipeline
from loadtests.report.console import render_generators
from loadtests.report.open_model import render_open_model
from loadtests.results.metrics import USER_GROUPS
from loadtests.run.arrival import CLOSED, EXECUTORS, Executor, RateStage, parse_duration
from loadtests.run.config import (
    DEFAULT_PRODUCTION_HOSTS,
    LOOPBACK_NAMES,
    USERS_FILE_ENV,
    InfluxExport,
    PrometheusExport,
    RunConfig,
    check_target,
    is_loopback,
    load_test_users,
)
from loadtests.run.runner import run_local
from loadtests.run.shape import PROFILES, Stage
from loadtests.run.target_tls import ca_bundle_problem

__all__ = ["add_parser", "run_command"]


def _int_at_least(minimum: int):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} must be >= {minimum}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be > 0")
    return value


def parse_ca_bundle(text: str) -> str:
    """A CA bundle path -> its absolute path, once it is known to be a file of PEM certificates."""
    problem = ca_bundle_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r}: expected {problem}")
    return str(Path(text).resolve())


def parse_stages(text: str) -> tuple[Stage, ...]:
    """ "30:10,60:10,30:0" -> stages of (seconds, users)."""
    stages = []
    for item in text.split(","):
        duration, sep, target = item.strip().partition(":")
        try:
            stage = Stage(float(duration), int(target))
        except ValueError:
            stage = None
        if not sep or stage is None or stage.duration_s < 0 or stage.target < 0:
            raise argparse.ArgumentTypeError(f"stage {item!r} must be SECONDS:USERS, e.g. 30:10")
        stages.append(stage)
    return tuple(stages)


def parse_duration_option(text: str) -> float:
    """ "30s", "2m", "1m30s", "500ms" -> seconds (above 0)."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a duration above 0 such as 30s, 2m or 1m30s")
    return seconds


def parse_rate_stages(text: str) -> tuple[RateStage, ...]:
    """ "30s:50,1m:50,30s:0" -> ramping stages of (duration, iterations per time unit)."""
    stages = []
    for item in text.split(","):
        duration, sep, target = item.strip().partition(":")
        try:
            stage = RateStage(parse_duration(duration), float(target))
        except ValueError:
            stage = None
        if not sep or stage is None or stage.target < 0:
            raise argparse.ArgumentTypeError(
                f"stage {item!r} must be DURATION:RATE, e.g. 30s:50 (50 iterations per time unit)"
            )
        stages.append(stage)
    return tuple(stages)


def parse_weights(text: str) -> dict[str, int]:
    """ "dashboard=25,insight=20" -> weights; unknown groups are refused."""
    weights = {}
    for item in text.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name not in USER_GROUPS or not value.isdigit():
            raise argparse.ArgumentTypeError(
                f"weight {item!r} must be GROUP=N with GROUP one of {', '.join(USER_GROUPS)}"
            )
        weights[name] = int(value)
    return weights


def parse_think_time(text: str) -> tuple[float, float]:
    """ "1-6" -> (1.0, 6.0) seconds."""
    low, sep, high = text.partition("-")
    try:
        pair = (float(low), float(high))
    except ValueError:
        pair = None
    if not sep or pair is None or not 0 <= pair[0] <= pair[1]:
        raise argparse.ArgumentTypeError(f"think time {text!r} must be MIN-MAX seconds, e.g. 1-6")
    return pair


def parse_ports(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"ports {text!r} must be comma-separated numbers") from None


def add_parser(subparsers: Any) -> None:
    """Register `run` on the `python -m loadtests` parser."""
    p = subparsers.add_parser(
        "run", help="run a load test with a local master and N workers", description=__doc__
    )
    p.add_argument("--target", required=True, help="base URL of the system under test (loopback here)")
    p.add_argument(
        "--allowed-host", action="append", dest="allowed_hosts", help="allowed target host (repeatable)"
    )
    p.add_argument(
        "--ca-bundle",
        type=parse_ca_bundle,
        help="PEM file of CA certificates to trust for an https target, besides the system store",
    )
    p.add_argument("--profile", default="staged", choices=sorted(PROFILES))
    p.add_argument(
        "--max-users",
        type=_non_negative_int,
        default=1200,
        help="users at the profile's peak; with an arrival-rate executor, the most users of its pool",
    )
    p.add_argument(
        "--time-scale",
        type=_positive_float,
        default=1.0,
        help="1.0 = the stages as specified (staged: 26 minutes)",
    )
    p.add_argument(
        "--stages", type=parse_stages, help="explicit stages SECONDS:USERS,... (overrides --profile)"
    )
    p.add_argument("--workers", type=_positive_int, default=2)
    p.add_argument("--weights", type=parse_weights, help="GROUP=N,... relative user-group weights")
    p.add_argument("--think-time", type=parse_think_time, default=(1.0, 6.0), help="MIN-MAX seconds (1-6)")
    p.add_argument(
        "--browser-share", type=float, default=0.0, help="share of users in headless Chromium (web vitals)"
    )
    p.add_argument("--users-file", type=Path, help=f"JSON list of test users (or set {USERS_FILE_ENV})")
    p.add_argument("--results", default="reports/results.json", help="results document to write")
    p.add_argument("--run-id", default="local")
    p.add_argument("--stack", default="local")
    p.add_argument(
        "--environment",
        choices=("local", "staging", "production"),
        default=None,
        help="the target's environment; required unless the target is a loopback address (then local)",
    )
    p.add_argument(
        "--production-host",
        action="append",
        dest="production_hosts",
        metavar="HOST",
        help="a production host, or *.DOMAIN for its subdomains (repeatable; default: "
        f"{', '.join(DEFAULT_PRODUCTION_HOSTS)})",
    )
    p.add_argument(
        "--allow-production",
        action="store_true",
        help="permission for this one run to load a production target",
    )
    p.add_argument("--stop-timeout", type=float, default=10.0, help="seconds users get to finish at the end")
    p.add_argument("--prometheus-port", type=_non_negative_int, help="serve the master's /metrics here")
    p.add_argument("--prometheus-worker-ports", type=parse_ports, default=(), help="one port per worker")
    p.add_argument(
        "--prometheus-linger", type=float, default=0.0, help="seconds to keep /metrics up afterwards"
    )
    p.add_argument("--influx-url", help="InfluxDB v1 base URL, e.g. http://127.0.0.1:8086")
    p.add_argument("--influx-db", default="loadtests")
    p.add_argument("--log-dir", help="keep the master's and workers' logs here")
    p.add_argument(
        "--locustfile",
        metavar="PATH",
        help="a scenario of your own: user classes derived from loadtests.suite.user_base.SuiteUser "
        "(default: the specification's journeys)",
    )
    _add_executor_options(p)
    p.add_argument(
        "--accept-saturated-generators",
        action="store_true",
        help="exit as the run's status says even when its load generators were saturated "
        "(default: exit 3, no verdict)",
    )
    p.set_defaults(handler=run_command)


def _add_executor_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("open model (arrival-rate executors)")
    group.add_argument("--executor", choices=EXECUTORS, default=CLOSED, help="how iterations start")
    group.add_argument(
        "--rate", type=_positive_float, help="iterations per --time-unit (capacity: the first step)"
    )
    group.add_argument(
        "--time-unit", type=parse_duration_option, default=1.0, help="the rates' time unit (1s)"
    )
    group.add_argument("--duration", type=parse_duration_option, help="constant-arrival-rate: e.g. 30s")
    group.add_argument(
        "--start-rate", type=float, default=0.0, help="ramping-arrival-rate: the rate at the start"
    )
    group.add_argument(
        "--rate-stages", type=parse_rate_stages, default=(), help="ramping-arrival-rate: DURATION:RATE,..."
    )
    group.add_argument(
        "--pre-allocated-users",
        type=_non_negative_int,
        help="users created before the first iteration (default: 10, at most --max-users)",
    )
    group.add_argument("--capacity-max-rate", type=_positive_float, help="capacity: the highest rate to try")
    group.add_argument(
        "--capacity-growth", type=float, default=1.5, help="capacity: factor from one step to the next (1.5)"
    )
    group.add_argument(
        "--capacity-precision", type=float, default=5.0, help="capacity: bisection precision in percent (5)"
    )
    group.add_argument(
        "--capacity-step", type=parse_duration_option, default=20.0, help="capacity: each step's length (20s)"
    )
    group.add_argument(
        "--capacity-confirm",
        type=parse_duration_option,
        default=60.0,
        help="capacity: the confirming hold (1m)",
    )
    group.add_argument(
        "--threshold",
        action="append",
        metavar="LINE",
        help="capacity: an SLO threshold line each step is judged with (repeatable)",
    )


def executor_from_args(args: argparse.Namespace) -> Executor:
    """The executor the options ask for (its problems are named by RunConfig.validate)."""
    if args.executor == CLOSED:
        return Executor()
    max_users = args.max_users
    pre_allocated = args.pre_allocated_users if args.pre_allocated_users is not None else min(10, max_users)
    return Executor(
        kind=args.executor,
        rate=args.rate or 0.0,
        time_unit_s=args.time_unit,
        duration_s=args.duration or 0.0,
        start_rate=args.start_rate,
        stages=tuple(args.rate_stages),
        pre_allocated_users=pre_allocated,
        max_users=max_users,
        capacity_max_rate=args.capacity_max_rate or 0.0,
        capacity_growth=args.capacity_growth,
        capacity_precision=args.capacity_precision / 100.0,
        capacity_step_s=args.capacity_step,
        capacity_confirm_s=args.capacity_confirm,
    )


def environment_of(args: argparse.Namespace) -> str:
    """The run's environment: as given, or local for a loopback target; anything else is refused.

    The target's allow-list is checked first, so a host that may not be loaded at all is named as
    such. A remote target without an explicit environment would otherwise run as "local".
    """
    host = check_target(args.target, tuple(args.allowed_hosts or LOOPBACK_NAMES))
    if args.environment is not None:
        return args.environment
    if is_loopback(host):
        return "local"
    raise ConfigError(
        f"--environment: not given, but the target host {host!r} is not a loopback address; "
        "expected --environment staging or --environment production"
    )


def config_from_args(args: argparse.Namespace) -> RunConfig:
    environ = dict(os.environ)
    if args.users_file:
        environ["ODAVL_LOADTEST_USERS_FILE"] = str(args.users_file)
    extra: dict[str, Any] = {}
    if args.allowed_hosts:
        extra["allowed_hosts"] = tuple(args.allowed_hosts)
    if args.ca_bundle:
        extra["ca_bundle"] = args.ca_bundle
    if args.weights:
        extra["user_weights"] = args.weights
    if args.production_hosts:
        extra["production_hosts"] = tuple(args.production_hosts)
    return RunConfig(
        target=args.target,
        profile=args.profile,
        max_users=args.max_users,
        time_scale=args.time_scale,
        stages=args.stages,
        workers=args.workers,
        think_time_min_s=args.think_time[0],
        think_time_max_s=args.think_time[1],
        browser_share=args.browser_share,
        test_users=load_test_users(environ),
        results_path=args.results,
        run_id=args.run_id,
        stack=args.stack,
        environment=environment_of(args),
        allow_production=args.allow_production,
        stop_timeout_s=args.stop_timeout,
        prometheus=PrometheusExport(
            enabled=args.prometheus_port is not None,
            master_port=args.prometheus_port or 0,
            worker_ports=args.prometheus_worker_ports,
            linger_s=args.prometheus_linger,
        ),
        influxdb=InfluxExport(
            enabled=bool(args.influx_url), url=args.influx_url or "", database=args.influx_db
        ),
        log_dir=args.log_dir,
        scenario=args.locustfile,
        executor=executor_from_args(args),
        thresholds=tuple(getattr(args, "threshold", None) or ()),
        **extra,
    )


def progress_table(progress: dict | None) -> Table:
    table = Table(title="load test", show_header=True, header_style="bold")
    for column in ("elapsed", "stage", "users", "RPS", "p95 (5 s)", "requests", "errors", "workers"):
        table.add_column(column, justify="right")
    if progress:
        p95 = progress.get("p95_ms")
        workers = progress.get("workers", [])
        lost = sum(1 for w in workers if w["state"] == "lost")
        table.add_row(
            f"{progress['t_s']:.0f} s",
            f"{progress['stage']}/{progress['stages']}" if progress["stage"] else "-",
            str(progress["users"]),
            f"{progress['rps']:.1f}",
            f"{p95:.0f} ms" if p95 is not None else "-",
            str(progress["requests"]),
            f"{progress['failures']} ({progress['error_rate'] * 100:.2f} %)",
            f"{len(workers) - lost} up" + (f", [red]{lost} lost[/red]" if lost else ""),
        )
        for event in progress.get("events", [])[-3:]:
            table.caption = event
    return table


def run_command(args: argparse.Namespace, console: Console | None = None) -> int:
    """The `run` subcommand: the run shown live, then its summary; returns the exit code."""
    console = console or Console()
    config = config_from_args(args)
    config.validate()  # bad input is reported before anything starts
    with Live(progress_table(None), console=console, refresh_per_second=2, transient=False) as live:
        show = functools.partial(_show_progress, live)
        result = run_pipeline(
            PipelineRequest(config, accept_saturated_generators=args.accept_saturated_generators),
            fleet_runner=functools.partial(run_local, on_tick=show),
        )
    doc = result.doc
    requests = doc["metrics"].get("http_reqs", {}).get("count", 0)
    duration = doc["metrics"].get("http_req_duration")
    summary = f"{doc['status']}: {requests} requests"
    if duration:
        summary += f", p95 {duration['p95']:.1f} ms, p99 {duration['p99']:.1f} ms"
    lost = [w["id"] for w in doc["workers"] if w["state"] == "lost"]
    if lost:
        summary += f"; lost workers: {', '.join(lost)}"
    if doc["abort_reason"]:
        summary += f" ({doc['abort_reason']})"
    console.print(summary)
    render_generators(doc, console)
    render_open_model(doc, console)
    console.print(f"results: {Path(args.results).resolve()}")
    return result.exit_code


def _show_progress(live: Live, progress: dict) -> None:
    live.update(progress_table(progress))

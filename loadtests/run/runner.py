"""Local distributed runner: one Locust master and N worker processes on this machine.

Python API (used by `python -m loadtests run` and by the LoadTestRun dynamic resource)::

    from loadtests.run.config import RunConfig, TestUser, PrometheusExport, InfluxExport
    from loadtests.run.runner import run_local

    doc = run_local(
        RunConfig(
            target="http://127.0.0.1:8080",       # host must be in allowed_hosts (loopback by default)
            ca_bundle=None,                       # or a PEM file of private CAs for an https target
            profile="staged", max_users=50, time_scale=0.02,   # or stages=(Stage(10, 5), ...)
            workers=2,
            user_weights={"dashboard": 25, ...}, think_time_min_s=1, think_time_max_s=6,
            test_users=(TestUser("a@x.example", "secret"),),   # reaches workers by environment only
            results_path="reports/run-42.json", run_id="run-42", stack="local", environment="local",
            prometheus=PrometheusExport(enabled=True, master_port=9646, worker_ports=(9647, 9648)),
            influxdb=InfluxExport(enabled=True, url="http://127.0.0.1:8086", database="loadtests"),
            live_check=my_check,                  # (snapshot: dict) -> str | None
        ),
        on_tick=print,                            # (progress: dict) -> None, about once a second
        cancel=threading.Event(),                 # set it from any thread to stop the run
    )

`run_local` returns the results document (loadtests/results/document.py; also written to
`results_path`). It blocks until the run ends; the run's status tells how:
  completed    the profile ran to its end
  aborted      `live_check` returned a reason (it is the document's `abort_reason`)
  interrupted  Ctrl-C (KeyboardInterrupt), SIGTERM, the `cancel` event or the run timeout;
               partial results are kept
  failed       the test could not run: the target's TLS certificate does not verify (checked
               before any process starts, so nothing is sent), or the master could not run
               (e.g. workers never connected); `abort_reason` says why
A worker that dies mid-run is reported (progress `events`, a log warning) and marked "lost" in
the document's `workers`; the run goes on with the others.

`on_tick(progress)` receives {"t_s", "users", "rps", "p95_ms", "requests", "failures",
"error_rate", "stage", "stages", "workers": [{"id", "state"}], "events": [str, ...]}.
`live_check(snapshot)` is called every `live_check_interval_s` with the merged statistics of
all workers in results-document form (status "running", `duration_s` = seconds since start).

Every process the runner starts gets its pid (PARENT_PID_ENV): if the runner dies without
stopping them (killed, or a second Ctrl-C), the master stops the test as interrupted, writes the
partial results and quits its workers (loadtests/suite/parent_watch.py).

Bad settings raise ConfigError (TargetNotAllowedError for a host outside allowed_hosts) before
anything starts; processes that cannot start raise RunError. Every child process is bounded by
the run timeout and is ended (terminate, then kill) before `run_local` returns.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from loadtests.errors import ResultsError, RunError
from loadtests.results.document import build_document, load_document, write_document
from loadtests.results.files import write_atomically
from loadtests.run.child_env import minimal_env
from loadtests.run.config import (
    CONFIG_ENV,
    PARENT_PID_ENV,
    USERS_ENV,
    WEB_VITALS_ENV,
    WORKER_ID_ENV,
    RunConfig,
    SuiteConfig,
)
from loadtests.run.shape import total_duration
from loadtests.run.target_tls import read_ca_bundle, tls_problem

__all__ = ["RunHandle", "run_local"]

log = logging.getLogger("loadtests.run.runner")

PACKAGE_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PACKAGE_DIR.parent
SUITE_LOCUSTFILE = PACKAGE_DIR / "suite" / "locustfile.py"
# Loaded before a scenario of your own: the suite's listeners and the profile shape.
SCENARIO_HARNESS = PACKAGE_DIR / "suite" / "harness.py"
POLL_INTERVAL_S = 0.25
SHUTDOWN_GRACE_S = 20.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class RunHandle:
    """The processes and files of one run (exposed for tests that stop a worker on purpose)."""

    config: RunConfig
    run_dir: Path
    log_dir: Path
    suite: SuiteConfig
    master: subprocess.Popen | None = None
    workers: list[subprocess.Popen] = field(default_factory=list)
    reported_exits: set[int] = field(default_factory=set)
    events: list[str] = field(default_factory=list)
    progress_offset: int = 0
    snapshot_mtime: float = 0.0
    last_progress: dict | None = None
    control_sent: bool = False

    def send_control(self, action: str, reason: str) -> None:
        if self.control_sent:
            return
        self.control_sent = True
        write_atomically(self.suite.control_path, json.dumps({"action": action, "reason": reason}))


def _suite_config(config: RunConfig, run_dir: Path) -> SuiteConfig:
    executor = config.executor
    if executor.open_model:  # the executor replaces the profile: named after it, its user limit
        profile, max_users = executor.kind, executor.max_users
    else:
        profile, max_users = (config.profile if not config.stages else "custom"), config.max_users
    return SuiteConfig(
        target=config.target,
        run_id=config.run_id,
        stack=config.stack,
        environment=config.environment,
        profile=profile,
        max_users=max_users,
        time_scale=config.time_scale,
        stages=config.resolved_stages(),
        user_weights=dict(config.user_weights),
        think_time_min_s=config.think_time_min_s,
        think_time_max_s=config.think_time_max_s,
        browser_share=config.browser_share,
        results_path=str(Path(config.results_path).resolve()),
        progress_path=str(run_dir / "progress.jsonl"),
        snapshot_path=str(run_dir / "snapshot.json") if config.live_check else "",
        control_path=str(run_dir / "control.json"),
        live_check_interval_s=config.live_check_interval_s,
        stop_timeout_s=config.stop_timeout_s,
        prometheus=config.prometheus,
        influxdb=config.influxdb,
        allowed_hosts=tuple(config.allowed_hosts),
        ca_bundle_pem=read_ca_bundle(config.ca_bundle) if config.ca_bundle else "",
        executor=executor,
        thresholds=tuple(config.thresholds),
    )


# What the master and workers read from the parent besides the basics: the headless browser's
# binary (ODAVL_CHROMIUM, loadtests/suite/browser/user.py), the web-vitals script (WEB_VITALS_ENV), the
# TLS trust store OpenSSL uses for the target, and the settings of the project's probe
# locustfiles (bench/locust_probe.py, bench/locust_bare.py).
_CHILD_PASSTHROUGH = (
    "ODAVL_CHROMIUM",
    WEB_VITALS_ENV,
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "PROBE_PATH",
    "PROBE_WAIT_MAX_S",
    "PROBE_RAW_DIR",
    "PROBE_LOGIN",
    "BARE_CHECK",
)


def _child_env(handle: RunHandle, worker_id: str | None) -> dict[str, str]:
    """A minimal environment: no passphrase, cloud keys or test users inherited from the parent."""
    env = minimal_env(
        {
            CONFIG_ENV: str(handle.run_dir / "suite.json"),
            "PYTHONPATH": os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
            "PYTHONUNBUFFERED": "1",
            # Orphans stop themselves when this process dies without stopping them.
            PARENT_PID_ENV: str(os.getpid()),
        },
        passthrough=_CHILD_PASSTHROUGH,
    )
    if worker_id is not None:
        env[WORKER_ID_ENV] = worker_id
        users = handle.config.test_users
        if users:
            env[USERS_ENV] = json.dumps([{"email": u.email, "password": u.password} for u in users])
    return env


def _spawn(cmd: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with open(log_path, "ab") as log_file:
        try:
            return subprocess.Popen(
                cmd,
                env=env,
                cwd=str(REPO_ROOT),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the runner only; it stops the fleet in order
            )
        except OSError as exc:
            raise RunError(f"cannot start {cmd[0]}: {exc.strerror}") from None


def _prepare(config: RunConfig) -> RunHandle:
    """Validate `config` and write the run's files; no process is started yet."""
    config.validate()
    run_dir = Path(tempfile.mkdtemp(prefix="odavl-loadtest-"))
    log_dir = Path(config.log_dir) if config.log_dir else run_dir
    log_dir.mkdir(parents=True, exist_ok=True)
    suite = _suite_config(config, run_dir)
    (run_dir / "suite.json").write_text(suite.to_json(), encoding="utf-8")
    handle = RunHandle(config=config, run_dir=run_dir, log_dir=log_dir, suite=suite)
    Path(suite.results_path).unlink(missing_ok=True)
    return handle


def start_fleet(config: RunConfig) -> RunHandle:
    """Validate `config`, write the run's files and start the master and its workers."""
    handle = _prepare(config)
    _start_processes(handle)
    return handle


def locustfile_argument(config: RunConfig) -> str:
    """Locust's `-f`: the suite, another complete locustfile, or the harness then a scenario."""
    if config.scenario:
        return f"{SCENARIO_HARNESS},{Path(config.scenario).resolve()}"
    return str(Path(config.locustfile).resolve()) if config.locustfile else str(SUITE_LOCUSTFILE)


def _start_processes(handle: RunHandle) -> None:
    config, log_dir = handle.config, handle.log_dir
    locustfile = locustfile_argument(config)
    port = _free_port()
    stop_timeout = str(math.ceil(config.stop_timeout_s))  # Locust takes whole seconds
    common = [sys.executable, "-m", "locust", "-f", locustfile, "--stop-timeout", stop_timeout]
    master_cmd = [
        *common,
        "--master",
        "--headless",
        "--host",
        config.target,
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        str(config.workers),
        "--expect-workers-max-wait",
        str(int(config.expect_workers_timeout_s)),
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]
    handle.master = _spawn(master_cmd, _child_env(handle, None), log_dir / "master.log")
    for i in range(1, config.workers + 1):
        worker_cmd = [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]
        handle.workers.append(
            _spawn(worker_cmd, _child_env(handle, f"worker-{i}"), log_dir / f"worker-{i}.log")
        )


def _read_progress(handle: RunHandle) -> dict | None:
    path = Path(handle.suite.progress_path)
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as fh:
        fh.seek(handle.progress_offset)
        chunk = fh.read()
    last_newline = chunk.rfind("\n")
    if last_newline < 0:
        return None
    handle.progress_offset += len(chunk[: last_newline + 1].encode("utf-8"))
    latest = None
    for line in chunk[:last_newline].splitlines():
        with contextlib.suppress(json.JSONDecodeError):
            latest = json.loads(line)
    return latest


def _watch_workers(handle: RunHandle) -> None:
    for i, proc in enumerate(handle.workers, start=1):
        code = proc.poll()
        if code is not None and i not in handle.reported_exits:
            handle.reported_exits.add(i)
            finishing = handle.last_progress is not None and handle.last_progress.get("stage") == 0
            if code == 0 and finishing:
                continue  # a worker leaving after the last stage is the normal end
            message = f"worker-{i} exited with code {code}; the run continues on the other workers"
            handle.events.append(message)
            log.warning(message)


def _run_live_check(handle: RunHandle) -> None:
    check = handle.config.live_check
    path = Path(handle.suite.snapshot_path) if handle.suite.snapshot_path else None
    if check is None or path is None or handle.control_sent:
        return
    try:
        mtime = path.stat().st_mtime
    except FileNotFoundError:
        return
    if mtime == handle.snapshot_mtime:
        return
    handle.snapshot_mtime = mtime
    try:
        snapshot = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return
    reason = check(snapshot)
    if reason:
        log.warning("live check aborts the run: %s", reason)
        handle.events.append(f"aborting: {reason}")
        handle.send_control("abort", reason)


def _tick(handle: RunHandle, on_tick: Callable[[dict], None] | None) -> None:
    _watch_workers(handle)
    progress = _read_progress(handle)
    if progress is not None:
        handle.last_progress = progress
        if on_tick is not None:
            on_tick({**progress, "events": list(handle.events)})
    _run_live_check(handle)


def _stop_process(proc: subprocess.Popen, grace_s: float) -> None:
    if proc.poll() is not None:
        return
    try:
        proc.wait(timeout=grace_s)
        return
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait(timeout=5)


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (`kill`, `pulumi cancel`'s end, a CI job stopped) ends the run as Ctrl-C does:
    interrupted, partial results kept. Only the main thread may set a handler; elsewhere (the
    provider's request threads) a dying process leaves it to the processes' parent watch."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def wait_fleet(
    handle: RunHandle,
    on_tick: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Follow the run until the master exits; returns the results document.

    Setting ``cancel`` (from any thread: the Pulumi engine's cancel request reaches the provider
    on a gRPC thread, where no signal handler can run) stops the run as Ctrl-C does.
    """
    with _sigterm_as_interrupt():
        return _follow(handle, on_tick, cancel)


class _Cancelled(Exception):
    """``cancel`` was set: leave the follow loop the way Ctrl-C leaves it."""


def _follow(
    handle: RunHandle, on_tick: Callable[[dict], None] | None, cancel: threading.Event | None
) -> dict:
    config = handle.config
    assert handle.master is not None
    timeout = config.run_timeout_s or (
        total_duration(handle.suite.stages) + config.expect_workers_timeout_s + config.stop_timeout_s + 60
    )
    deadline = time.monotonic() + timeout
    interrupted = False
    try:
        while handle.master.poll() is None:
            if cancel is not None and cancel.is_set():
                raise _Cancelled
            _tick(handle, on_tick)
            if time.monotonic() > deadline and not handle.control_sent:
                handle.events.append(f"run timeout after {timeout:.0f} s")
                handle.send_control("interrupt", f"run timeout after {timeout:.0f} s")
                deadline = time.monotonic() + config.stop_timeout_s + SHUTDOWN_GRACE_S
            elif time.monotonic() > deadline:
                log.error("the master did not stop in time; terminating it")
                break
            time.sleep(POLL_INTERVAL_S)
    except (KeyboardInterrupt, _Cancelled) as stop:
        interrupted = True
        how = "cancelled" if isinstance(stop, _Cancelled) else "Ctrl-C or SIGTERM"
        handle.events.append(f"interrupted ({how})")
        handle.send_control("interrupt", f"interrupted by the operator ({how})")
        try:
            _stop_process(handle.master, config.stop_timeout_s + SHUTDOWN_GRACE_S)
        except KeyboardInterrupt:
            handle.master.kill()
    finally:
        _stop_process(handle.master, 0.1 if interrupted else SHUTDOWN_GRACE_S)
        linger = config.prometheus.linger_s if config.prometheus.enabled else 0.0
        for proc in handle.workers:
            _stop_process(proc, SHUTDOWN_GRACE_S + linger)
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C while cleaning up
            _tick(handle, on_tick)
    return _collect(handle)


def _collect(handle: RunHandle) -> dict:
    config = handle.config
    code = handle.master.returncode if handle.master else None
    try:
        doc = load_document(handle.suite.results_path)
    except ResultsError as exc:
        reason = (
            f"the master exited with code {code} without results ({exc}); see {handle.log_dir / 'master.log'}"
        )
        log.error(reason)
        doc = _failed_document(handle, reason)
        write_document(doc, config.results_path)
        return doc
    if not config.log_dir and doc["status"] in ("completed", "aborted", "interrupted"):
        shutil.rmtree(handle.run_dir, ignore_errors=True)
    return doc


def _failed_document(handle: RunHandle, reason: str) -> dict:
    now = time.time()
    return build_document(
        **handle.suite.identity(),
        started_at=now,
        ended_at=now,
        status="failed",
        abort_reason=reason,
        summaries={"metrics": {}, "endpoints": {}, "groups": {}, "errors": []},
        timeline=[],
        workers=[],
    )


def _refuse(handle: RunHandle, reason: str) -> dict:
    """The results of a run refused before any Locust process started: "failed", with the reason."""
    log.error("the run is refused: %s", reason)
    doc = _failed_document(handle, reason)
    write_document(doc, handle.config.results_path)
    if not handle.config.log_dir:
        shutil.rmtree(handle.run_dir, ignore_errors=True)
    return doc


def run_local(
    config: RunConfig,
    on_tick: Callable[[dict], None] | None = None,
    cancel: threading.Event | None = None,
) -> dict:
    """Run a load test with a local master and `config.workers` workers; see the module docstring."""
    handle = _prepare(config)
    # The workers verify the certificate on every connection as well; checking it here first
    # turns an untrusted target into one clear reason instead of a run of failed requests.
    tls_refusal = tls_problem(config.target, handle.suite.ca_bundle_pem)
    if tls_refusal:
        return _refuse(handle, tls_refusal)
    _start_processes(handle)
    try:
        return wait_fleet(handle, on_tick, cancel)
    finally:
        for proc in [handle.master, *handle.workers]:
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)

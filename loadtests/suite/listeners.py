"""Locust listeners of the suite: recording, worker-to-master shipping, exporters, results.

`setup_suite_listeners(events, config)` registers everything on an `Events` instance and returns
the `SuiteState`; `suite_state(environment)` finds it again (e.g. for a browser user recording
web vitals with `suite_state(env).record_web_vital(...)`).

Worker side: every request and check is one row appended to the process's `RequestLog`
(loadtests/suite/request_log.py); the rows are recorded in batches into its `MetricsCollector`
(exact values in HDR histograms) and the exporters when the log is full and before anything
reads them (a report, a scrape, an InfluxDB flush, the progress tick); at each Locust report
(`report_to_master`, every 3 s and once more at quit) the collector's delta travels to the
master under data["odavl"].

Generator health: every process samples its own CPU and event-loop lag on a timer
(loadtests/suite/health.py) from the test's start to its stop; workers ship the samples with
their reports, and the results document's `generators` section says whether any generator was
saturated (loadtests/results/generators.py).

Garbage collection: from the test's start to its stop every process runs with its start-up
heap frozen and a higher gen-0 threshold (loadtests/suite/gc_tuning.py), so the collector does
not walk Locust's and the suite's long-lived objects every few dozen requests.

Open model: with an arrival-rate executor (loadtests/suite/arrival.py) each request of an
iteration is also recorded with its latency from the iteration's intended start
(http_req_latency_intended), and a capacity search's steps into collectors of their own.

Master side: `worker_report` merges each delta, so the master holds the union of all samples.
A progress greenlet samples users once a second, closes 5-second timeline buckets, writes a
progress line (for the runner's live view), writes a results-form snapshot for the live check,
watches for lost workers and reads the control file (abort / interrupt from the runner).
At quit the master writes the results document (loadtests/results/document.py).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
import weakref
from dataclasses import dataclass
from pathlib import Path

import gevent
from geventhttpclient.header import Headers
from geventhttpclient.useragent import CompatResponse
from locust.env import Environment
from locust.event import Events
from locust.runners import STATE_MISSING, LocalRunner, MasterRunner, Runner, WorkerRunner
from locust.stats import StatsError

from loadtests.results.document import build_document, write_document
from loadtests.results.files import write_atomically
from loadtests.results.generators import FleetHealth
from loadtests.run.config import WORKER_ID_ENV, SuiteConfig
from loadtests.run.shape import stage_at, total_duration
from loadtests.suite.arrival import OpenModel, install_open_model
from loadtests.suite.collector import TIMELINE_BUCKET_S, MetricsCollector
from loadtests.suite.export_influx import HttpLineWriter, InfluxLineSink
from loadtests.suite.export_prometheus import PrometheusExporter
from loadtests.suite.gc_tuning import RunCollectorTuning
from loadtests.suite.health import HealthSampler
from loadtests.suite.locust_fixes import cache_default_args
from loadtests.suite.parent_watch import WORKER_GRACE_S, parent_pid, watch_parent
from loadtests.suite.request_log import RequestLog

__all__ = ["SuiteState", "setup_suite_listeners", "suite_state"]

log = logging.getLogger("loadtests")

# A worker reports every 3 s; a bucket is closed once no report can still add to it.
BUCKET_CLOSE_LAG_S = 8.0
WORKER_REPORT_INTERVAL_S = 3.0
PROGRESS_INTERVAL_S = 1.0
# Keyed by the Events object itself, held weakly: an id() could be reused by a later Events
# object once the first is gone, handing it a stale state.
_STATES: weakref.WeakKeyDictionary[Events, SuiteState] = weakref.WeakKeyDictionary()


@dataclass
class WorkerRecord:
    label: str
    client_id: str
    requests: int = 0
    failures: int = 0
    lost: bool = False


class SuiteState:
    """Everything the listeners of one Locust process share."""

    def __init__(self, config: SuiteConfig) -> None:
        self.config = config
        self.stages = config.stages
        self.collector = MetricsCollector()
        # The request path's one write; taken into the collector and the sinks in batches.
        self.log = RequestLog()
        self.collector.before_read = self.take_log
        self.environment: Environment | None = None
        self.worker_label = os.environ.get(WORKER_ID_ENV, "")
        self.prometheus: PrometheusExporter | None = None
        self.influx: InfluxLineSink | None = None
        self.sinks: list = []
        # Arrival-rate executors (loadtests/suite/arrival.py); None in the closed model.
        self.open_model: OpenModel | None = None
        # This process's CPU and event-loop lag, from the test's start to its stop (timer-driven).
        self.sampler = HealthSampler()
        self.gc_tuning = RunCollectorTuning()
        # master side
        self.health = FleetHealth()
        self.workers: dict[str, WorkerRecord] = {}
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.status = "running"
        self.abort_reason: str | None = None
        self.timeline: list[dict] = []
        self.users_by_bucket: dict[int, int] = {}
        self.vus = 0
        self.vus_max = 0
        self.last_entry: dict | None = None
        self.stopping = False
        self.results_written = False
        self._greenlets: list[gevent.Greenlet] = []

    # --- recording (workers, and the master for web vitals it never sees) ----------------
    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response=None,
        context: dict | None = None,
        exception: Exception | None = None,
        **_kwargs,
    ) -> None:
        group = context.get("group", "") if context else ""
        failed = exception is not None
        db_ms = db_query = None
        fields = _fast_response_fields(response) if isinstance(response, CompatResponse) else None
        if fields is not None:
            status, ttfb_ms, bytes_sent, headers = fields
            # geventhttpclient's Headers: a dict keyed by lower-case name (see _header).
            entry = dict.get(headers, "x-db-query-duration")
            if entry is not None:
                raw = entry[1] if isinstance(entry, tuple) else entry[-1][1]
                if raw:
                    try:
                        db_ms = float(raw)
                    except ValueError:
                        db_ms = None
                    named = dict.get(headers, "x-db-query-name")
                    if named is not None:
                        db_query = named[1] if isinstance(named, tuple) else named[-1][1]
        else:
            ttfb_ms, bytes_sent = _ttfb_and_bytes_sent(response)
            status = getattr(response, "status_code", 0) or 0
            headers = getattr(response, "headers", None)
            if headers is not None:  # (not `if headers`: Headers.__len__ walks every field)
                db_ms, db_query = _db_timing(headers)
        now_ns = time.time_ns()
        open_model = self.open_model
        # Open model: the latency from the iteration's intended start, beside the service time.
        intended_ms = open_model.intended_ms(response_time) if open_model is not None else None
        request_log = self.log
        received = response_length or 0
        row = (name, group, status, response_time, failed, ttfb_ms, db_ms, db_query, received, bytes_sent)
        request_log.rows.append((*row, now_ns, intended_ms))
        if intended_ms is not None and open_model.step_collectors:  # a capacity search's step
            step = open_model.step_collector()
            if step is not None:
                step.record_request(
                    name, group, response_time, failed, now_ns / 1e9, ttfb_ms, db_ms, received, bytes_sent,
                    intended_ms,
                )  # fmt: skip
        if failed:
            self.collector.record_error(name, StatsError.parse_error(exception))
        if len(request_log.rows) >= request_log.limit:  # (RequestLog.full, without its call)
            self.take_log()

    def record_check(self, endpoint: str, group: str, passed: bool) -> None:
        request_log = self.log
        request_log.checks.append((endpoint, group, passed, time.time_ns()))
        if self.open_model is not None and self.open_model.step_collectors:
            step = self.open_model.step_collector()
            if step is not None:
                step.record_check(endpoint, group, passed)
        if len(request_log.checks) >= request_log.limit:
            self.take_log()

    def take_log(self) -> None:
        """Record the request log's rows into the collector and the exporters (see
        loadtests/suite/request_log.py); called when it is full and before anything reads."""
        batch = self.log.take()
        if batch:
            self.collector.record_batch(batch)
            for sink in self.sinks:
                sink.record_batch(batch)

    def record_auth_failure(self, endpoint: str, group: str) -> None:
        self.collector.record_auth_failure(endpoint, group)
        if self.prometheus is not None:
            self.prometheus.observe_auth_failure(endpoint)
        if self.influx is not None:
            self.influx.observe_auth_failure(endpoint, group)

    def record_web_vital(self, name: str, page: str, group: str, value: float) -> None:
        """`name` is lcp, inp (value in ms) or cls (unitless)."""
        self.collector.record_trend(f"web_vitals_{name}", page, group, value)
        if self.prometheus is not None:
            self.prometheus.observe_web_vital(name, page, value)

    # --- worker -> master ------------------------------------------------------------------
    def on_report_to_master(self, client_id: str, data: dict, **_kwargs) -> None:
        data["odavl"] = {
            "worker": self.worker_label or client_id,
            "delta": self.collector.take_delta(),
            "health": self.sampler.take(),
        }

    def on_worker_report(self, client_id: str, data: dict, **_kwargs) -> None:
        payload = data.get("odavl")
        if not payload:
            return
        delta = payload["delta"]
        self.collector.merge_delta(delta)
        self.health.add(payload["worker"], "worker", payload.get("health"), *self._health_window())
        record = self.workers.get(client_id)
        if record is None:
            record = self.workers[client_id] = WorkerRecord(payload["worker"], client_id)
        for _endpoint, _group, _bucket, slot in delta["slots"]:
            record.requests += slot["counts"][0]
            record.failures += slot["counts"][1]

    # --- master: lifecycle -----------------------------------------------------------------
    def on_test_start(self, environment: Environment, **_kwargs) -> None:
        # The master judges a distributed run; a standalone (local) Locust judges its own.
        if not isinstance(environment.runner, MasterRunner | LocalRunner) or self.started_at is not None:
            return
        self.started_at = time.time()
        self._greenlets.append(gevent.spawn(self._progress_loop))

    def on_quitting(self, environment: Environment, **_kwargs) -> None:
        runner = environment.runner
        if isinstance(runner, MasterRunner | LocalRunner):
            self.finish(runner)
        linger = self.config.prometheus.linger_s if self.prometheus is not None else 0.0
        if self.influx is not None:
            self.influx.flush_all()
            if self.influx.dropped:
                log.warning("InfluxDB export dropped %d points in all", self.influx.dropped)
        if linger > 0:
            # Keep /metrics up so a last scrape sees the final values.
            gevent.sleep(linger)

    def finish(self, runner: Runner) -> None:
        if self.results_written:
            return
        self._check_workers(runner)
        if not isinstance(runner, MasterRunner):
            self._fold_local()
        now = time.time()
        started = self.started_at or now
        if self.status == "running":
            planned_end = started + total_duration(self.stages)
            if self.started_at is not None and now >= planned_end:
                self.status = "completed"
                self.ended_at = planned_end
            elif self.started_at is None:
                self.status = "failed"
                self.abort_reason = self.abort_reason or "the test never started (workers did not connect)"
            else:
                # Ended from outside before the profile did: Locust's own stop, or (on
                # Kubernetes, a cancel or the deadline) every worker taken away.
                self.status = "interrupted"
                lost = sorted(w.label for w in self.workers.values() if w.lost)
                self.abort_reason = self.abort_reason or (
                    f"the test stopped before its profile ended (workers gone: {', '.join(lost)})"
                    if lost
                    else "the test stopped before its profile ended"
                )
        self.ended_at = self.ended_at or now
        self._close_buckets(everything=True)
        doc = self.document(final=True)
        path = write_document(doc, self.config.results_path)
        self.results_written = True
        log.info("results written to %s (status %s)", path, self.status)

    def request_stop(self, status: str, reason: str | None) -> None:
        """Stop the run early with `status` (aborted / interrupted / failed; completed: a
        capacity search that is done)."""
        if self.status != "running":
            return
        self.status = status
        self.abort_reason = reason
        self.ended_at = time.time()
        log.warning("stopping the run: %s%s", status, f" ({reason})" if reason else "")
        runner = self.environment.runner if self.environment else None
        if runner is not None:
            gevent.spawn(_stop_then_quit, runner)

    # --- master: documents ------------------------------------------------------------------
    def document(self, final: bool) -> dict:
        now = time.time()
        started = self.started_at or now
        ended = self.ended_at if final and self.ended_at else now
        summaries = self.collector.summaries(max(ended - started, 1e-9), vus=(self.vus, self.vus_max))
        if self.open_model is not None:
            summaries = self.open_model.amend(summaries, max(ended - started, 1e-9), final)
        self._fold_own_health()
        doc = build_document(
            **self.config.identity(),
            started_at=started,
            ended_at=ended,
            status=self.status,
            abort_reason=self.abort_reason,
            summaries=summaries,
            timeline=list(self.timeline),
            workers=[
                {
                    "id": w.label,
                    "state": "lost" if w.lost else "finished",
                    "requests": w.requests,
                    "failures": w.failures,
                }
                for w in sorted(self.workers.values(), key=lambda w: w.label)
            ],
            generators=self.health.section(),
        )
        if self.open_model is not None:  # the executor's (and a capacity search's) sections
            doc.update(self.open_model.sections())
        return doc

    def _fold_own_health(self) -> None:
        """This process's own health samples: the master's, or a standalone generator's."""
        runner = self.environment.runner if self.environment else None
        role = "master" if isinstance(runner, MasterRunner) else "local"
        self.health.add(role, role, self.sampler.take(), *self._health_window())

    def _health_window(self) -> tuple[float | None, float | None]:
        """The health samples that count: from the start to the profile's (or an early) end."""
        if self.started_at is None:
            return None, None
        return self.started_at, self.ended_at or self.started_at + total_duration(self.stages)

    def _close_buckets(self, everything: bool = False) -> None:
        started = self.started_at
        if started is None:
            return
        horizon = time.time() - BUCKET_CLOSE_LAG_S
        end = self.ended_at
        for index in sorted(self.collector.timeline):
            bucket_start = index * TIMELINE_BUCKET_S
            bucket_end = bucket_start + TIMELINE_BUCKET_S
            if not everything and bucket_end > horizon:
                break
            bucket = self.collector.timeline.pop(index)
            span_start = max(bucket_start, started)
            span_end = min(bucket_end, end) if end else bucket_end
            span = max(span_end - span_start, 1.0)
            requests = bucket.requests
            entry = {
                "t_s": round(max(bucket_start - started, 0.0), 3),
                "users": self.users_by_bucket.pop(index, self.vus),
                "rps": round(requests / span, 3),
                "p50_ms": round(bucket.duration.percentile(50), 3),
                "p95_ms": round(bucket.duration.percentile(95), 3),
                "p99_ms": round(bucket.duration.percentile(99), 3),
                "error_rate": bucket.failures / requests if requests else 0.0,
                "db_p95_ms": round(bucket.db.percentile(95), 3) if bucket.db.count else None,
                "stage": stage_at(self.stages, (bucket_start + bucket_end) / 2 - started),
            }
            self.timeline.append(entry)
            self.last_entry = entry
        for index in [i for i in self.users_by_bucket if i * TIMELINE_BUCKET_S + TIMELINE_BUCKET_S < horizon]:
            if index not in self.collector.timeline:
                self.users_by_bucket.pop(index)

    def _fold_local(self) -> None:
        """Standalone Locust: fold pending samples and count them as the one "local" worker."""
        totals = self.collector.totals()  # totals() folds the pending samples first
        record = self.workers.setdefault("local", WorkerRecord("local", "local"))
        record.requests, record.failures = totals

    def on_test_stopping(self, **_kwargs) -> None:
        # Workers leave on their own from here on; leaving is no longer "lost".
        self.stopping = True

    def on_test_stop(self, environment: Environment, **_kwargs) -> None:
        """On a worker, once its users have stopped: no wait before the master's quit.

        After a stop, a Locust worker sleeps its whole stop timeout before it reads its next
        message (to report itself ready for another test). A suite worker serves one run, so
        that sleep only holds back the master's quit: ten seconds added to every run's end,
        and to every Ctrl-C. The users have stopped by now, so nothing else reads the value.
        """
        if isinstance(environment.runner, WorkerRunner):
            environment.stop_timeout = 0

    def _check_workers(self, runner: Runner) -> None:
        if not isinstance(runner, MasterRunner):
            if self.status == "running" and not self.workers:
                self.workers["local"] = WorkerRecord("local", "local")
            return
        if self.status != "running" or self.stopping:
            return
        for client_id, record in self.workers.items():
            client = runner.clients.get(client_id)
            lost = client is None or client.state == STATE_MISSING
            if lost and not record.lost:
                log.warning(
                    "worker %s (%s) was lost; the run continues on the others", record.label, client_id
                )
            record.lost = lost
        for client_id, client in list(runner.clients.items()):
            if client_id not in self.workers:
                self.workers[client_id] = WorkerRecord(
                    client_id, client_id, lost=client.state == STATE_MISSING
                )

    def _progress_loop(self) -> None:
        runner = self.environment.runner
        cfg = self.config
        next_snapshot = time.monotonic() + cfg.live_check_interval_s
        while self.status == "running":
            gevent.sleep(PROGRESS_INTERVAL_S)
            try:
                self._progress_tick(runner, cfg)
                if cfg.snapshot_path and time.monotonic() >= next_snapshot:
                    next_snapshot = time.monotonic() + cfg.live_check_interval_s
                    write_atomically(cfg.snapshot_path, json.dumps(self.document(final=False)))
            except Exception:  # the run must go on; the error is logged with its traceback
                log.exception("progress update failed")

    def _progress_tick(self, runner: Runner, cfg: SuiteConfig) -> None:
        now = time.time()
        local = not isinstance(runner, MasterRunner)
        if local:
            # No workers ship deltas here: fold this process's own samples (bounded memory).
            self._fold_local()
        self.vus = self.open_model.users() if self.open_model is not None else runner.user_count
        self.vus_max = max(self.vus_max, self.vus)
        self.users_by_bucket[int(now) // TIMELINE_BUCKET_S] = self.vus
        if self.prometheus is not None:
            self.prometheus.set_users(self.vus)
        if self.influx is not None:
            self.influx.observe_users(self.vus)
        self._check_workers(runner)
        self._close_buckets()
        self._fold_own_health()
        requests, failures = self.collector.totals()
        active = [] if local else [w for w in runner.clients.values() if w.state != STATE_MISSING]
        if not local and self.workers and not active and not self.stopping:
            self.request_stop("failed", "every worker was lost")
        elapsed = now - (self.started_at or now)
        if cfg.progress_path:
            line = {
                "t_s": round(elapsed, 1),
                "users": self.vus,
                "rps": round(runner.stats.total.current_rps, 1),
                "p95_ms": self._recent_p95(),
                "requests": requests,
                "failures": failures,
                "error_rate": failures / requests if requests else 0.0,
                "stage": stage_at(self.stages, elapsed),
                "stages": len(self.stages),
                "workers": [
                    {"id": w.label, "state": "lost" if w.lost else "running"} for w in self.workers.values()
                ],
            }
            with open(cfg.progress_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
        if cfg.control_path:
            self._read_control(cfg.control_path)

    def _recent_p95(self) -> float | None:
        """p95 of the newest 5-second bucket that has data (it may still be filling)."""
        filled = [i for i, bucket in self.collector.timeline.items() if bucket.requests]
        if filled:
            return round(self.collector.timeline[max(filled)].duration.percentile(95), 3)
        return self.last_entry["p95_ms"] if self.last_entry else None

    def _read_control(self, path: str) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        if not text.strip():
            return
        try:
            command = json.loads(text)
        except json.JSONDecodeError:
            return  # being written; read again next tick
        action = command.get("action")
        if action == "abort":
            self.request_stop("aborted", str(command.get("reason") or "aborted by the live check"))
        elif action == "interrupt":
            self.request_stop("interrupted", str(command.get("reason") or "interrupted"))


def _ttfb_and_bytes_sent(response) -> tuple[float | None, int]:
    """Time to first byte (ms) and bytes sent, as the HTTP client already measured them.

    geventhttpclient times each exchange up to the response headers (`_elapsed`, seconds; the
    body is read later) and keeps the request head it sent (`_sent_request`); the body sent is
    the request's payload. Reading them costs nothing on the wire. Other senders (the browser
    users) set `ttfb_ms` and `bytes_sent` on the response they report. (A FastHttpUser's
    response is read by _fast_response_fields instead; this path takes what that one leaves.)
    """
    ttfb_ms = getattr(response, "ttfb_ms", None)
    if ttfb_ms is None:
        elapsed = getattr(response, "_elapsed", None)
        ttfb_ms = elapsed * 1000.0 if elapsed is not None else None
    sent = getattr(response, "bytes_sent", None)
    if sent is None:
        head = getattr(response, "_sent_request", None)
        payload = getattr(getattr(response, "_request", None), "payload", None)
        sent = (len(head) if head else 0) + (len(payload) if payload else 0)
    return ttfb_ms, sent


def _fast_response_fields(response: CompatResponse) -> tuple[int, float | None, int, Headers] | None:
    """Status, TTFB (ms), bytes sent and headers of a FastHttpUser's response (most requests),
    read from its slots in one go; None when it is not one whose exchange took place (Locust's
    ErrorResponse leaves the slots unset), which the general path then reads. The same values as
    the general path (_ttfb_and_bytes_sent, _header), without its getattr calls."""
    try:
        ghc = response._response
        elapsed = response._elapsed
        head = response._sent_request
        request = response._request
        headers = response.headers
    except AttributeError:
        return None
    if not isinstance(headers, Headers):
        return None
    status = (ghc.get_code() if ghc is not None else 0) or 0
    payload = getattr(request, "payload", None) if request is not None else None
    sent = (len(head) if head else 0) + (len(payload) if payload else 0)
    return status, (elapsed * 1000.0 if elapsed is not None else None), sent, headers


def _db_timing(headers) -> tuple[float | None, str | None]:
    """The reference app's database timing headers: milliseconds and the query's name."""
    raw = _header(headers, "X-Db-Query-Duration")
    if not raw:
        return None, None
    try:
        db_ms = float(raw)
    except ValueError:
        db_ms = None
    return db_ms, _header(headers, "X-Db-Query-Name")


def _header(headers, name: str) -> str | None:
    """One response header. geventhttpclient's Headers is a dict keyed by lower-case name
    holding (name, value) pairs (a list of them when repeated); reading that dict directly
    skips its case-folding accessor, which costs more than the rest of the listener."""
    if isinstance(headers, Headers):
        entry = dict.get(headers, name.lower())
        if entry is None:
            return None
        return entry[1] if isinstance(entry, tuple) else entry[-1][1]
    return headers.get(name)


def _stop_then_quit(runner: MasterRunner) -> None:
    """Stop the users (they finish their request within the stop timeout), wait for the
    workers' next report so their last samples are merged, then end the run."""
    runner.stop()
    gevent.sleep(WORKER_REPORT_INTERVAL_S + 0.5)
    runner.quit()


def suite_state(environment: Environment) -> SuiteState:
    """The SuiteState registered on this environment's events."""
    return _STATES[environment.events]


def setup_suite_listeners(events: Events, config: SuiteConfig) -> SuiteState:
    """Register every listener of the suite on `events`; returns their shared state."""
    cache_default_args()  # a worker's spawn messages would otherwise stall its loop 100 ms each
    state = SuiteState(config)
    _STATES[events] = state

    def on_init(environment: Environment, **_kwargs) -> None:
        state.environment = environment
        runner = environment.runner
        is_worker = isinstance(runner, WorkerRunner)
        prom = config.prometheus
        if prom.enabled:
            state.prometheus = PrometheusExporter()
            if is_worker:
                index = _worker_index(state.worker_label)
                port = prom.worker_ports[index] if index is not None and index < len(prom.worker_ports) else 0
            else:
                port = prom.master_port
            bound = state.prometheus.serve(prom.host, port)
            log.info("Prometheus metrics on http://%s:%d/metrics", prom.host, bound)
            if is_worker or not isinstance(runner, MasterRunner):
                state.sinks.append(state.prometheus)
                state.prometheus.before_collect = state.take_log
        influx = config.influxdb
        if influx.enabled:
            state.influx = InfluxLineSink(
                HttpLineWriter(influx.url, influx.database),
                run_id=config.run_id,
                worker=state.worker_label or ("master" if isinstance(runner, MasterRunner) else "local"),
                queue_size=influx.queue_size,
                batch_size=influx.batch_size,
                on_drop=state.prometheus.count_dropped_points if state.prometheus else None,
            )
            if not isinstance(runner, MasterRunner):
                state.sinks.append(state.influx)
                state.influx.before_flush = state.take_log
            gevent.spawn(state.influx.flush_forever, influx.flush_interval_s, gevent.sleep)

        starter = parent_pid()
        if starter is not None:
            state._greenlets.append(
                gevent.spawn(
                    watch_parent,
                    starter,
                    functools.partial(_stop_orphaned_run, state, runner),
                    grace_s=WORKER_GRACE_S if is_worker else 0.0,
                )
            )

    events.init.add_listener(on_init)
    events.request.add_listener(state.on_request)
    events.report_to_master.add_listener(state.on_report_to_master)
    events.worker_report.add_listener(state.on_worker_report)
    events.test_start.add_listener(state.on_test_start)
    events.test_stopping.add_listener(state.on_test_stopping)
    events.test_stop.add_listener(state.on_test_stop)
    events.test_start.add_listener(state.sampler.start)
    events.test_stop.add_listener(state.sampler.stop)
    events.test_start.add_listener(state.gc_tuning.start)
    events.test_stop.add_listener(state.gc_tuning.stop)
    events.quitting.add_listener(state.on_quitting)
    if config.executor.open_model:
        state.open_model = install_open_model(events, state)
    return state


def _stop_orphaned_run(state: SuiteState, runner: Runner, reason: str) -> None:
    """The runner that started this process is gone: end the run with what was measured."""
    if isinstance(runner, MasterRunner | LocalRunner) and state.started_at is not None:
        state.request_stop("interrupted", reason)
    else:
        runner.quit()


def _worker_index(label: str) -> int | None:
    """worker-3 -> 2 (ports are listed per worker, 1-based labels)."""
    prefix, _, number = label.rpartition("-")
    return int(number) - 1 if prefix and number.isdigit() else None

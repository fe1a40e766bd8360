"""Generator health: was the load generator itself the bottleneck of a run?

A Locust process that runs out of CPU, or whose gevent event loop falls behind, measures its
own queueing as the target's latency and offers less load than asked for; its numbers prove
nothing about the target. Each process of a run samples itself (loadtests/suite/health.py):

    CPU        process CPU time over wall time, once a second, as a share of one core (a Locust
               process runs its users on one thread, so 1.0 is all it can get)
    CPU wait   on Linux, the share of that second its event-loop thread was ready to run but
               waited for a CPU (a host whose cores are shared, a CPU limit)
    loop lag   a greenlet sleeps 0.1 s in a loop; how late it wakes up (ms) is how long every
               other greenlet waited for the loop at that moment

Workers ship their samples to the master with each report; the master keeps one
`ProcessHealth` per process (a `FleetHealth`), counting only the samples taken within the run's
profile (not the drain after it, when no user runs), and writes the results document's
`generators` section (`FleetHealth.section()`):

    {"saturated": bool, "reason": str, "limits": {...},
     "workers": [{"id", "role", "cpu_samples", "sampled_s", "cpu_busy_fraction", "cpu_mean",
                  "cpu_max", "cpu_wait_mean", "lag_samples", "lag_p99_ms", "lag_max_ms",
                  "saturated", "reason"}],
     "master": {... the same fields ...} | null,
     "accepted": bool}          (added by the SLO gate: it judged a saturated run anyway)

A load generator (a worker, or a standalone process) is saturated when
  - it was busy above CPU_BUSY (90 %) of a core for more than BUSY_FRACTION_LIMIT (10 %) of its
    sampled time (time-weighted: a sample that covers a blocked loop's 2 s counts 2 s); busy is
    its CPU share plus its CPU wait: a process that got half a core and waited the other half
    for it never idled, or
  - its event-loop lag p99 is above LAG_P99_LIMIT_MS (100 ms), over at least LATE_WAKEUPS_MIN
    (5) wake-ups that late: in a short run p99 is the second-highest sample, and one or two
    stalls (users building their TLS contexts as they start, a garbage collection) are not a
    saturated generator, where five are half a second of the loop behind. A greenlet that waits for a
    response is resumed only when the loop gets back to it, so a response time measured while
    the loop is 100 ms behind is up to 100 ms too long: at p99, one sample in a hundred is
    then off by half the tightest default bound (TTFB p95 < 200 ms) and by a tenth of the p99
    latency bound (1000 ms). A healthy process wakes within a few milliseconds (once Locust's
    own 100 ms stall at each spawn message is gone: loadtests/suite/locust_fixes.py).
The run is saturated when any load generator is. The master is reported too (a saturated
master merges and writes late) but does not decide: it sends no request, so its lag is in no
measurement.

Pure: no gevent, no clock; `loadtests.slo.evaluate` reads the section to withhold the verdict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from loadtests.results.histogram import TrendHistogram

__all__ = [
    "BUSY_FRACTION_LIMIT",
    "CPU_BUSY",
    "LAG_P99_LIMIT_MS",
    "LATE_WAKEUPS_MIN",
    "LOAD_ROLES",
    "FleetHealth",
    "ProcessHealth",
    "generators_output",
    "generators_saturated",
    "health_line",
]

CPU_BUSY = 0.90
BUSY_FRACTION_LIMIT = 0.10
LAG_P99_LIMIT_MS = 100.0
LATE_WAKEUPS_MIN = 5
# The processes that send requests; the master only merges what they measured.
LOAD_ROLES = ("worker", "local")
ROLES = (*LOAD_ROLES, "master")
# Lag samples are held in an HDR histogram of 10 µs resolution up to 10 minutes.
_LAG_SCALE = 100


def _pct(share: float) -> str:
    return f"{share * 100:.0f} %"


@dataclass
class ProcessHealth:
    """The health samples of one Locust process, merged; memory does not grow with the run."""

    id: str
    role: str
    sampled_s: float = 0.0
    busy_s: float = 0.0
    cpu_seconds: float = 0.0
    wait_seconds: float = 0.0
    cpu_max: float = 0.0
    cpu_samples: int = 0
    late_wakeups: int = 0  # lag samples above LAG_P99_LIMIT_MS
    lag: TrendHistogram = field(default_factory=lambda: TrendHistogram(scale=_LAG_SCALE))

    def add(
        self, samples: Mapping[str, Any] | None, since: float | None = None, until: float | None = None
    ) -> None:
        """Fold one batch in, keeping the samples within [since, until] (epoch s; None: unbounded):
        `{"cpu": [[epoch_s, interval_s, share(, waiting share)], ...], "lag_ms": [[epoch_s, ms], ...]}`.
        A CPU sample counts by the middle of the interval it covers."""
        if not samples:
            return
        low = float("-inf") if since is None else since
        high = float("inf") if until is None else until
        for ended_at, interval_s, share, *waiting in samples.get("cpu") or ():
            interval_s, share = float(interval_s), float(share)
            wait = float(waiting[0]) if waiting and waiting[0] is not None else 0.0
            if interval_s <= 0 or not low <= float(ended_at) - interval_s / 2 <= high:
                continue
            self.cpu_samples += 1
            self.sampled_s += interval_s
            self.cpu_seconds += share * interval_s
            self.wait_seconds += wait * interval_s
            self.cpu_max = max(self.cpu_max, share)
            if share + wait > CPU_BUSY:
                self.busy_s += interval_s
        for taken_at, lag_ms in samples.get("lag_ms") or ():
            if low <= float(taken_at) <= high:
                self.lag.record(float(lag_ms))
                if float(lag_ms) > LAG_P99_LIMIT_MS:
                    self.late_wakeups += 1

    @property
    def busy_fraction(self) -> float:
        return self.busy_s / self.sampled_s if self.sampled_s else 0.0

    @property
    def cpu_mean(self) -> float:
        return self.cpu_seconds / self.sampled_s if self.sampled_s else 0.0

    @property
    def cpu_wait_mean(self) -> float:
        return self.wait_seconds / self.sampled_s if self.sampled_s else 0.0

    def problems(self) -> list[str]:
        """Why this process counts as saturated ([] when it does not)."""
        found = []
        if self.busy_fraction > BUSY_FRACTION_LIMIT:
            # The CPU share alone can stay low in a busy process that gets only part of a core.
            waiting = f" plus {_pct(self.cpu_wait_mean)} waiting for a CPU" if self.wait_seconds else ""
            found.append(
                f"above {_pct(CPU_BUSY)} CPU for {_pct(self.busy_fraction)} of the run "
                f"(limit {_pct(BUSY_FRACTION_LIMIT)}; mean {_pct(self.cpu_mean)}{waiting})"
            )
        lag_p99 = self.lag.percentile(99)
        if lag_p99 > LAG_P99_LIMIT_MS and self.late_wakeups >= LATE_WAKEUPS_MIN:
            found.append(
                f"event-loop lag p99 {lag_p99:.0f} ms (limit {LAG_P99_LIMIT_MS:.0f} ms; "
                f"{self.late_wakeups} wake-ups that late)"
            )
        return found

    def summary(self) -> dict[str, Any]:
        """This process's entry in the `generators` section (ratios 0.0-1.0, ms)."""
        problems = self.problems()
        if problems:
            reason = "; ".join(problems)
        elif not self.cpu_samples and not self.lag.count:
            reason = "no samples"
        else:
            reason = "healthy"
        return {
            "id": self.id,
            "role": self.role,
            "cpu_samples": self.cpu_samples,
            "sampled_s": round(self.sampled_s, 3),
            "cpu_busy_fraction": round(self.busy_fraction, 4),
            "cpu_mean": round(self.cpu_mean, 4),
            "cpu_max": round(self.cpu_max, 4),
            "cpu_wait_mean": round(self.cpu_wait_mean, 4),
            "lag_samples": self.lag.count,
            "lag_p99_ms": round(self.lag.percentile(99), 2),
            "lag_max_ms": round(self.lag.max(), 2),
            "saturated": bool(problems),
            "reason": reason,
        }


class FleetHealth:
    """Every process's health, keyed by its id (worker label, "master" or "local")."""

    def __init__(self) -> None:
        self.processes: dict[str, ProcessHealth] = {}

    def add(
        self,
        process_id: str,
        role: str,
        samples: Mapping[str, Any] | None,
        since: float | None = None,
        until: float | None = None,
    ) -> None:
        """Fold a batch of one process's samples in (see `ProcessHealth.add`)."""
        if role not in ROLES:
            raise ValueError(f"unknown generator role {role!r}; expected one of {', '.join(ROLES)}")
        health = self.processes.get(process_id)
        if health is None:
            health = self.processes[process_id] = ProcessHealth(process_id, role)
        health.add(samples, since, until)

    def section(self) -> dict[str, Any]:
        """The results document's `generators` section."""
        return generators_section(self.processes.values())


def generators_section(processes: Iterable[ProcessHealth]) -> dict[str, Any]:
    """The `generators` section for these processes (see the module docstring)."""
    ordered = sorted(processes, key=lambda p: (ROLES.index(p.role), p.id))
    generators = [p.summary() for p in ordered if p.role in LOAD_ROLES]
    master = next((p.summary() for p in ordered if p.role == "master"), None)
    saturated = [g for g in generators if g["saturated"]]
    if saturated:
        reason = "; ".join(f"{g['id']} {g['reason']}" for g in saturated)
    elif not any(g["cpu_samples"] or g["lag_samples"] for g in generators):
        reason = "no generator reported health samples"
    else:
        reason = (
            f"every generator stayed at or below {_pct(CPU_BUSY)} CPU for at least "
            f"{_pct(1 - BUSY_FRACTION_LIMIT)} of the run, event-loop lag p99 at or below "
            f"{LAG_P99_LIMIT_MS:.0f} ms (or fewer than {LATE_WAKEUPS_MIN} wake-ups that late)"
        )
    return {
        "saturated": bool(saturated),
        "reason": reason,
        "limits": {
            "cpu_busy": CPU_BUSY,
            "busy_fraction": BUSY_FRACTION_LIMIT,
            "lag_p99_ms": LAG_P99_LIMIT_MS,
            "late_wakeups_min": LATE_WAKEUPS_MIN,
        },
        "workers": generators,
        "master": master,
    }


# ------------------------------------------------------------------------------------ readers


def generators_saturated(doc: Mapping[str, Any] | None) -> bool:
    """Whether a results document says its generators were saturated (False without the section,
    as in documents written before generator health was measured)."""
    section = (doc or {}).get("generators")
    return isinstance(section, Mapping) and bool(section.get("saturated"))


_OUTPUT_KEYS = (
    "id",
    "cpu_busy_fraction",
    "cpu_mean",
    "cpu_wait_mean",
    "lag_p99_ms",
    "lag_max_ms",
    "saturated",
)


def generators_output(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    """The stack output `generators`: the run-level flag, its reason, whether the gate accepted a
    saturated run, and each generator's key figures; None for a document without the section."""
    section = doc.get("generators")
    if not isinstance(section, Mapping):
        return None
    return {
        "saturated": bool(section.get("saturated")),
        "accepted": bool(section.get("accepted")),
        "reason": section.get("reason"),
        "workers": [{key: w.get(key) for key in _OUTPUT_KEYS} for w in section.get("workers") or ()],
    }


def health_line(doc: Mapping[str, Any]) -> str | None:
    """One line for the console: the saturated generators, or the busiest one's figures."""
    section = doc.get("generators")
    if not isinstance(section, Mapping):
        return None
    workers = [w for w in section.get("workers") or () if isinstance(w, Mapping)]
    if section.get("saturated"):
        accepted = " (accepted: judged anyway)" if section.get("accepted") else ""
        return f"generators SATURATED{accepted}: {section.get('reason')}"
    if not workers:
        return f"generators: {section.get('reason')}"
    busiest = max(workers, key=lambda w: (w.get("cpu_busy_fraction") or 0, w.get("cpu_mean") or 0))
    return (
        f"generators healthy ({len(workers)}): busiest {busiest.get('id')} CPU mean "
        f"{_pct(busiest.get('cpu_mean') or 0)}, above {_pct(CPU_BUSY)} for "
        f"{_pct(busiest.get('cpu_busy_fraction') or 0)} of the run; loop lag p99 "
        f"{max((w.get('lag_p99_ms') or 0) for w in workers):.1f} ms"
    )

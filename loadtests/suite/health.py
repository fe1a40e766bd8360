"""The health sampler of one Locust process: its CPU use and its gevent event-loop lag.

One greenlet per process, from the test's start to its stop: it sleeps LAG_INTERVAL_S, records
how late it woke up (ms: the event-loop lag), and about once a second records, over the wall
time since the last CPU sample,
  - the process's CPU time (a share of one core: a Locust process runs its users on one thread);
  - on Linux, the time its main thread (the event loop's) was ready to run but waited for a CPU
    (`/proc/self/schedstat`, the scheduler's run-queue delay). A CPU-bound process on a host
    whose cores are shared, or under a CPU limit, gets less than a core, so its CPU share alone
    stays low although it never idles; CPU plus waiting is what it asked for.
Eleven wake-ups a second, a few clock reads each and one small /proc read a second: nothing on
the request path.

Every sample carries its wall-clock time (epoch seconds, as the request timeline does), so the
master can keep only those within the run's profile (not the drain after it, with no users).
`take()` hands over the samples gathered since the last call and forgets them (a worker ships
them with each report to the master, the master and a standalone process fold their own);
their aggregation and the saturation rules are loadtests/results/generators.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent

__all__ = ["CPU_INTERVAL_S", "LAG_INTERVAL_S", "HealthSampler", "run_queue_wait_s"]

LAG_INTERVAL_S = 0.1
CPU_INTERVAL_S = 1.0
SCHEDSTAT_PATH = "/proc/self/schedstat"


def run_queue_wait_s(path: str = SCHEDSTAT_PATH) -> float | None:
    """Seconds this process's main thread has waited on a run queue since it started; None where
    the kernel does not say (not Linux, or no scheduler statistics).

    The file holds "<ns on a CPU> <ns waiting on a run queue> <time slices>".
    """
    try:
        with open(path, encoding="ascii") as fh:
            fields = fh.read().split()
        return int(fields[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


class HealthSampler:
    """Samples this process; `start`/`stop` take Locust's event keywords and ignore them."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        cpu_clock: Callable[[], float] = time.process_time,
        wait_clock: Callable[[], float | None] = run_queue_wait_s,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = gevent.sleep,
    ) -> None:
        self._clock = clock
        self._cpu_clock = cpu_clock
        self._wait_clock = wait_clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._greenlet: gevent.Greenlet | None = None
        # (monotonic s, CPU s, run-queue wait s or None) at the last CPU sample
        self._cpu_mark: tuple[float, float, float | None] | None = None
        # [epoch s at its end, interval_s, CPU share of one core(, share of it waiting for a CPU)]
        self.cpu: list[list[float]] = []
        self.lag_ms: list[list[float]] = []  # [epoch s, ms late]

    def start(self, **_kwargs) -> None:
        if self._greenlet is not None:
            return
        self.mark()
        self._greenlet = gevent.spawn(self._run)

    def stop(self, **_kwargs) -> None:
        """Stop sampling; the CPU use since the last sample is kept as a (shorter) sample."""
        if self._greenlet is None:
            return
        self._greenlet.kill(block=False)
        self._greenlet = None
        self.sample_cpu(self._clock())
        self._cpu_mark = None

    def take(self) -> dict[str, list]:
        """The samples gathered since the last call: {"cpu": [[epoch_s, interval_s, share] or
        [epoch_s, interval_s, share, waiting share], ...], "lag_ms": [[epoch_s, ms], ...]}."""
        samples = {"cpu": self.cpu, "lag_ms": self.lag_ms}
        self.cpu, self.lag_ms = [], []
        return samples

    def mark(self) -> None:
        """Start the next CPU sample now."""
        self._cpu_mark = (self._clock(), self._cpu_clock(), self._wait_clock())

    def tick(self) -> None:
        """One lag sample (sleeps LAG_INTERVAL_S), then a CPU sample when one is due."""
        before = self._clock()
        self._sleep(LAG_INTERVAL_S)
        now = self._clock()
        late_ms = round(max(0.0, now - before - LAG_INTERVAL_S) * 1000.0, 3)
        self.lag_ms.append([round(self._wall_clock(), 3), late_ms])
        if self._cpu_mark is not None and now - self._cpu_mark[0] >= CPU_INTERVAL_S:
            self.sample_cpu(now)

    def sample_cpu(self, now: float) -> None:
        """Record the CPU (and waiting) share since the last mark, and mark `now`."""
        if self._cpu_mark is None:
            return
        since, cpu_then, wait_then = self._cpu_mark
        cpu_now, wait_now = self._cpu_clock(), self._wait_clock()
        wall_s = now - since
        if wall_s > 0:
            sample = [
                round(self._wall_clock(), 3),
                round(wall_s, 4),
                round(max(0.0, (cpu_now - cpu_then) / wall_s), 4),
            ]
            if wait_now is not None and wait_then is not None:
                sample.append(round(max(0.0, (wait_now - wait_then) / wall_s), 4))
            self.cpu.append(sample)
        self._cpu_mark = (now, cpu_now, wait_now)

    def _run(self) -> None:
        while True:
            self.tick()

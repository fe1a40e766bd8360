"""CPython's garbage collector tuned for a load generator's run.

Every request allocates a few dozen short-lived containers (the response and its headers,
Locust's request_meta and ResponseContextManager, the suite's log row). With the default gen-0
threshold of 700 that is a young collection every twenty-odd requests, and every tenth of those
promotes into collections that walk the whole start-up heap: Locust, gevent, prometheus_client,
the suite and their imports, hundreds of thousands of objects that live as long as the process.
That walking, not the listeners' own work, was most of the suite's overhead over bare Locust
in bench/locust_overhead_paired.py.

At the test's start on a process that generates load: one full collection, then `gc.freeze()`
(what Locust itself does before forking `--processes`), so the start-up heap is never walked
again, and a gen-0 threshold of GEN0_THRESHOLD. Reference cycles are still collected, only in
larger batches: at most a few megabytes more garbage waits. At the test's stop both are undone.
"""

from __future__ import annotations

import gc

__all__ = ["GEN0_THRESHOLD", "RunCollectorTuning"]

GEN0_THRESHOLD = 10_000


class RunCollectorTuning:
    """`start()` at the test's start, `stop()` at its stop; idempotent both ways."""

    def __init__(self, gen0_threshold: int = GEN0_THRESHOLD) -> None:
        self.gen0_threshold = gen0_threshold
        self._saved: tuple[int, int, int] | None = None

    @property
    def active(self) -> bool:
        return self._saved is not None

    def start(self, **_kwargs) -> None:
        if self._saved is not None:
            return
        self._saved = gc.get_threshold()
        gc.collect()  # freeze what is alive, not garbage that happens to be waiting
        gc.freeze()
        _gen0, gen1, gen2 = self._saved
        gc.set_threshold(self.gen0_threshold, gen1, gen2)

    def stop(self, **_kwargs) -> None:
        if self._saved is None:
            return
        gc.set_threshold(*self._saved)
        gc.unfreeze()
        self._saved = None

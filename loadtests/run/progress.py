"""One line of live progress for a run, and how often to give it.

The runner's ticks (about one a second, see loadtests/run/runner.py) are too many for a log
that people read: `pulumi up` shows one line per PROGRESS_INTERVAL_S at most, plus one as each
stage begins (a scaled-down profile's stages last a few seconds: every stage still gets its line).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["PROGRESS_INTERVAL_S", "ProgressThrottle", "progress_line"]

PROGRESS_INTERVAL_S = 10.0


def progress_line(progress: Mapping[str, Any]) -> str:
    """e.g. "stage 3/7, 120 users, 45.2 req/s, errors 0.12 %, p95 87 ms (last 5 s), 12 s"."""
    stage, stages = progress.get("stage") or 0, progress.get("stages") or 0
    parts = [
        f"stage {stage}/{stages}" if stage else "ending",
        f"{progress.get('users', 0)} users",
        f"{float(progress.get('rps') or 0.0):.1f} req/s",
        f"errors {float(progress.get('error_rate') or 0.0) * 100:.2f} %",
    ]
    p95 = progress.get("p95_ms")
    parts.append(f"p95 {p95:.0f} ms (last 5 s)" if p95 is not None else "p95 -")
    parts.append(f"{float(progress.get('t_s') or 0.0):.0f} s")
    lost = [w["id"] for w in progress.get("workers") or () if w.get("state") == "lost"]
    if lost:
        parts.append(f"lost: {', '.join(lost)}")
    return ", ".join(parts)


class ProgressThrottle:
    """Passes the first tick, then one per `interval_s`, and the first tick of each new stage."""

    def __init__(self, interval_s: float = PROGRESS_INTERVAL_S, clock: Callable[[], float] = time.monotonic):
        self.interval_s = interval_s
        self.clock = clock
        self._last: float | None = None
        self._stage: object = None

    def due(self, stage: object = None) -> bool:
        """Whether this tick is shown; `stage` (e.g. the tick's stage number) passes the tick
        when it differs from the stage of the last tick shown."""
        now = self.clock()
        new_stage = stage is not None and stage != self._stage
        if not new_stage and self._last is not None and now - self._last < self.interval_s:
            return False
        self._last = now
        if stage is not None:
            self._stage = stage
        return True

"""loadtests/run/progress.py: the live progress line and its throttle."""

from __future__ import annotations

from loadtests.run.progress import ProgressThrottle, progress_line


def test_the_line_names_stage_users_rate_errors_and_the_recent_p95() -> None:
    tick = {
        "t_s": 64.4,
        "stage": 3,
        "stages": 7,
        "users": 120,
        "rps": 45.24,
        "error_rate": 0.0012,
        "p95_ms": 87.2,
    }
    assert (
        progress_line(tick) == "stage 3/7, 120 users, 45.2 req/s, errors 0.12 %, p95 87 ms (last 5 s), 64 s"
    )
    ending = {**tick, "stage": 0, "p95_ms": None, "workers": [{"id": "worker-2", "state": "lost"}]}
    assert (
        progress_line(ending) == "ending, 120 users, 45.2 req/s, errors 0.12 %, p95 -, 64 s, lost: worker-2"
    )


def test_the_throttle_passes_one_tick_per_interval() -> None:
    now = [0.0]
    throttle = ProgressThrottle(10.0, clock=lambda: now[0])
    passed = []
    for t in (0.0, 1.0, 9.9, 10.0, 15.0, 20.5):
        now[0] = t
        if throttle.due():
            passed.append(t)
    assert passed == [0.0, 10.0, 20.5]


def test_each_new_stage_passes_at_once_and_the_interval_holds_within_a_stage() -> None:
    now = [0.0]
    throttle = ProgressThrottle(10.0, clock=lambda: now[0])
    passed = []
    # A scaled-down profile: stages of 2-3 s, far shorter than the interval.
    for t, stage in ((0.0, 1), (1.0, 1), (2.0, 2), (3.0, 2), (5.0, 3), (6.0, 3), (14.0, 3), (16.0, 3)):
        now[0] = t
        if throttle.due(stage):
            passed.append((t, stage))
    assert passed == [(0.0, 1), (2.0, 2), (5.0, 3), (16.0, 3)]

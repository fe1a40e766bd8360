"""The open model's executors as data (loadtests/run/arrival.py) and the capacity search's logic
(loadtests/run/capacity.py): schedules exact in total across workers, settings named when bad."""

from __future__ import annotations

import itertools
import json

import pytest

from loadtests.errors import ConfigError
from loadtests.run.arrival import (
    ARRIVAL_LEAD_S,
    Executor,
    RateStage,
    format_duration,
    parse_duration,
    share,
)
from loadtests.run.capacity import CapacitySearch, StepOutcome
from loadtests.run.config import RunConfig, SuiteConfig, open_model_stages
from loadtests.run.runner import _suite_config

CONSTANT = Executor(kind="constant-arrival-rate", rate=50, duration_s=30, pre_allocated_users=5, max_users=20)
RAMPING = Executor(
    kind="ramping-arrival-rate",
    start_rate=0,
    stages=(RateStage(10, 100), RateStage(10, 100), RateStage(10, 0)),
    pre_allocated_users=5,
    max_users=50,
)


def test_a_constant_rate_schedules_exactly_rate_times_duration() -> None:
    schedule = CONSTANT.schedule()
    assert schedule.total_iterations == 1500
    times = list(schedule.times())
    assert times[:3] == pytest.approx([0.0, 0.02, 0.04])
    assert times[-1] == pytest.approx(29.98)
    assert all(b > a for a, b in itertools.pairwise(times))


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_workers_together_run_the_global_schedule_exactly(workers: int) -> None:
    for executor in (CONSTANT, RAMPING):
        schedule = executor.schedule()
        shares = [list(schedule.times(i, workers)) for i in range(workers)]
        assert sorted(itertools.chain(*shares)) == pytest.approx(list(schedule.times()))
        assert sum(len(s) for s in shares) == schedule.total_iterations
        # As even as whole iterations allow.
        assert max(map(len, shares)) - min(map(len, shares)) <= 1


def test_a_ramp_follows_the_area_under_the_rate() -> None:
    schedule = RAMPING.schedule()
    # 0 -> 100/s over 10 s (500), 100/s for 10 s (1000), 100 -> 0/s over 10 s (500).
    assert schedule.total_iterations == 2000
    times = list(schedule.times())
    assert sum(1 for t in times if t < 10) == 500
    assert sum(1 for t in times if 10 <= t < 20) == 1000
    assert schedule.rate_at(5) == pytest.approx(50)
    assert schedule.rate_at(15) == pytest.approx(100)
    # Iteration k is due when the cumulative rate reaches k: 50 t^2 = k on the first ramp.
    assert schedule.time_of(200) == pytest.approx((200 / 5) ** 0.5)


def test_a_time_unit_divides_the_rate() -> None:
    per_minute = Executor(
        kind="constant-arrival-rate",
        rate=120,
        time_unit_s=60,
        duration_s=30,
        pre_allocated_users=1,
        max_users=2,
    )
    assert per_minute.schedule().total_iterations == 60
    assert per_minute.planned_iterations() == 60


def test_users_are_split_across_workers_with_the_remainder_first() -> None:
    assert [share(10, i, 3) for i in range(3)] == [4, 3, 3]
    assert sum(share(7, i, 4) for i in range(4)) == 7


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("2m", 120), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600)]
)
def test_durations_are_k6_style(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "30", "1x", "s30", "-1s"])
def test_a_bad_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


def test_durations_read_back() -> None:
    assert [format_duration(s) for s in (30, 90, 120, 0.5)] == ["30s", "1m30s", "2m", "500ms"]


def test_bad_executor_settings_are_all_named() -> None:
    bad = Executor(kind="constant-arrival-rate", rate=0, duration_s=-1, pre_allocated_users=30, max_users=20)
    problems = "\n".join(bad.problems(workers=2))
    assert "load.arrival.rate: 0: expected a number of iterations per time unit above 0" in problems
    assert "load.arrival.duration: -1" in problems
    assert "load.arrival.pre_allocated_users: 30: expected at most max_users (20)" in problems
    too_few = Executor(kind="constant-arrival-rate", rate=1, duration_s=1, max_users=1)
    assert "at least 2 (one user per worker or more)" in "\n".join(too_few.problems(workers=2))
    ramp = Executor(kind="ramping-arrival-rate", max_users=2)
    assert "load.arrival.stages: []: expected at least one stage" in "\n".join(ramp.problems())
    capacity = Executor(kind="capacity", rate=10, capacity_max_rate=5, capacity_growth=1.0, max_users=2)
    text = "\n".join(capacity.problems())
    assert "load.capacity.max_rate: 5" in text and "load.capacity.growth: 1.0" in text
    assert Executor(kind="open").problems() == [
        "load.executor: 'open': expected one of closed, constant-arrival-rate, ramping-arrival-rate, capacity"
    ]


def test_the_executor_round_trips_through_json() -> None:
    for executor in (CONSTANT, RAMPING, Executor()):
        assert Executor.from_dict(json.loads(json.dumps(executor.as_dict()))) == executor
    assert Executor.from_dict(None) == Executor() and not Executor().open_model


def test_an_arrival_rate_run_plays_no_users_of_locusts_own_for_its_schedule() -> None:
    config = RunConfig(target="http://127.0.0.1:8080", executor=CONSTANT)
    assert config.resolved_stages() == open_model_stages(CONSTANT)
    (stage,) = config.resolved_stages()
    assert stage.target == 0 and stage.duration_s == ARRIVAL_LEAD_S + 30


def test_the_suite_config_carries_the_executor(tmp_path) -> None:
    config = RunConfig(
        target="http://127.0.0.1:8080", executor=RAMPING, thresholds=("http_req_failed: rate<0.01",)
    )
    suite = _suite_config(config, tmp_path)
    assert suite.profile == "ramping-arrival-rate" and suite.max_users == 50
    again = SuiteConfig.from_json(suite.to_json())
    assert again.executor == RAMPING
    assert again.thresholds == ("http_req_failed: rate<0.01",)
    # A config file from before the open model is the closed model.
    old = json.loads(SuiteConfig(target="http://127.0.0.1:8080").to_json())
    del old["executor"], old["thresholds"]
    assert SuiteConfig.from_json(json.dumps(old)).executor == Executor()


def test_run_settings_refuse_what_the_open_model_cannot_do() -> None:
    capacity = Executor(kind="capacity", rate=10, capacity_max_rate=100, max_users=10)
    with pytest.raises(ConfigError) as caught:
        RunConfig(target="http://127.0.0.1:8080", executor=capacity, browser_share=0.1, workers=2).validate()
    message = str(caught.value)
    assert "the browser users run in the closed model only" in message
    assert "the capacity search judges every step with the run's SLO threshold lines" in message
    with pytest.raises(ConfigError, match=r"load.thresholds\[0\]"):
        RunConfig(target="http://127.0.0.1:8080", executor=capacity, thresholds=("nope: p(95)<1",)).validate()
    RunConfig(
        target="http://127.0.0.1:8080", executor=capacity, thresholds=("http_req_failed: rate<0.01",)
    ).validate()


def test_production_caps_the_open_models_users() -> None:
    big = Executor(kind="constant-arrival-rate", rate=10, duration_s=10, max_users=2500)
    config = RunConfig(
        target="https://odavl.studio",
        allowed_hosts=("odavl.studio",),
        environment="production",
        allow_production=True,
        executor=big,
    )
    with pytest.raises(ConfigError, match=r"load\.max_users: 2500: expected at most 2000 users"):
        config.validate()


# --- the capacity search -----------------------------------------------------------------


def search_against(limit: float, **settings) -> CapacitySearch:
    """Run the search against a target that meets every threshold up to `limit` exactly."""
    executor = Executor(
        kind="capacity",
        rate=settings.pop("rate", 10),
        capacity_max_rate=settings.pop("max_rate", 1000),
        max_users=10,
        **settings,
    )
    search = CapacitySearch(executor)
    for _ in range(100):
        step = search.next_step()
        if step is None:
            return search
        ok = step.rate <= limit
        broke = None if ok else {"key": "http_req_failed: rate<0.01", "value": 0.2, "detail": "rate = 0.2"}
        search.record(step, StepOutcome(ok=ok, broke=broke, users=int(step.rate / 10)))
    raise AssertionError("the search did not end")


@pytest.mark.parametrize("limit", [37.0, 80.0, 123.4, 999.0])
def test_the_search_finds_a_known_limit_within_its_precision(limit: float) -> None:
    search = search_against(limit, capacity_precision=0.05)
    result = search.result()
    assert result["confirmed"] is True
    assert limit / 1.05 <= result["rate"] <= limit
    assert result["first_break"]["key"] == "http_req_failed: rate<0.01"
    assert result["first_break"]["rate"] > limit
    kinds = [s["kind"] for s in result["steps"]]
    assert kinds[-1] == "confirm" and kinds.count("confirm") == 1
    assert result["users"] == int(result["rate"] / 10)


def test_the_search_grows_by_its_factor_then_bisects() -> None:
    rates = [s["rate"] for s in search_against(80, rate=20, capacity_growth=1.5).result()["steps"]]
    assert rates[:5] == [20, 30, 45, 67.5, 101.25]
    assert rates[5] == pytest.approx((67.5 + 101.25) / 2, abs=0.001)


def test_a_failed_confirmation_bisects_again_below_it() -> None:
    executor = Executor(kind="capacity", rate=10, capacity_max_rate=1000, max_users=10)
    search = CapacitySearch(executor)
    confirms = 0
    while (step := search.next_step()) is not None:
        # The short probes pass up to 80, but a long hold holds only up to 60.
        ok = step.rate <= (60 if step.kind == "confirm" else 80)
        confirms += step.kind == "confirm"
        search.record(step, StepOutcome(ok=ok, broke=None if ok else {"key": "k", "detail": "d"}))
    result = search.result()
    assert confirms >= 2
    assert result["confirmed"] is True and result["rate"] <= 60


def test_a_search_whose_first_step_breaks_finds_nothing() -> None:
    result = search_against(5, rate=10).result()
    assert result["rate"] is None and result["confirmed"] is False
    assert "the starting rate already broke one" in result["reason"]
    assert len(result["steps"]) == 1


def test_a_search_that_reaches_its_maximum_reports_a_lower_bound() -> None:
    result = search_against(10_000, rate=100, max_rate=300).result()
    assert result["rate"] == 300 and result["at_max_rate"] is True and result["first_break"] is None
    assert "the capacity is at least that" in result["reason"]


def test_the_planned_duration_bounds_the_longest_search() -> None:
    executor = Executor(
        kind="capacity",
        rate=1,
        capacity_max_rate=10_000,
        capacity_step_s=10,
        capacity_confirm_s=30,
        max_users=1,
    )
    probes, confirms = executor.capacity_steps_bound()
    search = search_against(7777, rate=1, max_rate=10_000, capacity_step_s=10, capacity_confirm_s=30)
    steps = search.result()["steps"]
    assert sum(s["kind"] == "probe" for s in steps) <= probes
    assert sum(s["kind"] == "confirm" for s in steps) <= confirms
    assert executor.planned_duration_s() >= sum(s["duration_s"] for s in steps)

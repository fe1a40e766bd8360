"""Load profiles: the specification's stages, scaling, linear ramps."""

from __future__ import annotations

import pytest

from loadtests.errors import ConfigError
from loadtests.run.shape import (
    PROFILES,
    Stage,
    profile_stages,
    scale_stages,
    stage_at,
    total_duration,
    users_at,
)


def test_specification_profile_is_its_seven_listed_stages():
    stages = PROFILES["staged"]
    assert [s.target for s in stages] == [100, 100, 500, 500, 1200, 1200, 0]
    assert [s.duration_s / 60 for s in stages] == [2, 5, 2, 5, 2, 5, 5]
    # The specification headlines "31 minutes", but its own stage list adds up to 26.
    assert total_duration(stages) == 26 * 60


def test_scaling_users_and_time():
    stages = scale_stages(PROFILES["staged"], max_users=60, time_scale=0.02)
    assert [s.target for s in stages] == [5, 5, 25, 25, 60, 60, 0]
    assert total_duration(stages) == pytest.approx(26 * 60 * 0.02)
    tiny = scale_stages(PROFILES["staged"], max_users=2, time_scale=1.0)
    assert [s.target for s in tiny] == [1, 1, 1, 1, 2, 2, 0]  # a stage with users keeps one


def test_ramps_are_linear_between_stage_targets():
    stages = (Stage(10, 100), Stage(10, 100), Stage(20, 0))
    assert users_at(stages, 0) == (0, 10.0, 1)
    assert users_at(stages, 5) == (50, 10.0, 1)
    assert users_at(stages, 15) == (100, 0.0, 2)
    assert users_at(stages, 30) == (50, -5.0, 3)
    assert users_at(stages, 40) is None
    assert stage_at(stages, 39.9) == 3 and stage_at(stages, 40) == 0


@pytest.mark.parametrize("name", ["smoke", "soak", "spike"])
def test_other_profiles_start_and_end_at_zero_and_peak_at_most_max_users(name):
    stages = profile_stages(name, max_users=300, time_scale=1.0)
    assert stages[-1].target == 0
    assert max(s.target for s in stages) <= 300
    assert all(s.duration_s > 0 for s in stages)


def test_bad_profile_values_are_named():
    with pytest.raises(ConfigError, match=r"load\.profile: 'ramp' is not one of"):
        profile_stages("ramp", 10, 1.0)
    with pytest.raises(ConfigError, match=r"load\.time_scale"):
        profile_stages("staged", 10, 0.0)
    with pytest.raises(ConfigError, match=r"load.stages\[1\]"):
        profile_stages("staged", 10, 1.0, override=(Stage(1, 1), Stage(-1, 1)))
    assert profile_stages("staged", 10, 1.0, override=(Stage(3, 4),)) == (Stage(3, 4),)

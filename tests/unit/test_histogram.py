"""Mergeable HDR histograms: accuracy against exact values, exact merging, bounded size."""

from __future__ import annotations

import json
import math
import random

import pytest

from loadtests.results.histogram import TrendHistogram


def nearest_rank(sorted_values: list[float], pct: float) -> float:
    return sorted_values[max(1, math.ceil(pct * len(sorted_values) / 100 - 1e-9)) - 1]


@pytest.fixture(scope="module")
def samples() -> list[float]:
    rng = random.Random(1)
    return [rng.lognormvariate(4.0, 1.0) for _ in range(50_000)]


def test_percentiles_within_a_tenth_of_a_percent_of_exact(samples):
    hist = TrendHistogram()
    for value in samples:
        hist.record(value)
    exact = sorted(samples)
    for pct in (50, 90, 95, 99, 99.9):
        assert hist.percentile(pct) == pytest.approx(nearest_rank(exact, pct), rel=0.001), pct
    assert hist.max() == pytest.approx(exact[-1], rel=0.001)
    assert hist.min() == pytest.approx(exact[0], rel=0.001)
    assert hist.mean() == pytest.approx(sum(samples) / len(samples), rel=1e-9)
    assert hist.count == len(samples)


def test_merging_encoded_parts_equals_recording_everything(samples):
    whole = TrendHistogram()
    parts = [TrendHistogram() for _ in range(3)]
    for i, value in enumerate(samples):
        whole.record(value)
        parts[i % 3].record(value)
    merged = TrendHistogram()
    for part in parts:
        merged.merge_encoded(json.loads(json.dumps(part.encode())))
    assert merged.count == whole.count
    for pct in (1, 50, 95, 99, 100):
        assert merged.percentile(pct) == whole.percentile(pct)
    assert merged.total == pytest.approx(whole.total)


def test_nearest_rank_in_a_sparse_tail():
    hist = TrendHistogram()
    tail = [10.0] * 157 + [500.0, 900.0, 2000.0]
    for value in tail:
        hist.record(value)
    # p99 of 160 samples: 99 % of 160 is 158.4, so the nearest rank is ceil(158.4) = 159, the
    # 900 ms sample. HDR's own lookup rounds the rank half up (158, the 500 ms sample), and a
    # linear interpolation between ranks 158 and 159 gives about 664 ms: only nearest rank
    # answers 900.
    assert nearest_rank(sorted(tail), 99) == 900.0
    assert hist._hist.get_value_at_percentile(99) / hist.scale == pytest.approx(500.0, rel=0.001)
    assert hist.percentile(99) == pytest.approx(900.0, rel=0.001)
    assert hist.percentiles((99,)) == {99: hist.percentile(99)}
    # p25 of five samples: 1.25 -> rank 2 (HDR's rounding: rank 1)
    small = TrendHistogram()
    for value in (1.0, 2.0, 3.0, 4.0, 5.0):
        small.record(value)
    assert small.percentile(25) == pytest.approx(2.0, rel=0.001)
    assert small.percentiles((25, 100)) == {25: small.percentile(25), 100: small.percentile(100)}
    assert small.percentile(100) == pytest.approx(5.0, rel=0.001)


def test_size_does_not_grow_with_the_number_of_samples():
    small, large = TrendHistogram(), TrendHistogram()
    rng = random.Random(2)
    for _ in range(10):
        small.record(rng.uniform(1, 5000))
    for _ in range(200_000):
        large.record(rng.uniform(1, 5000))
    assert len(small._hist.counts) == len(large._hist.counts)
    assert len(large.encode()["hdr"]) < 40_000


def test_out_of_range_values_are_clamped_and_counted():
    hist = TrendHistogram(highest=1000.0)
    hist.record(-5.0)
    hist.record(5000.0)
    assert hist.count == 2
    assert hist.clamped == 1
    assert hist.max() == pytest.approx(1000.0, rel=0.001)
    assert hist.min() == pytest.approx(0.001)


def test_empty_histogram_reads_zero_and_scales_must_match():
    empty = TrendHistogram()
    assert (empty.count, empty.percentile(95), empty.max(), empty.mean()) == (0, 0.0, 0.0, 0.0)
    assert empty.encode()["hdr"] == ""
    with pytest.raises(ValueError, match="scale"):
        empty.merge(TrendHistogram(scale=10_000))


def test_percentiles_in_one_pass_equal_single_lookups(samples):
    hist = TrendHistogram()
    for value in samples[:5000]:
        hist.record(value)
    together = hist.percentiles((50, 90, 95, 99, 99.9))
    assert together == {pct: hist.percentile(pct) for pct in (50, 90, 95, 99, 99.9)}
    assert TrendHistogram().percentiles((50, 99)) == {50: 0.0, 99: 0.0}


@pytest.mark.parametrize(("scale", "highest"), [(1000, 600_000.0), (10_000, 100.0), (1000, 1000.0)])
def test_batched_recording_equals_recording_each_value_into_hdr(scale, highest):
    """`record` folds values in batches; the counts, min, max and the sum must be exactly
    those of hdrh's own record_value of each value, in recording order."""
    from hdrh.histogram import HdrHistogram

    rng = random.Random(scale)
    top = highest * 1.5
    values = [
        rng.choice((rng.uniform(0, 3), rng.lognormvariate(2, 3), rng.uniform(0, top))) for _ in range(30_000)
    ]
    values += [-1.0, 0.0, 0.0004, highest, highest + 1, 5e9]
    hist = TrendHistogram(scale=scale, highest=highest)
    reference = HdrHistogram(1, int(highest * scale), 3)
    total, clamped = 0.0, 0
    for i, value in enumerate(values):
        hist.record(value)
        ticks = max(1, int(value * scale + 0.5))
        if ticks > int(highest * scale):
            ticks, clamped = int(highest * scale), clamped + 1
        assert reference.record_value(ticks)
        total += value if value > 0 else 0.0
        if i == 10_000:
            assert hist.count == i + 1  # a read in between folds part of the values
            hist.percentile(50)
    assert list(hist._hist.counts) == list(reference.counts)
    assert (hist._hist.min_value, hist._hist.max_value) == (reference.min_value, reference.max_value)
    assert hist.count == reference.get_total_count() == len(values)
    assert hist.total == total  # bit for bit: the same additions in the same order
    assert hist.clamped == clamped
    assert hist.encode()["hdr"] == reference.encode().decode("ascii")


def test_pending_values_are_bounded_and_an_empty_histogram_allocates_no_counts():
    from loadtests.results.histogram import PENDING_LIMIT

    hist = TrendHistogram()
    assert hist._hdr is None and hist.encode()["hdr"] == ""
    for i in range(PENDING_LIMIT * 3 + 5):
        hist.record(i * 0.01)
    assert len(hist._pending) < PENDING_LIMIT and hist.count == PENDING_LIMIT * 3 + 5
    other = TrendHistogram()
    other.merge(hist)
    other.merge(TrendHistogram())
    assert other.count == hist.count and other.total == hist.total
    hist.reset()
    assert hist.count == 0 and hist.total == 0.0


def test_merging_values_not_yet_folded_allocates_nothing_and_equals_merging_folded_ones(samples):
    """A short-lived histogram (a progress tick's slot) merges its waiting values without
    allocating HDR counts of its own; the result equals merging it once folded: the same
    counts, the same sum bit for bit, the same clamping."""
    part = [*samples[:3000], -1.0, 700_000.0]  # one negative, one above the range
    by_values, by_folded = TrendHistogram(), TrendHistogram()
    for target in (by_values, by_folded):
        for value in samples[3000:6000]:
            target.record(value)
    waiting, folded = TrendHistogram(), TrendHistogram()
    for value in part:
        waiting.record(value)
        folded.record(value)
    assert folded._hist.total_count == len(part)  # reading it folds its values
    by_values.merge(waiting)
    by_folded.merge(folded)
    assert waiting._hdr is None  # nothing allocated for the merged-away part
    assert by_values.encode() == by_folded.encode()
    assert by_values.count == by_folded.count == 6002
    assert by_values.clamped == by_folded.clamped == 1


def test_percentiles_are_the_values_hdrh_itself_gives() -> None:
    """The lookup by bisection in running counts returns exactly hdrh's own walk."""
    import random

    from loadtests.results.histogram import _value_at_percentile

    rng = random.Random(7)
    for n in (1, 2, 5, 100, 5000):
        hist = TrendHistogram()
        for _ in range(n):
            hist.record(rng.choice([rng.uniform(0, 5), rng.lognormvariate(3, 1.5), 1000.0, 0.0]))
        hdr = hist._hist
        running = TrendHistogram._cumulative_counts(hdr)
        for pct in (0.0, 0.1, 1.0, 37.5, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0):
            assert _value_at_percentile(hdr, running, pct) == hdr.get_value_at_percentile(pct), (n, pct)
    assert TrendHistogram().percentiles((50.0, 99.0)) == {50.0: 0.0, 99.0: 0.0}

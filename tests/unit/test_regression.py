"""The statistical regression criterion (loadtests/slo/regression.py) on synthetic histograms, and
the results document's histograms section it reads (loadtests/results/distributions.py)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from loadtests.results.distributions import MAX_ENDPOINT_HISTOGRAMS, document_histogram, histograms_section
from loadtests.results.histogram import TrendHistogram
from loadtests.slo.regression import (
    RegressionPolicy,
    compare_documents,
    compare_histograms,
    histogram_samples,
    regression_line,
)

POLICY = RegressionPolicy(runs=5, min_effect_pct=5.0)


def latencies(seed: int, *, n: int = 3000, factor: float = 1.0, median_ms: float = 20.0) -> TrendHistogram:
    """A run's http_req_duration: log-normal around `median_ms`, every value times `factor`."""
    rng = np.random.default_rng(seed)
    hist = TrendHistogram()
    for value in rng.lognormal(np.log(median_ms), 0.5, n) * factor:
        hist.record(float(value))
    return hist


@pytest.fixture(scope="module")
def earlier() -> list[tuple[str, TrendHistogram]]:
    """Five earlier runs of the same build: the same distribution, other samples."""
    return [(f"run-{seed}", latencies(seed)) for seed in range(5)]


def test_the_same_distribution_is_no_change(earlier) -> None:
    result = compare_histograms(latencies(100), earlier, POLICY)
    assert result.outcome == "no change", result.reason
    p95 = result.percentile(95)
    low, high = p95.interval_pct
    assert low < 0 < high
    assert p95.p_value > 0.05
    assert result.baseline_run_ids == tuple(run_id for run_id, _ in earlier)
    assert 0.45 < result.probability_slower < 0.55


def test_twenty_percent_slower_is_a_regression(earlier) -> None:
    result = compare_histograms(latencies(101, factor=1.2), earlier, POLICY)
    assert result.outcome == "regression", result.reason
    p95 = result.percentile(95)
    assert 15 < p95.difference_pct < 25
    assert p95.interval_pct[0] > 0
    assert p95.p_value < 0.05
    assert result.mann_whitney_p < 1e-6 and result.probability_slower > 0.55
    assert "p95" in result.reason and "interval" in result.reason


def test_twenty_percent_faster_is_an_improvement(earlier) -> None:
    result = compare_histograms(latencies(102, factor=0.8), earlier, POLICY)
    assert result.outcome == "improvement", result.reason
    p95 = result.percentile(95)
    assert -25 < p95.difference_pct < -15 and p95.interval_pct[1] < 0


def test_a_shift_below_the_effect_floor_is_no_change(earlier) -> None:
    # 4 % slower on large samples: significant (interval above 0, p < 0.05), but below the 5 % floor.
    big = [(run_id, latencies(seed, n=20_000)) for seed, (run_id, _) in enumerate(earlier)]
    current = latencies(112, n=20_000, factor=1.04)
    result = compare_histograms(current, big, POLICY)
    assert result.outcome == "no change", result.reason
    p95 = result.percentile(95)
    assert 0 < p95.difference_pct < 5 and p95.interval_pct[0] > 0 and p95.p_value < 0.05
    assert "at least 5 %" in result.reason
    # The same shift against a 2 % floor is a regression.
    assert compare_histograms(current, big, RegressionPolicy(5, 2.0)).outcome == "regression"


def test_a_difference_within_the_earlier_runs_own_spread_is_no_change() -> None:
    # Earlier runs that differ by +-20 % among themselves: +15 % is within their noise, although
    # the bootstrap interval of this run against their pool is well above 0.
    noisy = [(f"run-{i}", latencies(i, factor=f)) for i, f in enumerate((0.8, 1.0, 1.2, 0.9, 1.1))]
    result = compare_histograms(latencies(104, factor=1.15), noisy, POLICY)
    p95 = result.percentile(95)
    assert p95.interval_pct[0] > 0
    assert p95.p_value > 0.05
    assert result.outcome == "no change", result.reason


def test_fewer_than_k_earlier_runs_is_inconclusive(earlier) -> None:
    result = compare_histograms(latencies(105, factor=2.0), earlier[:2], POLICY)
    assert result.outcome == "inconclusive"
    assert "2 earlier passing run(s)" in result.reason and "5 needed" in result.reason
    assert result.percentiles == ()


def test_too_few_samples_is_inconclusive() -> None:
    small = [(f"run-{i}", latencies(i, n=60)) for i in range(3)]
    result = compare_histograms(latencies(106, n=60, factor=2.0), small, RegressionPolicy(runs=3))
    assert result.outcome == "inconclusive"
    assert "p95 needs 200 samples per run" in result.reason


def test_p99_needs_more_samples_than_p95_and_does_not_block_the_outcome() -> None:
    runs = [(f"run-{i}", latencies(i, n=500)) for i in range(3)]
    result = compare_histograms(latencies(107, n=500, factor=1.5), runs, RegressionPolicy(runs=3))
    assert result.percentile(99).outcome == "inconclusive"
    assert result.outcome == "regression", result.reason


def test_only_the_last_k_runs_count(earlier) -> None:
    slow_then_normal = [("old-slow", latencies(50, factor=3.0)), *earlier]
    result = compare_histograms(latencies(108), slow_then_normal, POLICY)
    assert "old-slow" not in result.baseline_run_ids and result.outcome == "no change"


def test_the_result_is_deterministic(earlier) -> None:
    current = latencies(109, factor=1.1)
    assert compare_histograms(current, earlier, POLICY) == compare_histograms(current, earlier, POLICY)


def test_policy_limits() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        RegressionPolicy(runs=2)
    with pytest.raises(ValueError, match="percentage"):
        RegressionPolicy(min_effect_pct=0)


def test_samples_keep_the_histogram_percentiles() -> None:
    hist = latencies(7, n=50_000)
    samples = histogram_samples(hist)
    assert len(samples) == 4000 and np.all(np.diff(samples) >= 0)
    for pct in (50, 95, 99):
        thinned = float(np.percentile(samples, pct, method="inverted_cdf"))
        assert thinned == pytest.approx(hist.percentile(pct), rel=0.01)
    few = latencies(8, n=300)
    assert len(histogram_samples(few)) == 300
    assert float(np.percentile(histogram_samples(few), 95, method="inverted_cdf")) == few.percentile(95)


def _doc(run_id: str, hist: TrendHistogram | None) -> dict:
    doc: dict = {"run_id": run_id}
    if hist is not None:
        doc["histograms"] = histograms_section({"http_req_duration": hist}, {})
    return doc


def test_documents_are_compared_from_their_histograms_section(earlier) -> None:
    docs = [_doc("no-histograms", None)] + [_doc(run_id, hist) for run_id, hist in earlier]
    # Through JSON, as the archive stores them.
    docs = json.loads(json.dumps(docs))
    result = compare_documents(_doc("now", latencies(110, factor=1.3)), docs, POLICY)
    assert result.outcome == "regression"
    assert "no-histograms" not in result.baseline_run_ids
    output = result.to_dict()
    assert output["outcome"] == "regression" and output["runs_compared"] == 5
    assert output["p95_difference_pct"] > 20 and output["p95_interval_pct"][0] > 0
    assert output["p95_p_value"] < 0.05
    assert json.loads(json.dumps(output)) == output
    line = regression_line(output)
    assert line.startswith("statistical regression: regression: p95 +") and "5 of 5 earlier runs" in line


def test_a_run_without_histograms_is_inconclusive(earlier) -> None:
    docs = [_doc(run_id, hist) for run_id, hist in earlier]
    result = compare_documents({"run_id": "old-format"}, docs, POLICY)
    assert result.outcome == "inconclusive" and "no http_req_duration histogram" in result.reason
    assert regression_line(result.to_dict()).startswith("statistical regression: inconclusive (")
    assert regression_line(None) is None


def test_histograms_section_bounds_endpoints_and_round_trips() -> None:
    overall = latencies(1, n=200)
    endpoints = {f"GET /api/e{i:03d}": {"http_req_duration": latencies(i, n=1 + i % 5)} for i in range(120)}
    endpoints["GET /api/empty"] = {"http_req_duration": TrendHistogram()}
    section = histograms_section({"http_req_duration": overall}, endpoints)
    assert len(section["endpoints"]) == MAX_ENDPOINT_HISTOGRAMS
    assert "GET /api/empty" not in section["endpoints"]
    doc = json.loads(json.dumps({"histograms": section}))
    decoded = document_histogram(doc)
    assert decoded.count == 200 and decoded.percentile(95) == overall.percentile(95)
    busiest = document_histogram(doc, endpoint="GET /api/e004")
    assert busiest is not None and busiest.count == 5
    assert document_histogram(doc, endpoint="GET /api/absent") is None
    assert document_histogram({"histograms": {"metrics": {"http_req_duration": {"hdr": "AAAA"}}}}) is None

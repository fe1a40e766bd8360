"""Statistical regression: this run against the last K passing runs of its stack and profile.

`baseline ± N%` thresholds compare two numbers and so take run-to-run noise for a change. This
criterion asks whether the difference is larger than what the earlier runs of the same build
show among themselves and than sampling noise, and larger than a floor that matters:

    result = compare_documents(doc, earlier_docs, RegressionPolicy(runs=5, min_effect_pct=5.0))
    result.outcome        # "regression" | "no change" | "improvement" | "inconclusive"
    result.to_dict()      # the stack output / results-document form

For each percentile (p95, p99) of http_req_duration (ms), from the runs' merged HDR histograms
(loadtests/results/distributions.py):

* difference: this run's percentile against the pooled earlier runs' (each earlier run weighs
  the same), in percent (positive = slower);
* interval: the 95 % bootstrap confidence interval of that difference (`scipy.stats.bootstrap`,
  percentile method, resampling both sides independently), i.e. the sampling noise;
* p-value: run-to-run noise. The earlier runs' own percentiles x_1..x_K give a t prediction
  interval for one more run of the same build; p is the two-sided probability, under that
  model (Student's t with K-1 degrees of freedom, `scipy.stats.t`), of a run at least as far
  from their mean as this one. Each earlier run's value already holds its sampling noise, and
  this run has the same load shape, so p covers both noises.

A percentile regresses when the interval lies above 0, p < ALPHA and the difference is at least
`min_effect_pct` (an improvement is the mirror image); else it did not change. It is
inconclusive when either side has fewer than MIN_TAIL_SAMPLES samples above the percentile
(p95 needs 200 samples per run, p99 1,000). The run's outcome: "inconclusive" with fewer than
K earlier runs or an inconclusive p95; else "regression" if a judged percentile regressed,
"improvement" if one improved, "no change" otherwise.

Also reported, not deciding: the Mann-Whitney U test of the whole distributions
(`scipy.stats.mannwhitneyu`, two-sided) and its effect size, the probability that a request of
this run is slower than one of the earlier runs (0.5: no shift).

Samples: a histogram is expanded into its bucket values (1 µs resolution, within 0.1 %); a run
with more than MAX_SAMPLES_PER_RUN samples is thinned to that many at evenly spaced ranks,
which keeps its distribution and bounds the cost (the interval is then as wide as for that many
samples, i.e. conservative). The bootstrap's random generator has a fixed seed: the same runs
always give the same result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from loadtests.results.distributions import document_histogram
from loadtests.results.histogram import TrendHistogram

if TYPE_CHECKING:
    import numpy as np

# numpy and scipy are imported by the functions that use them: scipy.stats alone takes about a
# second to import, which every `pulumi up` and CLI start would pay for nothing otherwise.

__all__ = [
    "ALPHA",
    "DEFAULT_MIN_EFFECT_PCT",
    "DEFAULT_RUNS",
    "MIN_RUNS",
    "OUTCOMES",
    "PercentileComparison",
    "RegressionPolicy",
    "RegressionResult",
    "compare_documents",
    "compare_histograms",
    "histogram_samples",
    "inconclusive",
    "regression_line",
]

Outcome = Literal["regression", "no change", "improvement", "inconclusive"]
OUTCOMES: tuple[Outcome, ...] = ("regression", "no change", "improvement", "inconclusive")

MIN_RUNS = 3
DEFAULT_RUNS = 5
DEFAULT_MIN_EFFECT_PCT = 5.0
ALPHA = 0.05  # the bootstrap interval is the matching 95 % interval
PERCENTILES = (95.0, 99.0)
MIN_TAIL_SAMPLES = 10
MAX_SAMPLES_PER_RUN = 4000
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_BATCH = 100  # resamples held in memory at once
SEED = 20240618


@dataclass(frozen=True)
class RegressionPolicy:
    """How the criterion runs: K earlier passing runs (at least MIN_RUNS), the effect-size floor
    in percent, and whether a "regression" fails the gate (False: reported only)."""

    runs: int = DEFAULT_RUNS
    min_effect_pct: float = DEFAULT_MIN_EFFECT_PCT
    gate: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.runs, int) or self.runs < MIN_RUNS:
            raise ValueError(f"regression runs {self.runs!r}: expected a whole number, at least {MIN_RUNS}")
        if not 0 < self.min_effect_pct <= 100:
            raise ValueError(f"regression effect floor {self.min_effect_pct!r}: expected a percentage, 0-100")


@dataclass(frozen=True)
class PercentileComparison:
    """One percentile of this run against the earlier runs (ms; differences in percent)."""

    percentile: float
    outcome: Outcome
    current_ms: float
    baseline_ms: float
    difference_pct: float | None = None
    interval_pct: tuple[float, float] | None = None
    p_value: float | None = None
    runs_ms: tuple[float, ...] = ()  # the percentile of each earlier run, oldest first
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "percentile": self.percentile,
            "outcome": self.outcome,
            "current_ms": _round(self.current_ms),
            "baseline_ms": _round(self.baseline_ms),
            "difference_pct": _round(self.difference_pct),
            "interval_pct": [_round(v) for v in self.interval_pct] if self.interval_pct else None,
            "p_value": _round(self.p_value, 6),
            "runs_ms": [_round(v) for v in self.runs_ms],
            "detail": self.detail,
        }


@dataclass(frozen=True)
class RegressionResult:
    """The criterion's outcome; `percentiles` holds p95 and p99 (when there was data)."""

    outcome: Outcome
    reason: str
    runs_required: int
    min_effect_pct: float
    metric: str = "http_req_duration"
    baseline_run_ids: tuple[str, ...] = ()
    current_samples: int = 0
    baseline_samples: int = 0
    percentiles: tuple[PercentileComparison, ...] = ()
    mann_whitney_p: float | None = None
    probability_slower: float | None = None
    confidence: float = 1 - ALPHA
    gated: bool = field(default=False)

    def percentile(self, pct: float) -> PercentileComparison | None:
        return next((p for p in self.percentiles if p.percentile == pct), None)

    def to_dict(self) -> dict[str, Any]:
        p95 = self.percentile(95.0)
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "metric": self.metric,
            "runs_required": self.runs_required,
            "runs_compared": len(self.baseline_run_ids),
            "baseline_run_ids": list(self.baseline_run_ids),
            "min_effect_pct": self.min_effect_pct,
            "confidence": self.confidence,
            "current_samples": self.current_samples,
            "baseline_samples": self.baseline_samples,
            # The headline figures, flat for a stack output reader.
            "p95_difference_pct": _round(p95.difference_pct) if p95 else None,
            "p95_interval_pct": [_round(v) for v in p95.interval_pct] if p95 and p95.interval_pct else None,
            "p95_p_value": _round(p95.p_value, 6) if p95 else None,
            "percentiles": [p.to_dict() for p in self.percentiles],
            "mann_whitney_p": _round(self.mann_whitney_p, 6),
            "probability_slower": _round(self.probability_slower, 4),
            "gated": self.gated,
        }


def _round(value: float | None, digits: int = 3) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(float(value), digits)


def inconclusive(
    reason: str, policy: RegressionPolicy, run_ids: Sequence[str] = (), **figures: Any
) -> RegressionResult:
    """An "inconclusive" result naming why (too few runs, no histograms, too few samples)."""
    return RegressionResult(
        "inconclusive",
        reason,
        policy.runs,
        policy.min_effect_pct,
        baseline_run_ids=tuple(run_ids),
        **figures,
    )


def histogram_samples(hist: TrendHistogram, limit: int = MAX_SAMPLES_PER_RUN) -> np.ndarray:
    """The histogram's samples (in its unit, ms for latencies), sorted; at most `limit` of them,
    taken at evenly spaced ranks when there are more (see the module docstring)."""
    import numpy as np

    raw = hist._hist  # the hdrh histogram; its own iterator is ~50x slower than its counts
    counts = np.ctypeslib.as_array(raw.counts)[: raw.counts_len].astype(np.int64)
    indexes = np.nonzero(counts)[0]
    if not len(indexes):
        return np.empty(0)
    # A bucket's value is its highest equivalent value, as the summaries' percentiles read it.
    ticks = [raw.get_highest_equivalent_value(raw.get_value_from_index(int(i))) for i in indexes]
    bucket_values = np.asarray(ticks, dtype=float) / hist.scale
    cumulative = np.cumsum(counts[indexes])
    total = int(cumulative[-1])
    size = min(total, limit)
    # Rank i of `size` stands for rank (i + 0.5) * total / size of the whole run.
    ranks = np.floor((np.arange(size) + 0.5) * total / size).astype(np.int64)
    return bucket_values[np.searchsorted(cumulative, ranks, side="right")]


def _percentile(values: np.ndarray, pct: float | list[float], axis: int = -1) -> np.ndarray:
    import numpy as np

    # Nearest rank, as the results document's summaries (loadtests/results/histogram.py).
    return np.percentile(values, pct, axis=axis, method="inverted_cdf")


def _difference_pct(current: np.ndarray, baseline: np.ndarray, axis: int = -1) -> np.ndarray:
    """[p95, p99] difference in percent of `current` against `baseline` (vectorized on `axis`)."""
    cur = _percentile(current, list(PERCENTILES), axis)
    base = _percentile(baseline, list(PERCENTILES), axis)
    return (cur / base - 1.0) * 100.0


def _run_to_run_p(current_value: float, run_values: Sequence[float]) -> float:
    """Two-sided p of `current_value` under the t prediction interval of `run_values`."""
    import numpy as np
    from scipy import stats

    k = len(run_values)
    mean = float(np.mean(run_values))
    spread = float(np.std(run_values, ddof=1)) * math.sqrt(1 + 1 / k)
    if spread <= 1e-9 * max(abs(mean), 1.0):
        # Identical earlier runs: any difference is beyond their noise (the floor still applies).
        return 1.0 if math.isclose(current_value, mean, rel_tol=1e-9) else 0.0
    t_value = (current_value - mean) / spread
    return float(2 * stats.t.sf(abs(t_value), df=k - 1))


def _judge(
    pct: float,
    current: np.ndarray,
    pooled: np.ndarray,
    runs: Sequence[np.ndarray],
    interval: tuple[float, float],
    min_effect_pct: float,
) -> PercentileComparison:
    current_ms = float(_percentile(current, pct))
    baseline_ms = float(_percentile(pooled, pct))
    run_values = tuple(float(_percentile(run, pct)) for run in runs)
    figures: dict[str, Any] = {"percentile": pct, "current_ms": current_ms, "baseline_ms": baseline_ms}
    needed = math.ceil(MIN_TAIL_SAMPLES / (1 - pct / 100))
    smallest = min(len(current), *(len(run) for run in runs))
    if smallest < needed or baseline_ms <= 0:
        detail = f"p{pct:g} needs {needed} samples per run, the smallest run has {smallest}"
        return PercentileComparison(outcome="inconclusive", runs_ms=run_values, detail=detail, **figures)
    difference = (current_ms / baseline_ms - 1) * 100
    p_value = _run_to_run_p(current_ms, run_values)
    low, high = interval
    outcome: Outcome = "no change"
    if low > 0 and p_value < ALPHA and difference >= min_effect_pct:
        outcome = "regression"
    elif high < 0 and p_value < ALPHA and difference <= -min_effect_pct:
        outcome = "improvement"
    detail = (
        f"p{pct:g} {current_ms:.4g} ms vs {baseline_ms:.4g} ms: {difference:+.1f} % "
        f"(95 % interval {low:+.1f} to {high:+.1f} %), p = {p_value:.3g} against {len(runs)} runs"
    )
    return PercentileComparison(
        outcome=outcome,
        difference_pct=difference,
        interval_pct=(low, high),
        p_value=p_value,
        runs_ms=run_values,
        detail=detail,
        **figures,
    )


def compare_histograms(
    current: TrendHistogram,
    earlier: Sequence[tuple[str, TrendHistogram]],
    policy: RegressionPolicy,
    *,
    metric: str = "http_req_duration",
) -> RegressionResult:
    """This run's histogram against the earlier runs' (run id, histogram), oldest first; only
    the last `policy.runs` are used. Pure and deterministic (see the module docstring)."""
    import numpy as np
    from scipy import stats

    chosen = list(earlier)[-policy.runs :]
    run_ids = tuple(run_id for run_id, _ in chosen)
    if len(chosen) < policy.runs:
        return inconclusive(
            f"{len(chosen)} earlier passing run(s) of this stack and profile with histograms, "
            f"{policy.runs} needed",
            policy,
            run_ids,
            metric=metric,
            current_samples=current.count,
        )
    current_values = histogram_samples(current)
    runs = [histogram_samples(hist) for _, hist in chosen]
    pooled = np.concatenate(runs)
    sizes = {"current_samples": current.count, "baseline_samples": sum(h.count for _, h in chosen)}
    if len(current_values) < 2 or min(len(run) for run in runs) < 2:
        return inconclusive("too few samples to compare", policy, run_ids, metric=metric, **sizes)

    boot = stats.bootstrap(
        (current_values, pooled),
        _difference_pct,
        n_resamples=BOOTSTRAP_RESAMPLES,
        batch=BOOTSTRAP_BATCH,
        vectorized=True,
        paired=False,
        confidence_level=1 - ALPHA,
        method="percentile",
        rng=np.random.default_rng(SEED),
    )
    lows, highs = boot.confidence_interval
    percentiles = tuple(
        _judge(pct, current_values, pooled, runs, (float(lows[i]), float(highs[i])), policy.min_effect_pct)
        for i, pct in enumerate(PERCENTILES)
    )
    test = stats.mannwhitneyu(current_values, pooled, alternative="two-sided", method="asymptotic")
    slower = float(test.statistic) / (len(current_values) * len(pooled))

    judged = [p for p in percentiles if p.outcome != "inconclusive"]
    p95 = percentiles[0]
    if p95.outcome == "inconclusive":
        outcome: Outcome = "inconclusive"
        reason = p95.detail
    else:
        outcome = "no change"
        if any(p.outcome == "regression" for p in judged):
            outcome = "regression"
        elif any(p.outcome == "improvement" for p in judged):
            outcome = "improvement"
        deciding = next((p for p in judged if p.outcome == outcome), p95)
        reason = f"{outcome}: {deciding.detail}"
        if outcome == "no change":
            floor = policy.min_effect_pct
            reason += f" (a change needs the interval off 0, p < {ALPHA:g} and at least {floor:g} %)"
    return RegressionResult(
        outcome,
        reason,
        policy.runs,
        policy.min_effect_pct,
        metric=metric,
        baseline_run_ids=run_ids,
        percentiles=percentiles,
        mann_whitney_p=float(test.pvalue),
        probability_slower=slower,
        **sizes,
    )


def compare_documents(
    doc: Mapping[str, Any],
    earlier_docs: Sequence[Mapping[str, Any]],
    policy: RegressionPolicy,
    *,
    metric: str = "http_req_duration",
    endpoint: str | None = None,
) -> RegressionResult:
    """This results document against earlier ones (oldest first; the caller picks passing runs
    of the same stack and profile), from their `histograms` sections. Documents without a
    histogram of `metric` are left out; this run without one is inconclusive."""
    current = document_histogram(doc, metric, endpoint=endpoint)
    earlier = [
        (str(other.get("run_id")), hist)
        for other in earlier_docs
        if (hist := document_histogram(other, metric, endpoint=endpoint)) is not None
    ]
    if current is None:
        run_ids = [run_id for run_id, _ in earlier][-policy.runs :]
        return inconclusive(f"this run's results have no {metric} histogram", policy, run_ids, metric=metric)
    return compare_histograms(current, earlier, policy, metric=metric)


def regression_line(section: Mapping[str, Any] | None) -> str | None:
    """One line for people from a results document's `regression` section (the `to_dict` form);
    None when the run has none."""
    if not isinstance(section, Mapping) or not section.get("outcome"):
        return None
    runs = f"{section.get('runs_compared', 0)} of {section.get('runs_required', '?')} earlier runs"
    gated = " (fails the gate)" if section.get("gated") else ""
    if section.get("p95_difference_pct") is None:
        return f"statistical regression: {section['outcome']}{gated} ({section.get('reason')}; {runs})"
    low, high = section.get("p95_interval_pct") or (None, None)
    line = f"statistical regression: {section['outcome']}{gated}: p95 {section['p95_difference_pct']:+.1f} %"
    if low is not None and high is not None:
        line += f", 95 % interval {low:+.1f} to {high:+.1f} %"
    if section.get("p95_p_value") is not None:
        line += f", p = {section['p95_p_value']:.3g}"
    return f"{line} against {runs}"

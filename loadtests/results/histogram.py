"""Mergeable high-dynamic-range histograms for latency and other trends.

Each worker records every sample into an HDR histogram (the `hdrhistogram` package) with three
significant digits, so any percentile read back is within 0.1 % of the exact sample value,
whatever the number of samples: memory depends on the value range only, not on run length.
Histograms travel to the master as the library's compressed base64 encoding and are merged
there by adding bucket counts, which is exact: the merged histogram equals the histogram of the
union of all samples.

Values are recorded in integer ticks: `scale` ticks per unit (1000 per millisecond, i.e.
microseconds, for latencies; 10 000 per unit for the unitless CLS).

`record` is on every request's path, so it only appends the value to a list; the values are
folded into the HDR counts in one batch (C-level conversion and counting, then one update per
distinct tick) before anything reads the histogram, or once PENDING_LIMIT values wait. The
counts, sum, minimum and maximum come out exactly as recording each value on its own would
give them; a histogram allocates its HDR counts only when its first value is folded.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable
from functools import reduce
from itertools import accumulate, repeat

from hdrh.histogram import HdrHistogram

__all__ = ["SIGNIFICANT_DIGITS", "TrendHistogram"]

SIGNIFICANT_DIGITS = 3
# Latencies are held in microseconds from 1 µs to 10 minutes; a sample above is clamped.
DEFAULT_SCALE = 1000
DEFAULT_HIGHEST_UNITS = 600_000.0
# Values waiting for a fold at most (memory stays bounded when nothing reads the histogram).
PENDING_LIMIT = 8192


class TrendHistogram:
    """An HDR histogram of non-negative float samples in some unit (ms by default).

    :param scale: integer ticks per unit; the resolution is 1/scale of a unit.
    :param highest: the largest value (in units) tracked exactly; larger samples are clamped
        to it and counted in `clamped`.
    """

    __slots__ = ("_clamped", "_hdr", "_highest_ticks", "_pending", "_total", "scale")

    def __init__(self, scale: int = DEFAULT_SCALE, highest: float = DEFAULT_HIGHEST_UNITS) -> None:
        self.scale = scale
        self._highest_ticks = int(highest * scale)
        self._hdr: HdrHistogram | None = None  # created by the first fold with values
        self._pending: list[float] = []
        self._clamped = 0
        # Exact sum of the recorded values (in units) for the average; HDR's mean is bucketed.
        self._total = 0.0

    def record(self, value: float) -> None:
        """Record one sample (in units). Negative values count as 0."""
        pending = self._pending
        pending.append(value)
        if len(pending) >= PENDING_LIMIT:
            self._fold()

    def record_many(self, values: Iterable[float]) -> None:
        """Record every sample of `values` (in units), in order: as `record` of each would."""
        pending = self._pending
        pending.extend(values)
        if len(pending) >= PENDING_LIMIT:
            self._fold()

    def _fold(self) -> None:
        """Fold the pending values into the HDR counts, exactly as `record_value` of each would.

        A value becomes int(value * scale + 0.5) ticks, clamped to 1..highest (the clamped
        ones counted); the ticks are counted (C-level), and each distinct tick adds its count
        to the HDR bucket `_counts_index_for` would pick (the index arithmetic of hdrh's
        HdrHistogram, checked against it by the unit tests). The sum adds the values in
        recording order, as one-by-one recording did.
        """
        values = self._pending
        if not values:
            return
        self._pending = []
        self._total = self._count_values(values, self._total)

    def _count_values(self, values: list[float], total: float) -> float:
        """Add `values` to the HDR counts (see `_fold`); returns `total` plus their sum."""
        hdr = self._hdr_counts()
        scaled = map(operator.add, map(operator.mul, values, repeat(self.scale)), repeat(0.5))
        ticks = Counter(map(int, scaled))
        lowest, highest = min(ticks), max(ticks)
        if lowest < 1 or highest > self._highest_ticks:
            ticks = self._clamp(ticks)
            lowest, highest = min(ticks), max(ticks)
        counts = hdr.counts
        unit = hdr.unit_magnitude
        mask = hdr.sub_bucket_mask
        bucket_shift = unit + hdr.sub_bucket_half_count_magnitude + 1
        half_magnitude = hdr.sub_bucket_half_count_magnitude
        half_count = hdr.sub_bucket_half_count
        for tick, n in ticks.items():
            bucket = (tick | mask).bit_length() - bucket_shift
            counts[((bucket + 1) << half_magnitude) + (tick >> (bucket + unit)) - half_count] += n
        hdr.total_count += len(values)
        if lowest < hdr.min_value:
            hdr.min_value = lowest
        if highest > hdr.max_value:
            hdr.max_value = highest
        if min(values) < 0:
            values = [value if value > 0 else 0.0 for value in values]
        return reduce(operator.add, values, total)

    def _clamp(self, ticks: Counter) -> Counter:
        clamped: Counter = Counter()
        top = self._highest_ticks
        for tick, n in ticks.items():
            if tick < 1:
                tick = 1
            elif tick > top:
                tick = top
                self._clamped += n
            clamped[tick] += n
        return clamped

    def _hdr_counts(self) -> HdrHistogram:
        hdr = self._hdr
        if hdr is None:
            hdr = self._hdr = HdrHistogram(1, self._highest_ticks, SIGNIFICANT_DIGITS)
        return hdr

    @property
    def _hist(self) -> HdrHistogram:
        """The HDR histogram with every recorded value folded in."""
        if self._pending:
            self._fold()
        return self._hdr_counts()

    @property
    def total(self) -> float:
        """The sum of the recorded values (in units; negative ones as 0)."""
        if self._pending:
            self._fold()
        return self._total

    @property
    def clamped(self) -> int:
        """How many values were above `highest` (and recorded as `highest`)."""
        if self._pending:
            self._fold()
        return self._clamped

    @property
    def count(self) -> int:
        hdr = self._hdr
        return (hdr.total_count if hdr is not None else 0) + len(self._pending)

    def percentile(self, pct: float) -> float:
        """The nearest-rank value (in units) at percentile `pct` (0-100); 0.0 when empty.

        Nearest rank: the smallest recorded value with at least pct % of the samples at or
        below it (rank ceil(pct/100 * n)). HDR's own lookup rounds the rank half up instead,
        which in a sparse tail can pick a neighbouring sample; the rank is fixed here and
        handed to the library as an exact percentile of it.
        """
        return self.percentiles((pct,))[pct]

    def percentiles(self, pcts: tuple[float, ...]) -> dict[float, float]:
        """Several nearest-rank percentiles in one pass over the counts (see `percentile`)."""
        total = self.count
        if total == 0:
            return dict.fromkeys(pcts, 0.0)
        exact = {
            pct: 100.0 * min(total, max(1, math.ceil(pct * total / 100.0 - 1e-9))) / total for pct in pcts
        }
        hdr = self._hist
        cumulative = self._cumulative_counts(hdr)
        return {pct: _value_at_percentile(hdr, cumulative, exact[pct]) / self.scale for pct in pcts}

    @staticmethod
    def _cumulative_counts(hdr: HdrHistogram) -> list[int]:
        # The running count over every HDR bucket, counted C-level: hdrh's own percentile
        # lookups walk the ~21,000 buckets in Python, which the progress tick paid for every
        # 5 s on the request path's own CPU.
        limit = min(hdr.counts_len, hdr.encoder.payload.counts_len)
        return list(accumulate(hdr.counts[:limit]))

    def min(self) -> float:
        return self._hist.get_min_value() / self.scale if self.count else 0.0

    def max(self) -> float:
        return self._hist.get_max_value() / self.scale if self.count else 0.0

    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0

    def merge(self, other: TrendHistogram) -> None:
        """Add every sample of `other` (same scale) to this histogram."""
        if other.scale != self.scale:
            raise ValueError(f"cannot merge histograms of scale {other.scale} into scale {self.scale}")
        self._fold()  # this histogram's own values first: the sum keeps its order
        if other._hdr is None:
            # Only values waiting for a fold (a short-lived slot of a progress tick or a worker's
            # report): counted here, so no HDR counts are allocated just to be added and
            # dropped. Their sum is added as one, as when `other` had folded them itself.
            if other._pending:
                self._total += self._count_values(other._pending, 0.0)
            return
        if other.count:
            self._hist.add(other._hist)
        self._clamped += other.clamped
        self._total += other.total

    def reset(self) -> None:
        self._pending = []
        if self._hdr is not None:
            self._hdr.reset()
        self._clamped = 0
        self._total = 0.0

    def encode(self) -> dict:
        """A small JSON/msgpack-safe payload: compressed counts plus the exact sum."""
        return {
            "scale": self.scale,
            "hdr": self._hist.encode().decode("ascii") if self.count else "",
            "sum": self.total,
            "clamped": self.clamped,
        }

    def merge_encoded(self, payload: dict) -> None:
        """Merge a payload produced by `encode()` of a histogram with the same scale."""
        if payload["scale"] != self.scale:
            raise ValueError(f"cannot merge histograms of scale {payload['scale']} into scale {self.scale}")
        self._fold()  # this histogram's own values first: the sum keeps its order
        if payload["hdr"]:
            self._hist.decode_and_add(payload["hdr"])
        self._total += payload["sum"]
        self._clamped += payload["clamped"]

    @classmethod
    def decode(cls, payload: dict, highest: float = DEFAULT_HIGHEST_UNITS) -> TrendHistogram:
        hist = cls(scale=payload["scale"], highest=highest)
        hist.merge_encoded(payload)
        return hist


def _value_at_percentile(hdr: HdrHistogram, cumulative: list[int], percentile: float) -> int:
    """What `hdr.get_value_at_percentile(percentile)` returns, found by bisection in the
    running counts: the first bucket whose running count reaches the target count."""
    target = hdr.get_target_count_at_percentile(percentile)
    index = bisect_left(cumulative, target)
    if index == len(cumulative):
        return 0
    value = hdr.get_value_from_index(index)
    return hdr.get_highest_equivalent_value(value) if percentile else hdr.get_lowest_equivalent_value(value)

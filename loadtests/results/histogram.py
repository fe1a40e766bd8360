"""Mergeable high-dynamic-range histograms for latency and other trends.

Each worker records every sample into an HDR histogram (the `hdrhistogram` package) with three
significant digits, so any percentile read back is within 0.1 % of the exact sample value,
whatever the number of samples: memory depends on the value range only, not on run length.
Histograms travel to the master as the library's compressed base64 encoding and are merged
there by adding bucket counts, which is exact: the merged histogram equals the histogram of the
union of all samples.

Values are recorded in integer ticks: `scale` ticks per unit (1000 per millisecond, i.e.
microseconds, for latencies; 10 000 per unit for the unitless CLS).
"""

from __future__ import annotations

import math

from hdrh.histogram import HdrHistogram

__all__ = ["SIGNIFICANT_DIGITS", "TrendHistogram"]

SIGNIFICANT_DIGITS = 3
# Latencies are held in microseconds from 1 µs to 10 minutes; a sample above is clamped.
DEFAULT_SCALE = 1000
DEFAULT_HIGHEST_UNITS = 600_000.0


class TrendHistogram:
    """An HDR histogram of non-negative float samples in some unit (ms by default).

    :param scale: integer ticks per unit; the resolution is 1/scale of a unit.
    :param highest: the largest value (in units) tracked exactly; larger samples are clamped
        to it and counted in `clamped`.
    """

    __slots__ = ("_highest_ticks", "_hist", "clamped", "scale", "total")

    def __init__(self, scale: int = DEFAULT_SCALE, highest: float = DEFAULT_HIGHEST_UNITS) -> None:
        self.scale = scale
        self._highest_ticks = int(highest * scale)
        self._hist = HdrHistogram(1, self._highest_ticks, SIGNIFICANT_DIGITS)
        self.clamped = 0
        # Exact sum of the recorded values (in units) for the average; HDR's mean is bucketed.
        self.total = 0.0

    def record(self, value: float) -> None:
        """Record one sample (in units). Negative values count as 0."""
        ticks = int(value * self.scale + 0.5)
        if ticks < 1:
            ticks = 1
        elif ticks > self._highest_ticks:
            ticks = self._highest_ticks
            self.clamped += 1
        self._hist.record_value(ticks)
        self.total += value if value > 0 else 0.0

    @property
    def count(self) -> int:
        return self._hist.get_total_count()

    def percentile(self, pct: float) -> float:
        """The nearest-rank value (in units) at percentile `pct` (0-100); 0.0 when empty.

        Nearest rank: the smallest recorded value with at least pct % of the samples at or
        below it (rank ceil(pct/100 * n)). HDR's own lookup rounds the rank half up instead,
        which in a sparse tail can pick a neighbouring sample; the rank is fixed here and
        handed to the library as an exact percentile of it.
        """
        total = self.count
        if total == 0:
            return 0.0
        rank = min(total, max(1, math.ceil(pct * total / 100.0 - 1e-9)))
        return self._hist.get_value_at_percentile(100.0 * rank / total) / self.scale

    def percentiles(self, pcts: tuple[float, ...]) -> dict[float, float]:
        """Several nearest-rank percentiles in one pass over the counts (see `percentile`)."""
        total = self.count
        if total == 0:
            return dict.fromkeys(pcts, 0.0)
        exact = {
            pct: 100.0 * min(total, max(1, math.ceil(pct * total / 100.0 - 1e-9))) / total for pct in pcts
        }
        values = self._hist.get_percentile_to_value_dict(list(exact.values()))
        return {pct: values[exact[pct]] / self.scale for pct in pcts}

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
        if other.count:
            self._hist.add(other._hist)
        self.clamped += other.clamped
        self.total += other.total

    def reset(self) -> None:
        self._hist.reset()
        self.clamped = 0
        self.total = 0.0

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
        if payload["hdr"]:
            self._hist.decode_and_add(payload["hdr"])
        self.total += payload["sum"]
        self.clamped += payload["clamped"]

    @classmethod
    def decode(cls, payload: dict, highest: float = DEFAULT_HIGHEST_UNITS) -> TrendHistogram:
        hist = cls(scale=payload["scale"], highest=highest)
        hist.merge_encoded(payload)
        return hist

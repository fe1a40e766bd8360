"""The results document's `histograms` section: the merged HDR histograms behind the summaries.

The summaries (loadtests/results/document.py) keep a few percentiles; a statistical comparison
of two runs (loadtests/slo/regression.py) needs the whole distribution. So a results document
also carries the encoded histogram (`TrendHistogram.encode()`: the library's compressed counts,
the exact sum and the clamped count) of `http_req_duration`, overall and per endpoint:

    "histograms": {
      "metrics":   {"http_req_duration": {"scale": 1000, "hdr": "HISTFAAA...", "sum": 1234.5, "clamped": 0}},
      "endpoints": {"GET /api/projects": {"http_req_duration": {...}}, ...}
    }

Bounded in size: an HDR histogram with three significant digits between 1 µs and 10 minutes has
at most ~20,000 buckets, whatever the run's length (typically 1-5 KB encoded for a run of the
suite), and only the MAX_ENDPOINT_HISTOGRAMS busiest endpoints get one. Documents written before
the section existed have none: readers get None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtests.results.histogram import TrendHistogram

__all__ = [
    "HISTOGRAM_METRICS",
    "MAX_ENDPOINT_HISTOGRAMS",
    "document_histogram",
    "histograms_section",
]

# The metrics whose histograms a document keeps (more would grow every document for no reader).
HISTOGRAM_METRICS = ("http_req_duration",)
MAX_ENDPOINT_HISTOGRAMS = 100


def histograms_section(
    overall: Mapping[str, TrendHistogram], endpoints: Mapping[str, Mapping[str, TrendHistogram]]
) -> dict[str, Any]:
    """The `histograms` section from merged histograms: `overall` by metric, `endpoints` by
    endpoint then metric. Only HISTOGRAM_METRICS with samples; the busiest endpoints first."""

    def encoded(hists: Mapping[str, TrendHistogram]) -> dict[str, dict]:
        return {m: hists[m].encode() for m in HISTOGRAM_METRICS if m in hists and hists[m].count}

    def busiest(item: tuple[str, Mapping[str, TrendHistogram]]) -> tuple[int, str]:
        hist = item[1].get(HISTOGRAM_METRICS[0])
        return (-(hist.count if hist is not None else 0), item[0])

    chosen = sorted(endpoints.items(), key=busiest)[:MAX_ENDPOINT_HISTOGRAMS]
    per_endpoint = {name: encoded(hists) for name, hists in sorted(chosen)}
    return {"metrics": encoded(overall), "endpoints": {k: v for k, v in per_endpoint.items() if v}}


def document_histogram(
    doc: Mapping[str, Any] | None, metric: str = "http_req_duration", *, endpoint: str | None = None
) -> TrendHistogram | None:
    """The decoded histogram of `metric` (overall, or of one endpoint) in a results document;
    None when the document has none (written before the section existed, or no samples)."""
    section = (doc or {}).get("histograms")
    if not isinstance(section, Mapping):
        return None
    if endpoint is None:
        payload = (section.get("metrics") or {}).get(metric)
    else:
        payload = ((section.get("endpoints") or {}).get(endpoint) or {}).get(metric)
    if not isinstance(payload, Mapping) or not payload.get("hdr"):
        return None
    try:
        return TrendHistogram.decode(dict(payload))
    except Exception:  # hdrh's codec raises its own exception types (HdrLengthException, ...)
        # A damaged payload is no histogram: the comparison says so instead of failing the run.
        return None

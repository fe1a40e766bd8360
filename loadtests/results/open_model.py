"""The open model's figures of a results document, in one form for the outputs and the reports.

`open_model_summary(doc)` is None for a closed-model run. For an arrival-rate run it holds the
executor, its iterations (planned, started, completed, dropped), the requested and achieved
rate (iterations per second), the p95 and p99 of the service time (http_req_duration) and of the
latency from the intended start (http_req_latency_intended, in ms), which one the thresholds
use, and for a capacity search its result (`capacity`: the highest rate per time unit that met
every threshold, the users it kept busy, whether a longer hold confirmed it, the first threshold
that broke and why the search ended).

Which latency the thresholds judge: a threshold line names its metric. `http_req_duration`
always means the service time, from the request's own start (as in k6), whatever the executor;
`http_req_latency_intended` is the latency from the iteration's intended start, measured in
arrival-rate runs only. A gate that should see coordinated omission names the latter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from loadtests.results.metrics import summary_value

__all__ = ["INTENDED_METRIC", "SERVICE_METRIC", "open_model_summary", "thresholds_use"]

INTENDED_METRIC = "http_req_latency_intended"
SERVICE_METRIC = "http_req_duration"


def thresholds_use(doc: Mapping[str, Any]) -> str:
    """A sentence saying which latency the run's threshold lines judge."""
    keys = [str(t.get("key") or "") for t in doc.get("thresholds") or () if isinstance(t, Mapping)]
    intended = any(key.startswith(INTENDED_METRIC) for key in keys)
    service = any(key.startswith(SERVICE_METRIC) for key in keys)
    if intended and service:
        return (
            f"the thresholds judge both: lines on {SERVICE_METRIC} the service time, lines on "
            f"{INTENDED_METRIC} the latency from the intended start"
        )
    if intended:
        return f"the latency thresholds judge {INTENDED_METRIC}: the latency from the intended start"
    if service:
        return (
            f"the latency thresholds judge {SERVICE_METRIC}: the service time, which leaves out the "
            f"waits of iterations that started late; add lines on {INTENDED_METRIC} to gate those"
        )
    return (
        f"no threshold judges a latency; {SERVICE_METRIC} is the service time, {INTENDED_METRIC} "
        "the latency from the intended start"
    )


def open_model_summary(doc: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The open model's figures (see the module docstring); None for a closed-model run."""
    executor = (doc or {}).get("executor")
    if not isinstance(executor, Mapping):
        return None
    assert doc is not None
    out: dict[str, Any] = {
        "executor": executor.get("kind"),
        "description": executor.get("description"),
        "planned_iterations": executor.get("planned_iterations"),
        "started_iterations": executor.get("started_iterations"),
        "dropped_iterations": executor.get("dropped_iterations"),
        "requested_rate_per_s": executor.get("requested_rate_per_s"),
        "achieved_rate_per_s": executor.get("achieved_rate_per_s"),
        "peak_users": executor.get("peak_users"),
        "service_p95_ms": summary_value(doc, SERVICE_METRIC, "p95"),
        "service_p99_ms": summary_value(doc, SERVICE_METRIC, "p99"),
        "intended_p95_ms": summary_value(doc, INTENDED_METRIC, "p95"),
        "intended_p99_ms": summary_value(doc, INTENDED_METRIC, "p99"),
        "thresholds_use": thresholds_use(doc),
    }
    capacity = doc.get("capacity")
    if isinstance(capacity, Mapping):
        first = capacity.get("first_break") or None
        out["capacity"] = {
            "rate": capacity.get("rate"),
            "rate_per_s": capacity.get("rate_per_s"),
            "time_unit_s": capacity.get("time_unit_s"),
            "users": capacity.get("users"),
            "confirmed": capacity.get("confirmed"),
            "at_max_rate": capacity.get("at_max_rate"),
            "first_break": None
            if first is None
            else {key: first.get(key) for key in ("rate", "key", "value", "bound", "detail")},
            "reason": capacity.get("reason"),
            "steps": len(capacity.get("steps") or ()),
        }
    return out

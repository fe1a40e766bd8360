"""Measured endpoint baselines: each SLO endpoint's P50/P95/P99 in one real run, kept as data.

    python -m tools.slo_doc --from-results RESULTS.json [--conditions TEXT]

takes the results document of a completed run, reads every SLO endpoint's merged
`http_req_duration` percentiles (all workers' HDR histograms, see loadtests/results/document.py), writes
them with the run's identity to `docs/endpoint_baselines.json` and regenerates
`docs/SLO_BASELINES.md`, whose endpoint section renders from that file.
`bench/endpoint_baselines.py` makes such a run against the reference app on loopback first.

The file (schema 1)::

    {"schema": 1,
     "run": {"run_id", "started_at", "duration_s", "profile", "peak_users", "stages", "workers",
             "target", "conditions"},
     "endpoints": {"GET /api/insight/issues": {"requests": 812, "failed": 0,
                                               "p50_ms": 6.1, "p95_ms": 21.0, "p99_ms": 38.4}, ...}}

Durations in milliseconds; `failed` counts failed requests.

Errors::

    LoadTestError (loadtests/errors.py)
     +-- EndpointBaselineError     the run cannot serve as a baseline, or the baseline file is malformed
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from loadtests.errors import LoadTestError

__all__ = [
    "MAX_FAILED_SHARE",
    "SCHEMA",
    "EndpointBaselineError",
    "baselines_from_results",
    "check_baselines",
    "read_baselines",
    "write_baselines",
]

SCHEMA = 1
# A run whose endpoint failed more often than the gate allows (http_req_failed rate<0.01) measured
# errors rather than the endpoint's latency.
MAX_FAILED_SHARE = 0.01
_PERCENTILES = ("p50", "p95", "p99")
_RUN_FIELDS = ("run_id", "started_at", "duration_s", "profile", "peak_users", "stages", "workers", "target")


class EndpointBaselineError(LoadTestError):
    """A run that cannot serve as a baseline, or a malformed baseline file; the message says why."""


def baselines_from_results(
    doc: Mapping[str, Any], endpoints: Sequence[str], conditions: str = ""
) -> dict[str, Any]:
    """The baseline data of `endpoints` in the results document `doc` (pure).

    Raises EndpointBaselineError when the run did not complete, or when an endpoint has no samples or
    failed more than MAX_FAILED_SHARE of its requests; the message lists every such endpoint.
    """
    if doc.get("status") != "completed":
        reason = doc.get("abort_reason") or "no reason recorded"
        raise EndpointBaselineError(
            f"run {doc.get('run_id')!r} has status {doc.get('status')!r} ({reason}); "
            "expected a completed run to measure baselines from"
        )
    measured: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    for endpoint in endpoints:
        section = (doc.get("endpoints") or {}).get(endpoint) or {}
        duration = section.get("http_req_duration") or {}
        requests = int(duration.get("count") or 0)
        if requests == 0:
            problems.append(f"{endpoint}: no requests in this run")
            continue
        failed = int((section.get("http_req_failed") or {}).get("passes") or 0)
        if failed / requests > MAX_FAILED_SHARE:
            problems.append(
                f"{endpoint}: {failed} of {requests} requests failed; expected at most "
                f"{MAX_FAILED_SHARE:.0%} for a baseline"
            )
            continue
        measured[endpoint] = {
            "requests": requests,
            "failed": failed,
            **{f"{p}_ms": round(float(duration[p]), 1) for p in _PERCENTILES},
        }
    if problems:
        raise EndpointBaselineError(
            f"run {doc.get('run_id')!r} cannot serve as the endpoint baseline:\n  - "
            + "\n  - ".join(problems)
        )
    profile = doc.get("profile") or {}
    stages = [
        {"duration_s": float(s["duration_s"]), "target": int(s["target"])}
        for s in profile.get("stages") or []
    ]
    run = {
        "run_id": doc.get("run_id"),
        "started_at": doc.get("started_at"),
        "duration_s": round(float(doc.get("duration_s") or 0.0), 1),
        "profile": profile.get("name"),
        "peak_users": max((s["target"] for s in stages), default=0),
        "stages": stages,
        "workers": len(doc.get("workers") or []),
        "target": doc.get("target"),
        "conditions": conditions,
    }
    return {"schema": SCHEMA, "run": run, "endpoints": measured}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_baselines(data: Any, source: str) -> dict[str, Any]:
    """`data` if it is a valid baseline document, else EndpointBaselineError naming every bad field."""
    if not isinstance(data, dict):
        raise EndpointBaselineError(f"{source}: expected a JSON object, found {type(data).__name__}")
    problems: list[str] = []
    if data.get("schema") != SCHEMA:
        problems.append(f"schema = {data.get('schema')!r}: expected {SCHEMA}")
    run = data.get("run")
    if not isinstance(run, dict):
        problems.append(f"run = {run!r}: expected an object with {', '.join(_RUN_FIELDS)}")
    else:
        problems += [f"run.{name}: missing" for name in _RUN_FIELDS if name not in run]
    endpoints = data.get("endpoints")
    if not isinstance(endpoints, dict):
        problems.append(f"endpoints = {endpoints!r}: expected an object keyed by endpoint name")
        endpoints = {}
    for name, row in endpoints.items():
        values = [row.get(f"{p}_ms") for p in _PERCENTILES] if isinstance(row, dict) else []
        if len(values) != 3 or not all(_number(v) and v >= 0 for v in values):
            problems.append(f"endpoints[{name!r}] = {row!r}: expected p50_ms, p95_ms and p99_ms in ms (>= 0)")
        elif not values[0] <= values[1] <= values[2]:
            problems.append(f"endpoints[{name!r}]: expected p50_ms <= p95_ms <= p99_ms, found {values}")
        elif not isinstance(row.get("requests"), int) or row["requests"] < 1:
            problems.append(f"endpoints[{name!r}].requests = {row.get('requests')!r}: expected a count >= 1")
    if problems:
        raise EndpointBaselineError(f"{source} is not a valid baseline file:\n  - " + "\n  - ".join(problems))
    return data


def read_baselines(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a baseline file; EndpointBaselineError when it is missing or malformed."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise EndpointBaselineError(
            f"{path}: no such baseline file; measure one with "
            "python -m tools.slo_doc --from-results RESULTS.json"
        ) from None
    except ValueError as exc:
        raise EndpointBaselineError(f"{path}: not JSON ({exc})") from None
    return check_baselines(data, str(path))


def write_baselines(data: Mapping[str, Any], path: str | os.PathLike[str]) -> Path:
    """Check and write the baseline file (stable key order, one trailing newline)."""
    target = Path(path)
    check_baselines(dict(data), str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return target

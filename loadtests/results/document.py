"""The results document: one versioned JSON file per load-test run.

Schema: loadtests/results/schema/results.schema.json (`schema_version` "1.0"). Summary forms:

    trend   {"type": "trend", "unit": "ms"|"", "count", "min", "max", "avg", "p50", "p90", "p95", "p99"}
    rate    {"type": "rate", "passes", "fails", "rate"}      rate = passes / (passes + fails), 0.0-1.0
    counter {"type": "counter", "count", "rate_per_s"}
    gauge   {"type": "gauge", "value", "max"}

Optional sections: `generators` (the load generators' CPU and event-loop lag, and whether they
were saturated: loadtests/results/generators.py; absent from documents written before it was
measured), `histograms` (the encoded HDR histograms of http_req_duration, overall and per
endpoint, for the statistical regression criterion: loadtests/results/distributions.py),
`executor` (arrival-rate runs: iterations planned, started and dropped, the requested and
achieved rate; loadtests/suite/arrival.py), `capacity` (a capacity search's result and steps;
loadtests/run/capacity.py), and `thresholds`, `verdict` and `regression` (added by the SLO
gate and the pipeline).

Trend values are milliseconds (web_vitals_cls is unitless). For `http_req_failed` and
`error_rate`, passes are the failed requests (k6 semantics: the rate is the share that failed);
for `checks`, passes are the passed checks.

Reading: `load_document(path)` and `parse_document(text, source)` are the one reader of a
results document. Both raise `ResultsError` (a `loadtests.errors.LoadTestError`) with a message
naming the source and the problem: missing or unreadable file, not JSON (line and column), not
an object, keys missing, another schema major version, then every schema violation.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loadtests.errors import ResultsError

if TYPE_CHECKING:
    from loadtests.results.histogram import TrendHistogram

__all__ = [
    "SCHEMA_PATH",
    "SCHEMA_VERSION",
    "STATUSES",
    "ResultsError",
    "build_document",
    "counter_summary",
    "gauge_summary",
    "iso_utc",
    "load_document",
    "parse_document",
    "rate_summary",
    "trend_summary",
    "validate_document",
    "write_document",
]

SCHEMA_VERSION = "1.0"
SCHEMA_PATH = Path(__file__).with_name("schema") / "results.schema.json"
STATUSES = ("completed", "aborted", "interrupted", "failed", "running")
# Checked before the schema so that a file that is no results document at all is named as such.
_SUPPORTED_SCHEMA_MAJOR = "1"
_REQUIRED_KEYS = ("schema_version", "run_id", "metrics", "endpoints")


def _round(value: float) -> float:
    return round(float(value), 3)


def trend_summary(hist: TrendHistogram, unit: str = "ms") -> dict:
    """Summary of a trend histogram; percentiles within 0.1 % of the exact sample values."""
    digits = 3 if unit == "ms" else 5
    p = hist.percentiles((50, 90, 95, 99))
    return {
        "type": "trend",
        "unit": unit,
        "count": hist.count,
        "min": round(hist.min(), digits),
        "max": round(hist.max(), digits),
        "avg": round(hist.mean(), digits),
        "p50": round(p[50], digits),
        "p90": round(p[90], digits),
        "p95": round(p[95], digits),
        "p99": round(p[99], digits),
    }


def rate_summary(passes: int, fails: int) -> dict:
    total = passes + fails
    return {"type": "rate", "passes": passes, "fails": fails, "rate": passes / total if total else 0.0}


def counter_summary(count: float, duration_s: float) -> dict:
    return {
        "type": "counter",
        "count": count,
        "rate_per_s": _round(count / duration_s) if duration_s > 0 else 0.0,
    }


def gauge_summary(value: float, maximum: float) -> dict:
    return {"type": "gauge", "value": value, "max": maximum}


def iso_utc(epoch_s: float) -> str:
    """ISO-8601 UTC timestamp with a trailing Z."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def build_document(
    *,
    run_id: str,
    stack: str,
    environment: str,
    target: str,
    profile: dict,
    started_at: float,
    ended_at: float,
    status: str,
    abort_reason: str | None,
    summaries: dict,
    timeline: list[dict],
    workers: list[dict],
    generators: dict | None = None,
) -> dict:
    """Assemble a results document; `summaries` is `MetricsCollector.summaries()`'s output,
    `generators` the generator-health section (loadtests/results/generators.py), if measured."""
    if status not in STATUSES:
        raise ResultsError(f"status {status!r} is not one of {', '.join(STATUSES)}")
    doc = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "stack": stack,
        "environment": environment,
        "target": target,
        "profile": profile,
        "started_at": iso_utc(started_at),
        "ended_at": iso_utc(ended_at),
        "duration_s": _round(max(0.0, ended_at - started_at)),
        "status": status,
        "abort_reason": abort_reason,
        "metrics": summaries["metrics"],
        "endpoints": summaries["endpoints"],
        "groups": summaries["groups"],
        "timeline": timeline,
        "workers": workers,
        "errors": summaries["errors"],
    }
    if generators is not None:
        doc["generators"] = generators
    if summaries.get("histograms"):
        doc["histograms"] = summaries["histograms"]
    return doc


@cache
def _validator() -> Any:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def validate_document(doc: dict, source: str = "results document") -> None:
    """Raise ResultsError naming every place where `doc` (from `source`) breaks the schema."""
    problems = sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if problems:
        lines = [
            f"  {'/'.join(str(p) for p in e.absolute_path) or '(document)'}: {e.message}" for e in problems
        ]
        raise ResultsError(f"{source} does not match schema 1.0:\n" + "\n".join(lines[:20]))


def write_document(doc: dict, path: str | os.PathLike[str]) -> Path:
    """Validate and write atomically (a reader never sees half a document)."""
    validate_document(doc)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2, sort_keys=False)
        fh.write("\n")
    os.replace(tmp, target)
    return target


def parse_document(text: str, source: str) -> dict:
    """The results document in `text`, checked against the schema.

    `source` names where the text comes from and starts every message, e.g.
    "results file reports/run.json".
    """
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as error:
        raise ResultsError(
            f"{source} is not JSON (line {error.lineno}, column {error.colno}: {error.msg})"
        ) from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{source} holds a JSON {type(doc).__name__}, expected an object")
    missing = [key for key in _REQUIRED_KEYS if key not in doc]
    if missing:
        raise ResultsError(
            f"{source} lacks {', '.join(missing)}: expected a results document "
            f'with schema_version "1.x" as written by `python -m loadtests run`'
        )
    version = str(doc["schema_version"])
    if version.split(".")[0] != _SUPPORTED_SCHEMA_MAJOR:
        raise ResultsError(f'{source} has schema_version "{version}", expected "1.x"')
    for key in ("metrics", "endpoints"):
        if not isinstance(doc[key], dict):
            raise ResultsError(f"{source}: {key} must be an object, found {doc[key]!r:.60}")
    validate_document(doc, source)
    return doc


def load_document(path: str | os.PathLike[str]) -> dict:
    """Read the results document at `path` (see `parse_document`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ResultsError(f"results file {path} does not exist") from None
    except UnicodeDecodeError:
        raise ResultsError(f"results file {path} is not UTF-8 text") from None
    except OSError as error:
        raise ResultsError(f"results file {path} cannot be read: {error.strerror}") from None
    return parse_document(text, f"results file {path}")

"""Upload a run's report files (results JSON, HTML summary, analysis) to S3 with boto3.

`upload_report` never raises for an S3 problem: it returns an `UploadOutcome` whose
`to_output()` goes into the stack outputs, so a failed upload shows there while the local
copies (which this module never touches) stay where the run wrote them. Transient failures
(connection errors, throttling, 5xx) are retried by botocore's standard retry mode with
exponential backoff and jitter; permanent ones (no such bucket, access denied) fail at once.

Each upload also ensures a lifecycle rule on the bucket that expires objects under the report
prefix after `retention_days` (90 by default); other rules on the bucket are kept. An empty
prefix (or only "/") is refused before anything is sent: that rule would expire the whole bucket.
The command line is `python -m loadtests upload` (loadtests/cli/upload.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

__all__ = [
    "S3Target",
    "UploadOutcome",
    "empty_prefix_problem",
    "ensure_lifecycle_rule",
    "lifecycle_rule",
    "make_client",
    "merge_lifecycle_rules",
    "object_key",
    "upload_report",
]

_CONTENT_TYPES = {
    ".json": "application/json",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".md": "text/markdown; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
}


@dataclass(frozen=True)
class S3Target:
    """Where reports go (from the stack's `reportsS3*` settings) and how hard to try."""

    bucket: str
    prefix: str = "load-tests/"
    endpoint_url: str | None = None  # an S3-compatible endpoint; None means AWS
    region: str | None = None
    retention_days: int = 90
    max_attempts: int = 5  # per request, first attempt included
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0

    @property
    def normalized_prefix(self) -> str:
        prefix = self.prefix.strip("/")
        return f"{prefix}/" if prefix else ""


@dataclass(frozen=True)
class UploadOutcome:
    """What happened to one run's report files; `to_output()` is the stack-output form."""

    status: Literal["uploaded", "failed", "skipped"]
    uris: tuple[str, ...] = ()
    local_paths: tuple[str, ...] = ()
    lifecycle: str | None = None  # "created", "updated", "unchanged" or None when not reached
    error: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_output(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "uris": list(self.uris),
            "local_paths": list(self.local_paths),
            "lifecycle": self.lifecycle,
            "error": self.error,
            "warnings": list(self.warnings),
        }


def make_client(target: S3Target) -> Any:
    """A boto3 S3 client with standard-mode retries (exponential backoff) and bounded timeouts."""
    config = Config(
        retries={"mode": "standard", "total_max_attempts": max(1, target.max_attempts)},
        connect_timeout=target.connect_timeout_s,
        read_timeout=target.read_timeout_s,
        s3={"addressing_style": "path"} if target.endpoint_url else None,
    )
    return boto3.client(
        "s3", endpoint_url=target.endpoint_url or None, region_name=target.region, config=config
    )


def object_key(target: S3Target, stack: str, run_id: str, filename: str) -> str:
    """`<prefix><stack>/<run id>/<file name>` (analysis files keep their sub-folder)."""
    return f"{target.normalized_prefix}{stack}/{run_id}/{filename}"


def empty_prefix_problem(target: S3Target) -> str | None:
    """Why `target.prefix` cannot be used, or None: the rule must never cover the whole bucket."""
    if target.normalized_prefix:
        return None
    return (
        f"reportsS3Prefix {target.prefix!r}: expected a non-empty key prefix such as load-tests/; an "
        f"empty or '/' prefix would let the {target.retention_days}-day lifecycle rule expire every "
        f"object in s3://{target.bucket}"
    )


def lifecycle_rule(target: S3Target) -> dict[str, Any]:
    """The expiry rule for the report prefix; ValueError for an empty prefix (the whole bucket)."""
    problem = empty_prefix_problem(target)
    if problem:
        raise ValueError(problem)
    return {
        "ID": f"odavl-perf-reports-expire-{target.normalized_prefix.rstrip('/')}",
        "Filter": {"Prefix": target.normalized_prefix},
        "Status": "Enabled",
        "Expiration": {"Days": target.retention_days},
    }


def _same_rule(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    def essence(rule: Mapping[str, Any]) -> tuple[Any, ...]:
        prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", ""))
        return (rule.get("Status"), (rule.get("Expiration") or {}).get("Days"), prefix)

    return essence(a) == essence(b)


def merge_lifecycle_rules(
    existing: Sequence[Mapping[str, Any]], rule: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    """The bucket's rules with `rule` in place (others kept) and "created", "updated" or "unchanged"."""
    rules = [dict(r) for r in existing]
    for index, current in enumerate(rules):
        if current.get("ID") == rule["ID"]:
            if _same_rule(current, rule):
                return rules, "unchanged"
            rules[index] = dict(rule)
            return rules, "updated"
    return [*rules, dict(rule)], "created"


def ensure_lifecycle_rule(client: Any, target: S3Target) -> str:
    """Make sure the bucket expires report objects after `retention_days`; returns what changed."""
    try:
        existing = client.get_bucket_lifecycle_configuration(Bucket=target.bucket).get("Rules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        existing = []
    rules, change = merge_lifecycle_rules(existing, lifecycle_rule(target))
    if change != "unchanged":
        client.put_bucket_lifecycle_configuration(
            Bucket=target.bucket, LifecycleConfiguration={"Rules": rules}
        )
    return change


def _describe(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def _report_files(files: Iterable[Path], base_dir: Path | None) -> list[tuple[Path, str]]:
    named = []
    for path in files:
        name = (
            path.relative_to(base_dir).as_posix() if base_dir and path.is_relative_to(base_dir) else path.name
        )
        named.append((path, name))
    return named


def upload_report(
    files: Iterable[Path],
    target: S3Target | None,
    *,
    stack: str,
    run_id: str,
    base_dir: Path | None = None,
    client: Any = None,
) -> UploadOutcome:
    """Upload report files under `<prefix><stack>/<run id>/`; never raises for an S3 failure.

    `base_dir` keeps sub-folders (e.g. `analysis/bottlenecks.txt`) in the object keys. With no
    target (no bucket configured) the outcome is "skipped" and the reports stay local only.
    """
    named = _report_files(files, base_dir)
    local_paths = tuple(str(path) for path, _ in named)
    if target is None or not target.bucket:
        return UploadOutcome("skipped", local_paths=local_paths)
    problem = empty_prefix_problem(target)
    if problem:
        return UploadOutcome("failed", local_paths=local_paths, error=problem + " (nothing was uploaded)")
    missing = [str(path) for path, _ in named if not path.is_file()]
    if missing:
        return UploadOutcome(
            "failed", local_paths=local_paths, error=f"report files not found: {', '.join(missing)}"
        )
    client = client or make_client(target)
    warnings: list[str] = []
    lifecycle = None
    try:
        lifecycle = ensure_lifecycle_rule(client, target)
    except ClientError as exc:
        # Uploading still matters more than the expiry rule (e.g. no lifecycle permission).
        warnings.append(f"could not ensure the {target.retention_days}-day lifecycle rule: {_describe(exc)}")
    except BotoCoreError as exc:
        return UploadOutcome("failed", local_paths=local_paths, error=f"S3 unreachable: {_describe(exc)}")
    uris = []
    for path, name in named:
        key = object_key(target, stack, run_id, name)
        content_type = _CONTENT_TYPES.get(path.suffix.lower(), "application/octet-stream")
        try:
            client.put_object(Bucket=target.bucket, Key=key, Body=path.read_bytes(), ContentType=content_type)
        except (ClientError, BotoCoreError) as exc:
            error = f"uploading {path.name} to s3://{target.bucket}/{key} failed: {_describe(exc)}"
            return UploadOutcome(
                "failed",
                tuple(uris),
                local_paths,
                lifecycle,
                error + " (the local copy is kept)",
                tuple(warnings),
            )
        uris.append(f"s3://{target.bucket}/{key}")
    return UploadOutcome("uploaded", tuple(uris), local_paths, lifecycle, None, tuple(warnings))

"""Generates docs/SLO_BASELINES.md from the SLO catalog and the files that enforce it.

    python -m tools.slo_doc            # write docs/SLO_BASELINES.md
    python -m tools.slo_doc --check    # exit 1 when the committed document is out of date
    python -m tools.slo_doc --from-results RESULTS.json --conditions "reference app, ..."
                                           # measure the endpoint baselines from a real run's
                                           # results, write docs/endpoint_baselines.json, then
                                           # the document

Sources: `loadtests/slo/catalog.py` (every objective), the stack files' `odavl-perf:sloThresholds`
(what each stack's gate enforces), `loadtests/run/shape.py` (the staged profile), the load-testing
alert rules (`alerts/load_testing.rules.yml`) and the burn-rate rules generated from the
catalog (`alerts/slo_burn_rate.py`), and the measured endpoint baselines
(`docs/endpoint_baselines.json`, loadtests/results/endpoint_baselines.py). Nothing in the document is
typed by hand twice.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from loadtests.errors import LoadTestError
from loadtests.results.document import load_document
from loadtests.results.endpoint_baselines import baselines_from_results, read_baselines, write_baselines
from loadtests.run.shape import PROFILES
from loadtests.slo import catalog
from loadtests.slo.spec import Threshold

__all__ = ["BASELINES_PATH", "DOC_PATH", "STACK_FILES", "main", "render", "stack_thresholds"]

ROOT = Path(__file__).resolve().parents[1]
DOC_PATH = ROOT / "docs" / "SLO_BASELINES.md"
BASELINES_PATH = ROOT / "docs" / "endpoint_baselines.json"
STACK_FILES = ("Pulumi.yaml", "Pulumi.local.yaml", "Pulumi.staging.yaml", "Pulumi.production.yaml")
ALERT_RULES = ROOT / "alerts" / "load_testing.rules.yml"
BURN_RATE_RULES = ROOT / "alerts" / "slo_burn_rate.yml"
THRESHOLDS_KEY = "odavl-perf:sloThresholds"


def stack_thresholds(root: Path = ROOT) -> dict[str, list[str]]:
    """Threshold lines per stack file: Pulumi.yaml's default, then each stack's own setting."""
    found: dict[str, list[str]] = {}
    for name in STACK_FILES:
        path = root / name
        if not path.exists():
            continue
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if name == "Pulumi.yaml":
            lines = ((document.get("config") or {}).get("sloThresholds") or {}).get("default")
        else:
            lines = (document.get("config") or {}).get(THRESHOLDS_KEY)
        if lines is not None:
            found[name] = list(lines)
    return found


def _table(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _n(value: float) -> str:
    return f"{value:g}"


def _pct(ratio: float) -> str:
    return f"{ratio * 100:g} %"


def _minutes(minutes: float) -> str:
    return f"{minutes:.1f} min" if minutes >= 1 else f"{minutes * 60:.0f} s"


def _core(stacks: dict[str, list[str]]) -> str:
    gate = _table(
        ("Metric", "Threshold", "Meaning"),
        ((f"`{t.metric}`", f"`{t.expression}`", _meaning(t)) for t in catalog.DEFAULT_THRESHOLDS),
    )
    per_stack = _table(
        ("Stack file", "Thresholds enforced by its gate"),
        (
            (
                f"`{name}`" + (" (default)" if name == "Pulumi.yaml" else ""),
                "<br>".join(f"`{x}`" for x in lines),
            )
            for name, lines in stacks.items()
        ),
    )
    response = _table(
        ("Request class", "P50", "P95", "P99", "Measured by"),
        (
            (
                r.request_class,
                f"{_n(r.p50_ms)} ms",
                f"{_n(r.p95_ms)} ms",
                f"{_n(r.p99_ms)} ms",
                f"`{r.measured_by}`",
            )
            for r in catalog.RESPONSE_TIME_SLOS
        ),
    )
    errors = _table(
        ("Errors", "Objective"),
        ((name, f"< {_pct(ratio)}") for name, ratio in catalog.ERROR_RATE_SLOS.items()),
    )
    availability = _table(
        ("SLO", "Service", "Objective", f"Error budget per {catalog.SLO_WINDOW_DAYS} days"),
        (
            (f"`{a.name}`", a.service, _pct(a.objective), _minutes(catalog.error_budget_minutes(a.objective)))
            for a in catalog.AVAILABILITY_SLOS
        ),
    )
    return "\n\n".join(
        [
            "## 1. Core performance SLOs",
            "### Gate thresholds (defaults)",
            "Every run is judged on the merged statistics of all workers against these thresholds "
            "(k6 syntax, parsed by `loadtests/slo/evaluate.py`). "
            "They are the default of `odavl-perf:sloThresholds`.",
            gate,
            "### Thresholds per stack",
            per_stack,
            "### Response times",
            response,
            "### Error rates",
            errors,
            "### Availability",
            availability,
        ]
    )


def _meaning(threshold: Threshold) -> str:
    if threshold.aggregate == "rate":
        share = "of requests fail" if threshold.metric == "http_req_failed" else "of checks pass"
        word = "fewer than" if threshold.op == "<" else "more than"
        return f"{word} {_pct(threshold.bound.amount)} {share}"
    unit = "" if threshold.metric == "web_vitals_cls" else " ms"
    aggregate = threshold.aggregate.replace("p(", "P").replace(")", "")
    return f"{aggregate} below {_n(threshold.bound.amount)}{unit}"


def _web_vitals() -> str:
    gated = {t.metric: t for t in catalog.DEFAULT_THRESHOLDS}
    rows = []
    for vital in catalog.WEB_VITALS:
        unit = f" {vital.unit}" if vital.unit else ""
        gate = gated.get(vital.metric)
        gate_text = f"`{gate.expression}`" if gate else "-"
        rows.append(
            (
                vital.name,
                f"<= {_n(vital.good_max)}{unit}",
                f"{_n(vital.good_max)}-{_n(vital.poor_above)}{unit}",
                f"> {_n(vital.poor_above)}{unit}",
                gate_text,
            )
        )
    return "\n\n".join(
        [
            "## 2. Web vitals",
            "Bands at the 75th percentile of page loads (web.dev); the gate holds the 95th percentile "
            "of the browser users' page visits to the bound in the last column. INP is the Core Web "
            "Vital for responsiveness since March 2024; the browser users measure it with Google's "
            "web-vitals library.",
            _table(("Vital", "Good", "Needs improvement", "Poor", "Gate"), rows),
        ]
    )


def _database() -> str:
    gate = {(t.metric, t.aggregate): t for t in catalog.DEFAULT_THRESHOLDS}
    p95, p99 = gate[("db_query_duration", "p(95)")], gate[("db_query_duration", "p(99)")]
    return "\n\n".join(
        [
            "## 3. Database performance",
            f"All queries together (`db_query_duration`, from the `X-Db-Query-Duration` header): "
            f"P95 below {_n(p95.bound.amount)} ms, P99 below {_n(p99.bound.amount)} ms. Per query class:",
            _table(
                ("Query class", "P95", "Example"),
                ((q.query_class, f"{_n(q.p95_ms)} ms", q.example) for q in catalog.DATABASE_QUERY_SLOS),
            ),
            "Connection pool and size limits:",
            _table(("Setting", "Limit"), catalog.DATABASE_LIMITS.items()),
            "The performance indexes (`sql/migrations/add-performance-indexes.sql`) serve the list "
            "queries; `python -m loadtests analyze` suggests further indexes from the slow endpoints' SQL "
            "and from `pg_stat_statements`.",
        ]
    )


def _capacity() -> str:
    staged = PROFILES["staged"]
    walk: list[str] = []
    users = 0
    for stage in staged:
        minutes = _n(stage.duration_s / 60)
        if stage.target == users:
            walk.append(f"hold {stage.target} users for {minutes} min")
        else:
            walk.append(f"{'ramp' if stage.target > users else 'down'} to {stage.target} in {minutes} min")
        users = stage.target
    steps = ", ".join(walk)
    return "\n\n".join(
        [
            "## 4. Throughput and capacity",
            _table(
                ("Tier", "Concurrent users", "Requests/s", "Expectation"),
                ((t.name, t.users, t.requests_per_s, t.expectation) for t in catalog.CAPACITY_TIERS),
            ),
            f"The staged profile (`loadtests/run/shape.py`) walks the first three tiers: {steps} "
            f"({_n(sum(stage.duration_s for stage in staged) / 60)} minutes at time scale 1.0).",
        ]
    )


def _measured_run(run: dict[str, Any]) -> str:
    """One sentence naming the run the endpoint baselines come from."""
    walk, users = [], 0
    for stage in run["stages"]:
        seconds, target = _n(stage["duration_s"]), stage["target"]
        if target == users:
            walk.append(f"hold {target} users for {seconds} s")
        else:
            walk.append(f"{'ramp' if target > users else 'down'} to {target} in {seconds} s")
        users = target
    started = str(run["started_at"])
    conditions = f"; {run['conditions']}" if run.get("conditions") else ""
    return (
        f"Measured in run `{run['run_id']}` on {started[:10]} at {started[11:19]} UTC: profile "
        f"`{run['profile']}` ({', '.join(walk)}), {run['peak_users']} users at the peak, "
        f"{_n(run['duration_s'])} s, {run['workers']} Locust workers, target `{run['target']}`{conditions}. "
        "P50/P95/P99 are the merged `http_req_duration` percentiles of all workers; re-measure with "
        "`python bench/endpoint_baselines.py`, or `python -m tools.slo_doc --from-results RESULTS.json` "
        "for the results of another run."
    )


def _endpoints(baselines: dict[str, Any] | None) -> str:
    measured = (baselines or {}).get("endpoints") or {}
    rows = []
    for e in catalog.ENDPOINT_SLOS:
        row = measured.get(e.endpoint)
        numbers = (
            (str(row["requests"]), *(f"{_n(row[f'{p}_ms'])} ms" for p in ("p50", "p95", "p99")))
            if row
            else ("-", "not measured", "not measured", "not measured")
        )
        rows.append((f"`{e.endpoint}`", e.service, *numbers, f"{_n(e.target_p95_ms)} ms"))
    run = (
        _measured_run(baselines["run"])
        if baselines
        else "No measured run yet: run `python -m tools.slo_doc --from-results RESULTS.json`."
    )
    return "\n\n".join(
        [
            "## 5. Endpoint SLOs",
            "Baseline P50/P95/P99 as measured against the reference app, target P95 as an endpoint "
            "threshold (`http_req_duration{endpoint:NAME}: p(95)<TARGET`) that the staging and "
            "production stacks enforce.",
            run,
            _table(
                (
                    "Endpoint",
                    "Service",
                    "Requests",
                    "Baseline P50",
                    "Baseline P95",
                    "Baseline P99",
                    "Target P95",
                ),
                rows,
            ),
        ]
    )


def _rule_file(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.exists() else {"groups": []}


def _alerting() -> str:
    # Both rule files are read as committed (each has its own freshness test), so the document
    # does not import the rule generators that sit above this package.
    rules = _rule_file(ALERT_RULES)
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    load_test = _table(
        ("Alert", "Condition", "For", "Severity"),
        (
            (f"`{a['alert']}`", a["annotations"]["summary"], a.get("for", "0s"), a["labels"]["severity"])
            for a in alerts
        ),
    )
    burn_rules = _rule_file(BURN_RATE_RULES)
    burn = [rule for group in burn_rules["groups"] for rule in group["rules"] if "alert" in rule]
    burn_table = _table(
        ("Alert", "SLO", "Burn rate", "Windows", "For", "Severity"),
        (
            (
                f"`{r['alert']}`",
                r["labels"]["slo"],
                f"{r['labels']['burn_rate']}x",
                f"{r['labels']['long_window']} and {r['labels']['short_window']}",
                r["for"],
                r["labels"]["severity"],
            )
            for r in burn
        ),
    )
    escalation = _table(
        ("Severity", "Who", "Response"),
        (
            ("page", "on-call engineer, then the DevOps lead after 15 min", "acknowledge within 5 min"),
            ("critical", "on-call engineer; backend lead for API, DBA for database alerts", "within 15 min"),
            ("warning / ticket", "owning team's queue", "next working day"),
            ("budget exhausted", "CTO informed by the DevOps lead", "freeze per the budget policy"),
        ),
    )
    return "\n\n".join(
        [
            "## 6. Monitoring and alerting",
            f"Load-test alert rules (`alerts/load_testing.rules.yml`, {len(alerts)} rules), shown on the "
            "Grafana load-testing dashboard:",
            load_test,
            "Error-budget burn-rate alerts (`alerts/slo_burn_rate.yml`, generated from the catalog):",
            burn_table,
            "Escalation:",
            escalation,
        ]
    )


def _error_budgets() -> str:
    days = catalog.SLO_WINDOW_DAYS
    budgets = _table(
        ("SLO", "Objective", f"Budget per {days} days", "per week", "per day"),
        (
            (
                f"`{a.name}`",
                _pct(a.objective),
                _minutes(catalog.error_budget_minutes(a.objective)),
                _minutes(catalog.error_budget_minutes(a.objective, 7)),
                _minutes(catalog.error_budget_minutes(a.objective, 1)),
            )
            for a in catalog.AVAILABILITY_SLOS
        ),
    )
    platform = catalog.AVAILABILITY_SLOS[0]
    total = catalog.error_budget_minutes(platform.objective)
    allocation = _table(
        ("Use", "Share", "Minutes"),
        ((use, _pct(share), _minutes(total * share)) for use, share in catalog.BUDGET_ALLOCATION.items()),
    )
    policy = _table(
        ("Budget consumed", "Action"),
        ((f">= {_pct(share)}", action) for share, action in catalog.BUDGET_POLICY),
    )
    burn = _table(
        (
            "Burn rate",
            "Long window",
            "Short window",
            "Budget spent at the long window",
            "Budget gone after",
            "Severity",
        ),
        (
            (
                f"{_n(w.burn_rate)}x",
                w.long_window,
                w.short_window,
                _pct(w.budget_consumed),
                f"{days / w.burn_rate:.1f} days",
                w.severity,
            )
            for w in catalog.BURN_RATE_WINDOWS
        ),
    )
    latency = catalog.LATENCY_SLO
    return "\n\n".join(
        [
            "## 7. Error budgets",
            f"A {_pct(platform.objective)} objective over {days} days leaves (1 - {platform.objective:g}) x "
            f"{days} x 24 x 60 = **{total:g} minutes** of failure.",
            budgets,
            f"The latency SLO counts a request slower than {_n(latency.threshold_seconds * 1000)} ms as bad; "
            f"its objective is {_pct(latency.objective)} (the gate's P95 threshold), so "
            f"{_pct(latency.error_budget)} of requests form its budget.",
            f"Allocation of the platform budget ({total:g} min):",
            allocation,
            "Budget policy:",
            policy,
            "Multi-window burn-rate alerting (an alert needs both windows above the rate):",
            burn,
        ]
    )


def _targets() -> str:
    return "\n\n".join(
        [
            "## 8. Optimisation targets (Q1 2026)",
            _table(
                ("Metric", "Current", "Target", "Change"),
                (
                    (
                        t.metric,
                        f"{_n(t.current)} {t.unit}",
                        f"{_n(t.target)} {t.unit}",
                        f"{t.change * 100:+.0f} %",
                    )
                    for t in catalog.OPTIMISATION_TARGETS
                ),
            ),
        ]
    )


def render(root: Path = ROOT, baselines: dict[str, Any] | None = None) -> str:
    """The document. `baselines` defaults to the committed docs/endpoint_baselines.json (read from
    the project, like the alert rules, whatever `root` holds the stack files)."""
    if baselines is None and BASELINES_PATH.exists():
        baselines = read_baselines(BASELINES_PATH)
    sections = [
        "# SLO baselines",
        "<!-- Generated by `python -m tools.slo_doc` from loadtests/slo/catalog.py, the stack files, "
        "loadtests/run/shape.py, the alert rules and docs/endpoint_baselines.json; do not edit by hand. -->",
        "Service level objectives and performance baselines of ODAVL Studio Hub, as enforced by the "
        "odavl-perf load-test gate (`pulumi up`, `python -m loadtests gate`), analysed by "
        "`python -m loadtests analyze` and watched by the alert rules below.",
        _core(stack_thresholds(root)),
        _web_vitals(),
        _database(),
        _capacity(),
        _endpoints(baselines),
        _alerting(),
        _error_budgets(),
        _targets(),
    ]
    return "\n\n".join(sections) + "\n"


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.slo_doc", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/SLO_BASELINES.md is out of date")
    parser.add_argument(
        "--from-results",
        type=Path,
        metavar="RESULTS.json",
        help="measure the endpoint baselines from this completed run's results document first",
    )
    parser.add_argument(
        "--conditions",
        default="",
        help="what the results document does not say about the run (target set-up, think time)",
    )
    parser.add_argument("--baselines", type=Path, default=BASELINES_PATH, help="the endpoint baseline file")
    parser.add_argument("--output", type=Path, default=DOC_PATH, help="the document to write or check")
    args = parser.parse_args(argv)
    if args.check and args.from_results:
        parser.error("--check compares the committed files; it cannot be combined with --from-results")
    try:
        if args.from_results:
            endpoints = [e.endpoint for e in catalog.ENDPOINT_SLOS]
            data = baselines_from_results(load_document(args.from_results), endpoints, args.conditions)
            write_baselines(data, args.baselines)
            print(f"wrote {_shown(args.baselines)} from run {data['run']['run_id']!r}")
        baselines = read_baselines(args.baselines) if args.baselines.exists() else {}
    except (LoadTestError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    text = render(baselines=baselines)
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{_shown(args.output)} is out of date: run python -m tools.slo_doc")
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {_shown(args.output)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

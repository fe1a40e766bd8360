"""The endpoint-baseline measurement on a short real run: the suite against the reference app on a
2-worker local fleet, then `python -m tools.slo_doc --from-results` on its results document.

Every SLO endpoint of the catalog must have been requested without failures, and the baseline
file and the document it renders must carry the run's merged percentiles.
"""

from __future__ import annotations

import pytest

from loadtests.results.endpoint_baselines import read_baselines
from loadtests.run.config import RunConfig, TestUser
from loadtests.run.runner import run_local
from loadtests.run.shape import Stage
from loadtests.slo import catalog as slo_catalog
from tools.slo_doc import main

pytestmark = pytest.mark.integration

# The groups that request the SLO endpoints; the others would only thin out their samples.
SLO_GROUPS = {"insight": 1, "autopilot": 1, "guardian": 1, "analytics": 1}


def test_a_short_run_measures_every_slo_endpoint(reference_app, tmp_path):
    app, db = reference_app
    results = tmp_path / "results.json"
    doc = run_local(
        RunConfig(
            target=app.base_url,
            stages=(Stage(2, 16), Stage(14, 16), Stage(1, 0)),
            workers=2,
            user_weights=SLO_GROUPS,
            think_time_min_s=0.2,
            think_time_max_s=0.6,
            test_users=tuple(TestUser(email, db.test_password) for email in db.test_user_emails),
            results_path=str(results),
            run_id="baseline-measurement",
            stop_timeout_s=3.0,
            run_timeout_s=180,
            log_dir=str(tmp_path / "logs"),
        )
    )
    assert doc["status"] == "completed", doc["abort_reason"]
    assert doc["metrics"]["http_req_failed"]["passes"] == 0, doc["errors"]

    baselines, document = tmp_path / "endpoint_baselines.json", tmp_path / "SLO_BASELINES.md"
    argv = ["--from-results", str(results), "--baselines", str(baselines), "--output", str(document)]
    assert main([*argv, "--conditions", "integration test"]) == 0

    measured = read_baselines(baselines)
    assert list(measured["endpoints"]) == [e.endpoint for e in slo_catalog.ENDPOINT_SLOS]
    for endpoint, row in measured["endpoints"].items():
        merged = doc["endpoints"][endpoint]["http_req_duration"]
        assert row["requests"] == merged["count"] > 0, endpoint
        assert row["failed"] == 0, endpoint
        assert row["p95_ms"] == round(merged["p95"], 1), endpoint
        assert 0 < row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"], endpoint
    assert measured["run"]["run_id"] == "baseline-measurement"
    assert measured["run"]["peak_users"] == 16 and measured["run"]["workers"] == 2
    text = document.read_text()
    assert "Measured in run `baseline-measurement`" in text and "integration test" in text
    search = measured["endpoints"]["GET /api/insight/issues/search"]
    assert f"| `GET /api/insight/issues/search` | Insight | {search['requests']} |" in text

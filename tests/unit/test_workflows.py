"""The GitHub workflows: actionlint and the workflow JSON schema clean, and the steps the
specification names are present with the right triggers, conditions and secret handling."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def _actionlint() -> str:
    """scripts/setup.sh builds actionlint into .cache/bin; a developer's `go install` puts it in GOPATH."""
    candidates = [WORKFLOWS.parents[1] / ".cache" / "bin" / "actionlint"]
    candidates.append(Path(os.environ.get("GOPATH", Path.home() / "go")) / "bin" / "actionlint")
    found = shutil.which("actionlint") or next((str(p) for p in candidates if p.exists()), None)
    if found is None:
        pytest.fail(
            "actionlint is not installed: go install github.com/rhysd/actionlint/cmd/actionlint@v1.7.12"
        )
    return found


def _load(name: str) -> dict[str, Any]:
    # PyYAML reads the bare key `on` as True.
    document = yaml.safe_load((WORKFLOWS / name).read_text(encoding="utf-8"))
    document["on"] = document.pop(True, document.get("on"))
    return document


def _steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def _step(document: dict[str, Any], name: str) -> dict[str, Any]:
    return next(step for step in _steps(document) if step.get("name") == name)


def test_the_three_workflows_exist():
    assert [f.name for f in FILES] == ["ci.yml", "load-test.yml", "preview.yml"]


def test_actionlint_is_clean():
    result = subprocess.run(
        [_actionlint(), "-no-color", *map(str, FILES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_schema_is_clean():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, FILES),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_secrets_are_read_only_through_the_secrets_context_and_never_inside_scripts(path):
    document = _load(path.name)
    for step in _steps(document):
        script = step.get("run", "")
        assert "${{ secrets." not in script, (
            f"{step.get('name')}: pass secrets through env, not into the script"
        )
        assert "${{ inputs." not in script, (
            f"{step.get('name')}: pass inputs through env, not into the script"
        )


def test_ci_runs_the_readme_test_command():
    runs = [step.get("run") for step in _steps(_load("ci.yml"))]
    assert "bash scripts/test.sh" in runs


def test_preview_runs_staging_and_production_with_the_policy_pack_and_comments():
    document = _load("preview.yml")
    assert "pull_request" in document["on"]
    job = document["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["staging", "production"]
    step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@v7"))
    assert step["with"]["command"] == "preview"
    assert step["with"]["diff"] is True and step["with"]["comment-on-pr"] is True
    assert step["with"]["policyPacks"] == "policies"


def test_load_test_triggers_weekly_and_on_demand():
    triggers = _load("load-test.yml")["on"]
    assert triggers["schedule"] == [{"cron": "0 2 * * 0"}]
    inputs = triggers["workflow_dispatch"]["inputs"]
    assert inputs["environment"]["options"] == ["staging", "production"]
    assert inputs["max_users"]["type"] == "number"


def test_load_test_runs_an_ephemeral_stack_and_always_removes_it():
    document = _load("load-test.yml")
    run = _step(document, "Load test on the ephemeral stack")
    assert "python -m ops.ephemeral run" in run["run"] and run["continue-on-error"] is True
    destroy = _step(document, "Destroy and remove the ephemeral stack")
    assert destroy["if"].startswith("always()") and "ops.ephemeral destroy" in destroy["run"]
    assert _steps(document).index(destroy) > _steps(document).index(run)


def test_load_test_keeps_results_summary_and_analysis_for_90_days():
    upload = _step(_load("load-test.yml"), "Upload results, summary and analysis")
    assert upload["uses"].startswith("actions/upload-artifact@")
    assert upload["with"]["retention-days"] == 90
    for pattern in ("results.json", "summary.html", "analysis/"):
        assert pattern in upload["with"]["path"]
    assert upload["if"].startswith("always()")


def test_load_test_alerts_on_failure_through_slack_and_a_labelled_issue():
    document = _load("load-test.yml")
    slack = _step(document, "Post to Slack")
    issue = _step(document, "Open a GitHub issue")
    for step in (slack, issue):
        assert (
            "steps.run.outcome == 'failure'" in step["if"] and "steps.gate.outcome == 'failure'" in step["if"]
        )
    assert slack["env"]["SLACK_WEBHOOK_URL"] == "${{ secrets.SLACK_WEBHOOK_URL }}"
    for label in ("performance", "load-test", "urgent"):
        assert f"--label {label}" in issue["run"]
    comment = _step(document, "Comment the results table on the pull request")
    assert "steps.stack.outputs.pr != ''" in comment["if"]

"""The GitHub workflows: actionlint and the workflow JSON schema clean, and the steps the
specification names are present with the right triggers, conditions and secret handling."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.tools import require_tool

WORKFLOWS = Path(__file__).resolve().parents[2] / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


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
        [require_tool("actionlint"), "-no-color", *map(str, FILES)],
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


# Third-party actions, pinned to the commit their release tag named when they were pinned (read
# from each action's own repository: `git rev-parse vX.Y.Z^{commit}`). A tag can be moved to
# other code; a commit cannot. To upgrade: resolve the new tag the same way and change both here
# and in the workflow, whose `# vX.Y.Z` comment must name the version of the table.
PINS = {
    "actions/checkout": ("11d5960a326750d5838078e36cf38b85af677262", "v4.4.0"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/setup-go": ("40f1582b2485089dde7abd97c1529aa768e1baff", "v5.6.0"),
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),
}
_USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(?P<action>[^@\s]+)@(?P<ref>\S+)(?:\s+#\s*(?P<version>\S+))?\s*$")


def _uses_lines(path: Path) -> list[tuple[int, str]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return [(number, line) for number, line in enumerate(lines, 1) if re.match(r"^\s*(-\s+)?uses:", line)]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_to_a_full_commit_sha_with_its_version(path):
    found = _uses_lines(path)
    assert found, f"{path.name} uses no action"
    for number, line in found:
        match = _USES.match(line)
        assert match, f"{path.name}:{number}: cannot read {line.strip()!r}"
        action, ref, version = match["action"], match["ref"], match["version"]
        if action.startswith(("./", "docker://")):
            continue  # local actions and images pinned by digest are not fetched by tag
        assert re.fullmatch(r"[0-9a-f]{40}", ref), (
            f"{path.name}:{number}: {action}@{ref} is not pinned to a 40-hex commit SHA"
        )
        assert action in PINS, f"{path.name}:{number}: {action} is not in the pins table"
        assert (ref, version) == PINS[action], (
            f"{path.name}:{number}: {action}@{ref} # {version}; the pins table says {PINS[action]}"
        )


def _secret_env(step: dict[str, Any], job: dict[str, Any], document: dict[str, Any]) -> set[str]:
    """Names of the environment variables a step sees whose value comes from the secrets context."""
    merged = {**document.get("env", {}), **job.get("env", {}), **step.get("env", {})}
    return {name for name, value in merged.items() if "secrets." in str(value)}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_no_secret_is_passed_as_a_plaintext_config_value(path):
    """`--config KEY=VALUE` is stored unencrypted (stack config, state, outputs): secrets go
    through --secret-from-env instead."""
    document = _load(path.name)
    for job in document["jobs"].values():
        for step in job.get("steps", []):
            script = step.get("run", "")
            configs = re.findall(r"--config[ =]+(\"[^\"]*\"|'[^']*'|\S+)", script)
            for name in _secret_env(step, job, document):
                for value in configs:
                    assert not re.search(rf"\$\{{?{name}\b", value), (
                        f"{path.name}: {step.get('name')}: secret {name} in plaintext {value}"
                    )


def test_the_pull_request_preview_has_a_read_only_environment_scoped_identity():
    document = _load("preview.yml")
    assert document["permissions"] == {}  # nothing by default, for any job added later
    job = document["jobs"]["preview"]
    assert job["permissions"] == {"contents": "read", "pull-requests": "write"}  # the diff comment
    assert job["environment"] == "preview-${{ matrix.stack }}"  # its secrets: read-only credentials
    secret_users = [s for s in job["steps"] if "secrets." in str(s.get("env", "")) + str(s.get("with", ""))]
    assert secret_users and all(job.get("environment") for _ in secret_users)


def test_ci_runs_the_readme_test_command():
    runs = [step.get("run") for step in _steps(_load("ci.yml"))]
    assert "bash scripts/test.sh" in runs


def test_preview_runs_staging_and_production_with_the_policy_pack_and_comments():
    document = _load("preview.yml")
    assert "pull_request" in document["on"]
    job = document["jobs"]["preview"]
    assert job["strategy"]["matrix"]["stack"] == ["staging", "production"]
    step = next(s for s in job["steps"] if str(s.get("uses", "")).startswith("pulumi/actions@"))
    assert step["with"]["command"] == "preview"
    assert step["with"]["diff"] is True and step["with"]["comment-on-pr"] is True
    # The pack is the base branch's, so a pull request cannot weaken its own checks.
    assert step["with"]["policyPacks"] == ".trusted/policies"
    trusted = next(s for s in job["steps"] if s.get("with", {}).get("path") == ".trusted")
    assert (
        trusted["uses"].startswith("actions/checkout@") and trusted["with"]["ref"] == "${{ github.base_ref }}"
    )
    assert job["steps"].index(trusted) < job["steps"].index(step)


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


def test_load_test_runs_with_the_default_branch_policy_pack():
    document = _load("load-test.yml")
    trusted = _step(document, "Check out the policy pack from the default branch")
    assert trusted["with"] == {
        "ref": "${{ github.event.repository.default_branch }}",
        "path": ".trusted",
        "persist-credentials": False,
    }
    run = _step(document, "Load test on the ephemeral stack")
    assert "--policy-pack .trusted/policies" in run["run"]
    assert _steps(document).index(trusted) < _steps(document).index(run)


def test_production_is_approved_per_run_by_the_workflow_input_only():
    run = _step(_load("load-test.yml"), "Load test on the ephemeral stack")
    assert run["env"]["ODAVL_ALLOW_PRODUCTION_RUN"] == (
        "${{ inputs.environment == 'production' && steps.stack.outputs.name || '' }}"
    )
    # No committed stack file pre-approves a production update.
    for stack_file in WORKFLOWS.parents[1].glob("Pulumi.*.yaml"):
        config = yaml.safe_load(stack_file.read_text())["config"]
        assert "odavl-perf:loadAllowProduction" not in config, stack_file.name

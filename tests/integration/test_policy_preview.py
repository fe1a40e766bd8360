"""A real `pulumi preview --policy-pack policies` of the local stack: the pack passes the stack as
configured and blocks the preview when a threshold is loosened."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.engine]


def test_local_stack_preview_passes_the_policy_pack_and_a_loosened_threshold_fails_it(
    pulumi_engine, project_copy
):
    pulumi_engine.run("stack", "init", "local", cwd=project_copy, timeout=120)
    preview = pulumi_engine.run("preview", "--stack", "local", "--policy-pack", "policies", cwd=project_copy)
    assert "odavl-perf-policies" in preview.stdout
    assert "[mandatory]" not in preview.stdout

    stack_file = project_copy / "Pulumi.local.yaml"
    text = stack_file.read_text()
    assert '"http_req_failed: rate<0.01"' in text
    stack_file.write_text(text.replace('"http_req_failed: rate<0.01"', '"http_req_failed: rate<0.05"'))
    blocked = pulumi_engine.run(
        "preview", "--stack", "local", "--policy-pack", "policies", cwd=project_copy, check=False
    )
    assert blocked.returncode != 0
    assert "[mandatory]  slo-thresholds-not-looser-than-baselines" in blocked.stdout
    assert "'http_req_failed: rate<0.05' is looser than the documented baseline" in blocked.stdout

"""Pure parts of the report upload: object keys and lifecycle-rule merging."""

from __future__ import annotations

import pytest

from loadtests.publish.s3 import S3Target, UploadOutcome, lifecycle_rule, merge_lifecycle_rules, object_key


def test_object_keys_group_by_stack_and_run():
    assert (
        object_key(S3Target("b", prefix="/load-tests"), "pr-12", "r1", "results.json")
        == "load-tests/pr-12/r1/results.json"
    )
    assert object_key(S3Target("b", prefix=""), "local", "r1", "analysis/a.txt") == "local/r1/analysis/a.txt"


def test_lifecycle_rule_expires_the_prefix_after_the_retention():
    rule = lifecycle_rule(S3Target("b", prefix="reports/", retention_days=90))
    assert rule["Filter"] == {"Prefix": "reports/"} and rule["Expiration"] == {"Days": 90}
    assert rule["Status"] == "Enabled"


@pytest.mark.parametrize("prefix", ["", "/", "///"])
def test_no_lifecycle_rule_for_an_empty_prefix_which_would_be_the_whole_bucket(prefix):
    with pytest.raises(ValueError, match="expected a non-empty key prefix"):
        lifecycle_rule(S3Target("b", prefix=prefix))


def test_merge_adds_updates_or_keeps_our_rule_and_keeps_others():
    ours = lifecycle_rule(S3Target("b"))
    other = {"ID": "other", "Filter": {"Prefix": "x/"}, "Status": "Enabled", "Expiration": {"Days": 1}}
    rules, change = merge_lifecycle_rules([other], ours)
    assert change == "created" and rules == [other, ours]
    rules, change = merge_lifecycle_rules(rules, ours)
    assert change == "unchanged" and len(rules) == 2
    stale = {**ours, "Expiration": {"Days": 30}}
    rules, change = merge_lifecycle_rules([stale, other], ours)
    assert change == "updated" and rules == [ours, other]


def test_outcome_output_lists_the_failure():
    output = UploadOutcome("failed", local_paths=("r/results.json",), error="S3 unreachable").to_output()
    assert output == {
        "status": "failed",
        "uris": [],
        "local_paths": ["r/results.json"],
        "lifecycle": None,
        "error": "S3 unreachable",
        "warnings": [],
    }

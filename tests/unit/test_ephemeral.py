"""Pure parts of the ephemeral-stack lifecycle: names, specs, overrides and exit codes."""

from __future__ import annotations

import signal

import pytest

from ops import ephemeral


@pytest.mark.parametrize("name", ["pr-1", "pr-4242", "rc-0a1b2c3", "rc-" + "f" * 40])
def test_ephemeral_names(name):
    assert ephemeral.is_ephemeral(name)


@pytest.mark.parametrize(
    "name", ["staging", "production", "local", "pr-0", "pr-x", "rc-XYZ1234", "rc-abc", "pr-1 "]
)
def test_long_lived_or_malformed_names_are_not_ephemeral(name):
    assert not ephemeral.is_ephemeral(name)


def test_names_from_pull_request_or_commit():
    assert ephemeral.ephemeral_name(pr=42) == "pr-42"
    assert ephemeral.ephemeral_name(sha="0A1B2C3D4E5F60718293") == "rc-0a1b2c3d4e5f"
    with pytest.raises(ephemeral.EphemeralConfigError, match="pull-request number or a commit"):
        ephemeral.ephemeral_name()
    with pytest.raises(ephemeral.EphemeralConfigError, match="not an ephemeral stack name"):
        ephemeral.ephemeral_name(sha="not-hex!")


def test_spec_refuses_long_lived_names_and_ephemeral_bases():
    with pytest.raises(ephemeral.EphemeralConfigError, match="'production' is not ephemeral"):
        ephemeral.EphemeralSpec("production", "staging")
    with pytest.raises(ephemeral.EphemeralConfigError, match="base stack 'pr-1'"):
        ephemeral.EphemeralSpec("pr-2", "pr-1")


def test_spec_repr_hides_secret_values():
    spec = ephemeral.EphemeralSpec("pr-3", "staging", {"odavl-perf:loadMaxUsers": "50"}, {"k": "hunter2"})
    assert "hunter2" not in repr(spec) and "loadMaxUsers" in repr(spec)


def test_overrides_must_be_key_value_pairs():
    assert ephemeral._pairs(["a:b=1", "c:d=x=y"], "--config") == {"a:b": "1", "c:d": "x=y"}
    with pytest.raises(ephemeral.EphemeralConfigError, match="'oops' is not of the form KEY=VALUE"):
        ephemeral._pairs(["oops"], "--config")


def test_secret_overrides_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ODAVL_TEST_SECRET", "s3")
    monkeypatch.delenv("ODAVL_UNSET_SECRET", raising=False)
    secrets = ephemeral._secrets_from_env(["p:token=ODAVL_TEST_SECRET", "p:other=ODAVL_UNSET_SECRET"])
    assert secrets == {"p:token": "s3"}


def test_exit_codes():
    assert ephemeral.RunResult("pr-1").exit_code == 0
    assert ephemeral.RunResult("pr-1", update_error="boom").exit_code == 1
    assert ephemeral.RunResult("pr-1", update_error="boom", teardown_error="stuck").exit_code == 3
    assert ephemeral.RunResult("pr-1", signum=signal.SIGTERM).exit_code == 143


def test_errors_are_summarised_from_the_diagnostics_without_traceback_frames():
    output = (
        "\n code: 1\n stdout: Updating (pr-8):\n + marker-b creating (0s) error: Traceback\n"
        "Diagnostics:\n  pulumi-python:dynamic:Resource (marker-b):\n"
        "    error: Traceback (most recent call last):\n"
        '      File "/x/provider.py", line 26, in create\n        raise RuntimeError("boom")\n'
        "        ^^^^^^^^^^^^^^^^^^^^^\n    RuntimeError: boom\n\nResources:\n    + 1 created\n"
    )
    summary = ephemeral._last_lines(output)
    assert summary.splitlines() == [
        "pulumi-python:dynamic:Resource (marker-b):",
        "    error: Traceback (most recent call last):",
        "    RuntimeError: boom",
    ]
    assert ephemeral._last_lines("one\ntwo") == "one\ntwo"

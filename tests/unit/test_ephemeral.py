"""Pure parts of the ephemeral-stack lifecycle: names, specs, overrides, exit codes and the command line."""

from __future__ import annotations

import argparse
import signal
from datetime import timedelta

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


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30s", timedelta(seconds=30)),
        ("90m", timedelta(minutes=90)),
        ("6h", timedelta(hours=6)),
        ("2d", timedelta(days=2)),
        ("1.5h", timedelta(minutes=90)),
        ("0s", timedelta(0)),
    ],
)
def test_durations_have_a_number_and_a_unit(text, expected):
    assert ephemeral.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["6", "h", "6x", "6 h", "-1h", "1h30m", "6H", "1e3h", "inf", ""])
def test_bad_durations_name_the_value_and_the_expected_form(text):
    with pytest.raises(argparse.ArgumentTypeError) as error:
        ephemeral.parse_duration(text)
    assert f"{text!r} is not a duration" in str(error.value)
    assert "expected a number followed by s, m, h or d, e.g. 30s, 90m, 6h or 2d" in str(error.value)


def test_a_duration_beyond_what_a_timedelta_holds_is_refused_clearly():
    with pytest.raises(argparse.ArgumentTypeError, match="'9999999999d' is too long"):
        ephemeral.parse_duration("9999999999d")


def _cleanup_ttl(*argv: str) -> timedelta:
    args = ephemeral.build_parser().parse_args(["cleanup", *argv])
    return ephemeral._cleanup_ttl(args)


def test_cleanup_takes_a_ttl_duration_and_defaults_to_a_day(capsys):
    assert _cleanup_ttl("--ttl", "6h") == timedelta(hours=6)
    assert _cleanup_ttl("--ttl=90m") == timedelta(minutes=90)
    assert _cleanup_ttl() == timedelta(hours=24)
    assert capsys.readouterr().err == ""


def test_cleanup_still_takes_the_deprecated_ttl_hours_with_a_note(capsys):
    assert _cleanup_ttl("--ttl-hours", "0") == timedelta(0)
    assert _cleanup_ttl("--ttl-hours", "1.5") == timedelta(minutes=90)
    assert "--ttl-hours is deprecated; use --ttl 1.5h" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--ttl", "6x"], "argument --ttl: '6x' is not a duration; expected a number followed by s, m"),
        (["--ttl-hours", "soon"], "argument --ttl-hours: 'soon' is not a number of hours >= 0"),
        (["--ttl", "6h", "--ttl-hours", "6"], "argument --ttl-hours: not allowed with argument --ttl"),
        (["--tl", "6h"], "unrecognized arguments: --tl 6h"),
    ],
)
def test_cleanup_rejects_bad_ttls_on_the_command_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        ephemeral.build_parser().parse_args(["cleanup", *argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_run_always_has_a_policy_pack_the_projects_unless_another_copy_is_given(tmp_path):
    args = ephemeral.build_parser().parse_args(["run", "--base", "staging", "--pr", "5"])
    assert (
        args.policy_pack == ephemeral.POLICY_PACK and (ephemeral.POLICY_PACK / "PulumiPolicy.yaml").is_file()
    )
    other = ephemeral.build_parser().parse_args(
        ["run", "--base", "staging", "--pr", "5", "--policy-pack", str(tmp_path)]
    )
    assert other.policy_pack == tmp_path
    # A directory without a pack is refused before any stack is touched.
    with pytest.raises(ephemeral.EphemeralConfigError, match=r"has no PulumiPolicy\.yaml"):
        ephemeral.EphemeralStacks(workspace=None, policy_pack=tmp_path)  # type: ignore[arg-type]

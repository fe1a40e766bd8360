"""Run settings, the CLI's parsing and the dispatcher: bad input is named, secrets stay hidden."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest

from loadtests.__main__ import build_parser
from loadtests.cli.run import parse_stages, parse_think_time, parse_weights
from loadtests.errors import ConfigError, TargetNotAllowedError
from loadtests.run.config import (
    USERS_ENV,
    USERS_FILE_ENV,
    PrometheusExport,
    RunConfig,
    SuiteConfig,
    TestUser,
    load_test_users,
    parse_test_users,
)
from loadtests.run.runner import RunHandle, _child_env, _suite_config, locustfile_argument
from loadtests.run.shape import Stage

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("url", ["http://10.1.2.3:8080", "http://example.com", "http://192.168.0.1"])
def test_non_allowed_targets_are_refused(url):
    with pytest.raises(TargetNotAllowedError, match=r"not in target\.allowed_hosts"):
        RunConfig(target=url).validate()


def test_bad_settings_are_all_listed():
    config = RunConfig(
        target="http://127.0.0.1:8080",
        workers=0,
        time_scale=-1.0,
        think_time_min_s=5,
        think_time_max_s=1,
        user_weights={"dashboard": 2, "checkout": 1},
        environment="production",
        browser_share=1.0,
    )
    with pytest.raises(ConfigError) as info:
        config.validate()
    message = str(info.value)
    for fragment in (
        "load.workers: 0",
        "load.time_scale: -1.0",
        "think_time_min_s/think_time_max_s: 5/1",
        "unknown group(s) checkout",
        "load.allow_production",
        "load.browser_share: 1.0",
    ):
        assert fragment in message
    with pytest.raises(ConfigError, match="must be an http"):
        RunConfig(target="ftp://127.0.0.1").validate()
    with pytest.raises(ConfigError, match="2 ports given for 1 workers"):
        RunConfig(
            target="http://127.0.0.1:1",
            workers=1,
            prometheus=PrometheusExport(enabled=True, worker_ports=(1, 2)),
        ).validate()


def test_test_users_parse_without_echoing_passwords(tmp_path):
    users = parse_test_users('[{"email": "a@x.test", "password": "s3cret"}]', "users")
    assert users == (TestUser("a@x.test", "s3cret"),)
    assert "s3cret" not in repr(users) and "s3cret" not in repr(
        RunConfig(target="http://127.0.0.1", test_users=users)
    )
    with pytest.raises(ConfigError) as info:
        parse_test_users('[{"email": "a@x.test", "password": 7}]', "users")
    assert "users[0]" in str(info.value)
    with pytest.raises(ConfigError, match="not JSON"):
        parse_test_users('[{"email": "a", "password": "s3cret"', "users")
    path = tmp_path / "users.json"
    path.write_text('[{"email": "b@x.test", "password": "p"}]')
    assert load_test_users({USERS_FILE_ENV: str(path)})[0].email == "b@x.test"
    assert load_test_users({}) == ()


def test_users_reach_workers_only_through_their_environment(tmp_path):
    config = RunConfig(
        target="http://127.0.0.1:8080",
        stages=(Stage(1, 2),),
        test_users=(TestUser("a@x.test", "s3cret"),),
        live_check=lambda snapshot: None,
        browser_share=0.1,
    )
    suite = _suite_config(config, tmp_path)
    assert suite.browser_share == 0.1
    assert "s3cret" not in suite.to_json()
    assert SuiteConfig.from_json(suite.to_json()) == suite
    handle = RunHandle(config=config, run_dir=tmp_path, log_dir=tmp_path, suite=suite)
    worker_env = _child_env(handle, "worker-1")
    master_env = _child_env(handle, None)
    assert json.loads(worker_env[USERS_ENV]) == [{"email": "a@x.test", "password": "s3cret"}]
    assert USERS_ENV not in master_env and "s3cret" not in json.dumps(master_env)


def test_cli_value_parsers_name_the_bad_value():
    assert parse_stages("30:10, 60:10,30:0") == (Stage(30, 10), Stage(60, 10), Stage(30, 0))
    assert parse_weights("dashboard=25,insight=0") == {"dashboard": 25, "insight": 0}
    assert parse_think_time("1-6") == (1.0, 6.0)
    for parser, text in ((parse_stages, "30"), (parse_weights, "shop=1"), (parse_think_time, "6-1")):
        with pytest.raises(argparse.ArgumentTypeError, match=repr(text.split(",")[0])):
            parser(text)


def refused_cli_run(*args: str) -> str:
    """`python -m loadtests run ARGS` in a process of its own, which must refuse (exit 2, no
    traceback); returns its stderr."""
    command = [sys.executable, "-m", "loadtests", "run", *args]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_dispatcher_lists_run_and_refuses_a_remote_target_without_traceback():
    assert "run" in build_parser()._subparsers._group_actions[0].choices
    stderr = refused_cli_run("--target", "http://203.0.113.5", "--results", "/dev/null")
    assert "host '203.0.113.5' is not in target.allowed_hosts" in stderr


def test_a_ca_bundle_must_be_pem_certificates_and_reaches_every_process_as_text(tmp_path):
    from loadtests.cli.run import parse_ca_bundle
    from tests.fixtures.tls_certs import make_ca_and_server_cert

    missing = str(tmp_path / "missing.pem")
    with pytest.raises(ConfigError, match=r"target\.ca_bundle: '.*missing\.pem': expected .*no such file"):
        RunConfig(target="https://127.0.0.1:8443", ca_bundle=missing).validate()
    key_only = make_ca_and_server_cert(tmp_path).server_key_pem
    with pytest.raises(argparse.ArgumentTypeError, match="holds no -----BEGIN CERTIFICATE----- block"):
        parse_ca_bundle(str(key_only))

    ca = tmp_path / "ca.pem"
    assert parse_ca_bundle(str(ca)) == str(ca.resolve())
    config = RunConfig(target="https://127.0.0.1:8443", ca_bundle=str(ca), stages=(Stage(1, 1),))
    config.validate()
    suite = _suite_config(config, tmp_path)
    # The certificates themselves, not the path: a worker pod has no such file.
    assert suite.ca_bundle_pem == ca.read_text()
    assert SuiteConfig.from_json(suite.to_json()) == suite
    assert _suite_config(RunConfig(target="http://127.0.0.1:8080"), tmp_path).ca_bundle_pem == ""


# --- production is a property of the target ---------------------------------------------------


def _cli_config(*argv: str) -> RunConfig:
    """The RunConfig `python -m loadtests run ARGV` would run with, validated (nothing is started)."""
    from loadtests.cli.run import config_from_args

    config = config_from_args(build_parser().parse_args(["run", *argv, "--results", "/dev/null"]))
    config.validate()
    return config


def test_the_cli_refuses_a_remote_target_without_an_explicit_environment(capsys, monkeypatch):
    from loadtests.__main__ import main
    from loadtests.cli import run as cli_run

    # Should the guard ever break, nothing may be loaded: no run starts, and the host is one
    # that cannot resolve anywhere (.invalid, RFC 6761).
    monkeypatch.setattr(cli_run, "run_pipeline", lambda *_a, **_k: pytest.fail("a remote run started"))
    code = main(["run", "--target", "https://perf-target.invalid", "--allowed-host", "perf-target.invalid"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert (
        "--environment: not given, but the target host 'perf-target.invalid' is not a loopback address; "
        "expected --environment staging or --environment production"
    ) in err
    with pytest.raises(ConfigError, match="not a loopback address"):
        _cli_config("--target", "https://staging.odavl.studio", "--allowed-host", "staging.odavl.studio")
    # The allow-list still comes first: a host that may not be loaded at all is named as such.
    with pytest.raises(TargetNotAllowedError):
        _cli_config("--target", "https://odavl.studio")
    assert _cli_config("--target", "http://127.0.0.1:8080").environment == "local"


def test_the_cli_refuses_a_production_host_under_another_label():
    target = ["--target", "https://odavl.studio", "--allowed-host", "odavl.studio", "--allow-production"]
    with pytest.raises(ConfigError) as info:
        _cli_config(*target, "--environment", "staging")
    assert (
        "environment: 'staging', but the target host 'odavl.studio' is a production host "
        "(odavl.studio, www.odavl.studio); expected production"
    ) in str(info.value)
    with pytest.raises(ConfigError, match="environment: 'local' targets loopback addresses only"):
        _cli_config(
            "--target", "https://staging.odavl.studio", "--allowed-host", "staging.odavl.studio",
            "--environment", "local",
        )  # fmt: skip


def test_a_production_run_needs_the_permission_of_this_run_and_at_most_2000_users():
    target = [
        "--target",
        "https://odavl.studio",
        "--allowed-host",
        "odavl.studio",
        "--environment",
        "production",
    ]
    with pytest.raises(ConfigError) as info:
        _cli_config(*target, "--max-users", "1200")
    assert "load.allow_production: False: a load test on production needs the explicit permission" in str(
        info.value
    )
    assert "--allow-production" in str(info.value)
    with pytest.raises(
        ConfigError, match=r"load\.max_users: 2500: expected at most 2000 users on production"
    ):
        _cli_config(*target, "--allow-production", "--max-users", "2500")
    with pytest.raises(ConfigError, match=r"load\.max_users: 2400"):
        _cli_config(*target, "--allow-production", "--stages", "60:2400")
    approved = _cli_config(*target, "--allow-production", "--max-users", "2000")
    assert approved.environment == "production" and approved.allow_production


def test_production_hosts_are_exact_unless_a_wildcard_names_the_subdomains():
    from loadtests.run.config import is_production_host

    defaults = ("odavl.studio", "www.odavl.studio")
    assert is_production_host("odavl.studio", defaults) and is_production_host("ODAVL.studio.", defaults)
    assert not is_production_host("staging.odavl.studio", defaults)
    assert is_production_host("api.odavl.studio", ("*.odavl.studio",))
    assert not is_production_host("odavl.studio", ("*.odavl.studio",))
    assert not is_production_host("notodavl.studio", ("*.odavl.studio",))
    staging = ["--target", "https://staging.odavl.studio", "--allowed-host", "staging.odavl.studio"]
    assert _cli_config(*staging, "--environment", "staging").environment == "staging"
    with pytest.raises(ConfigError, match="is a production host"):
        _cli_config(*staging, "--environment", "staging", "--production-host", "*.odavl.studio")


def test_a_scenario_runs_after_the_harness_and_must_exist(tmp_path):
    scenario = REPO_ROOT / "examples" / "scenarios" / "projects.py"
    config = RunConfig(target="http://127.0.0.1:8080", scenario=str(scenario))
    config.validate()
    harness = REPO_ROOT / "loadtests" / "suite" / "harness.py"
    assert locustfile_argument(config) == f"{harness},{scenario}"
    assert locustfile_argument(RunConfig(target="http://127.0.0.1:8080")).endswith("suite/locustfile.py")

    missing = tmp_path / "missing.py"
    with pytest.raises(ConfigError) as caught:
        RunConfig(target="http://127.0.0.1:8080", scenario=str(missing), browser_share=0.1).validate()
    message = str(caught.value)
    assert f"load.scenario (--locustfile, loadLocustfile): {str(missing)!r}: no such file" in message
    assert "load.browser_share: 0.1 with a scenario of your own" in message
    with pytest.raises(ConfigError, match=r"ending in \.py, with no comma"):
        RunConfig(target="http://127.0.0.1:8080", scenario="a.py,b.py").validate()


def test_the_cli_names_a_missing_scenario_without_traceback():
    stderr = refused_cli_run("--target", "http://127.0.0.1:9", "--locustfile", "nope.py")
    assert "load.scenario (--locustfile, loadLocustfile): 'nope.py': no such file" in stderr


def test_credentials_in_the_target_url_are_refused_and_never_repeated():
    for url in ("http://bot:Secr3t@127.0.0.1:8080", "http://bot@127.0.0.1:8080"):
        with pytest.raises(ConfigError, match="carries credentials") as caught:
            RunConfig(target=url).validate()
        assert "Secr3t" not in str(caught.value) and "bot" not in str(caught.value)

"""Load and credentials stay on the allowed target: no redirect is followed, TLS is verified.

The suite runs for real (`python -m loadtests run`: a Locust master and one worker, the suite's
own authentication users logging in with a test account) against recording servers on
127.0.0.1 (tests/integration/recording_http.py):

- a target whose login answers 307 to `localhost:<other port>`, with only 127.0.0.1 allowed:
  the other server must receive nothing, and the results must say which redirect was refused;
- an HTTPS target whose certificate comes from a CA nobody trusts: the run is refused with a TLS
  reason before the login is posted, through the CLI and through the LoadTestRun provider that
  `pulumi up` uses; with that CA as the run's CA bundle the same target is loaded;
- the headless browser, sent to a page that redirects to another host: it never arrives there.
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.providers.loadtest_run import LoadTestRunError, execute_run
from loadtests.results.document import load_document, validate_document
from loadtests.run.config import USERS_ENV
from tests.fixtures.tls_certs import TestCertificates, make_ca_and_server_cert
from tests.integration.recording_http import RecordingServer, Reply

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
LOGIN = ("POST", "/api/auth/login")
EMAIL = "loadtest-1@odavl.test"
PASSWORD = "redirect-me-not"
TOKEN_REPLY = Reply(200, {"Content-Type": "application/json"}, b'{"token": "t-1"}')


def run_suite(target: str, tmp_path: Path, *extra: str) -> tuple[subprocess.CompletedProcess, Path]:
    """`python -m loadtests run` with 2 authentication users for about 4 s; only 127.0.0.1 allowed."""
    results = tmp_path / "results.json"
    env = {**os.environ, USERS_ENV: json.dumps([{"email": EMAIL, "password": PASSWORD}])}
    command = [
        sys.executable,
        "-m",
        "loadtests",
        "run",
        "--target",
        target,
        "--allowed-host",
        "127.0.0.1",
        "--stages",
        "1:2,3:2,1:0",
        "--workers",
        "1",
        "--weights",
        "authentication=1",
        "--think-time",
        "0.1-0.2",
        "--stop-timeout",
        "2",
        "--results",
        str(results),
        "--log-dir",
        str(tmp_path / "logs"),
        *extra,
    ]
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    return done, results


@pytest.fixture
def certificates(tmp_path: Path) -> TestCertificates:
    return make_ca_and_server_cert(tmp_path)


@pytest.fixture
def https_target(certificates: TestCertificates) -> Iterator[RecordingServer]:
    """An HTTPS target on 127.0.0.1 presenting a chain that ends in the untrusted test CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.server_chain_pem, certificates.server_key_pem)
    routes = {LOGIN: TOKEN_REPLY, ("POST", "/api/auth/logout"): Reply(204)}
    with RecordingServer(routes, tls=context) as server:
        yield server


def test_a_login_redirect_to_another_host_is_not_followed(tmp_path: Path) -> None:
    with RecordingServer({("POST", "/"): TOKEN_REPLY, ("GET", "/"): TOKEN_REPLY}) as other:
        redirect = Reply(307, {"Location": f"http://localhost:{other.port}/"})
        with RecordingServer({LOGIN: redirect}) as target:
            done, results = run_suite(target.url, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    # The target was loaded, the host it pointed to was never contacted: no re-posted password.
    assert any((r.method, r.path) == LOGIN for r in target.requests)
    assert other.requests == []
    doc = load_document(results)
    validate_document(doc)
    assert doc["status"] == "completed", doc["abort_reason"]
    login_errors = [e for e in doc["errors"] if e["endpoint"] == "POST /api/auth/login"]
    assert login_errors, doc["errors"]
    reason = login_errors[0]["error"]
    assert "status 307" in reason
    assert f"redirect to http://localhost:{other.port}/ not followed" in reason
    assert doc["metrics"]["checks"]["fails"] >= 1
    assert doc["metrics"]["auth_failures"]["count"] >= 1


def test_an_untrusted_certificate_refuses_the_run_before_the_login(
    https_target: RecordingServer, tmp_path: Path
) -> None:
    done, results = run_suite(https_target.url, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr  # the test could not run
    doc = load_document(results)
    validate_document(doc)
    assert doc["status"] == "failed"
    reason = doc["abort_reason"]
    assert reason.startswith(f"TLS: the certificate of 127.0.0.1:{https_target.port} does not verify")
    assert "self-signed certificate in certificate chain" in reason
    assert "targetCaBundle or --ca-bundle" in reason
    assert "TLS: the certificate" in done.stdout
    # One handshake (the runner's check), no HTTP request at all, and no users ever ran.
    assert https_target.tls_failures >= 1
    assert https_target.requests == []
    assert doc["metrics"] == {} and doc["errors"] == []
    assert not (tmp_path / "logs" / "worker-1.log").exists()


def test_the_run_proceeds_when_the_ca_bundle_trusts_the_target(
    https_target: RecordingServer, certificates: TestCertificates, tmp_path: Path
) -> None:
    done, results = run_suite(https_target.url, tmp_path, "--ca-bundle", str(certificates.ca_pem))
    assert done.returncode == 0, done.stdout + done.stderr
    doc = load_document(results)
    assert doc["status"] == "completed", doc["abort_reason"]
    assert doc["errors"] == []
    assert doc["metrics"]["checks"]["rate"] == 1.0
    logins = [r for r in https_target.requests if (r.method, r.path) == LOGIN]
    assert logins and json.loads(logins[0].body) == {"email": EMAIL, "password": PASSWORD}


def test_the_pulumi_run_resource_refuses_an_untrusted_target(
    https_target: RecordingServer, tmp_path: Path
) -> None:
    """`pulumi up` runs the load test through this provider function: same runner, same refusal."""
    props = {
        "run_id": "tls-1",
        "stack": "itest",
        "environment": "local",
        "target": https_target.url,
        "allowed_hosts": ["127.0.0.1"],
        "ca_bundle": "",
        "profile": "staged",
        "max_users": 2,
        "time_scale": 1.0,
        "stages": [{"duration_s": 1.0, "target": 2}, {"duration_s": 3.0, "target": 2}],
        "workers": 1,
        "user_weights": {"authentication": 1},
        "thresholds": ["checks: rate>0.95"],
        "baseline": "none",
        "reports_dir": str(tmp_path / "reports"),
        "fleet": {"kind": "local"},
        "test_users": json.dumps([{"email": EMAIL, "password": PASSWORD}]),
    }
    with pytest.raises(LoadTestRunError, match=r"the load test failed: TLS: the certificate of 127\.0\.0\.1"):
        execute_run(props)
    assert https_target.requests == []
    stored = load_document(tmp_path / "reports" / "itest" / "runs" / "tls-1.json")
    assert stored["status"] == "failed" and "self-signed certificate" in stored["abort_reason"]


@pytest.mark.browser
def test_the_browser_does_not_follow_a_redirect_to_another_host() -> None:
    from loadtests.suite.browser.driver import BrowserOptions
    from loadtests.suite.browser.user import BrowserProcess

    page = Reply(200, {"Content-Type": "text/html"}, b"<!doctype html><body><button>Go</button></body>")
    with RecordingServer({("GET", "/dashboard"): page}) as other:
        elsewhere = f"http://localhost:{other.port}/dashboard"
        with RecordingServer({("GET", "/dashboard"): Reply(307, {"Location": elsewhere})}) as target:
            browser = BrowserProcess(BrowserOptions(allowed_hosts=("127.0.0.1",)))
            browser.start()
            try:
                outcome = browser.visit(f"{target.url}/dashboard", "button", timeout_s=15)
            finally:
                browser.close()
    assert other.requests == []
    assert [(r.method, r.path) for r in target.requests] == [("GET", "/dashboard")]
    assert outcome.vitals is None
    assert f"blocked, outside the allowed hosts: {elsewhere} (redirect from {target.url}/dashboard)" in (
        outcome.error or ""
    )


LAX_SCENARIO = '''
from locust import constant, task

from loadtests.suite.user_base import SuiteUser


class LaxUser(SuiteUser):
    """Tries to turn certificate checks and redirects back on: the base class does not let it."""

    group = "lax"
    wait_time = constant(0.1)
    insecure = True
    max_redirects = 30

    def on_start(self) -> None:
        self.login()

    @task
    def nothing(self) -> None:
        self.wait()
'''


def test_the_users_verify_tls_themselves_whatever_a_scenario_says(
    https_target: RecordingServer, tmp_path: Path
) -> None:
    """Past the runner's own check (the Kubernetes fleet has only the users' check), a scenario
    that sets `insecure = True` still gets TLS errors and never posts its login."""
    from loadtests.run.config import RunConfig, TestUser
    from loadtests.run.runner import start_fleet, wait_fleet
    from loadtests.run.shape import Stage

    scenario = tmp_path / "lax.py"
    scenario.write_text(LAX_SCENARIO)
    config = RunConfig(
        target=https_target.url,
        scenario=str(scenario),
        stages=(Stage(1, 2), Stage(3, 2), Stage(1, 0)),
        workers=1,
        test_users=(TestUser(EMAIL, PASSWORD),),
        results_path=str(tmp_path / "results.json"),
        stop_timeout_s=2.0,
        run_timeout_s=120,
        log_dir=str(tmp_path / "logs"),
    )
    doc = wait_fleet(start_fleet(config))  # start_fleet skips run_local's TLS check
    assert doc["status"] == "completed", doc["abort_reason"]
    assert https_target.requests == []  # no login reached the target
    assert https_target.tls_failures >= 1
    logins = doc["endpoints"]["POST /api/auth/login"]
    assert logins["http_reqs"]["count"] >= 1
    assert logins["http_req_failed"]["rate"] == 1.0
    assert any("CERTIFICATE_VERIFY_FAILED" in e["error"] for e in doc["errors"]), doc["errors"]


ENGINE_PROGRAM = """
import json

import pulumi

from components.loadtest import LoadTestRun, LoadTestRunArgs

config = pulumi.Config()
run = LoadTestRun(
    "loadtest",
    LoadTestRunArgs(
        run_id=config.require("runId"),
        stack=pulumi.get_stack(),
        target=config.require("target"),
        allowed_hosts=("127.0.0.1",),
        thresholds=["http_reqs: count>0"],
        max_users=2,
        stages=({"duration_s": 1, "target": 2}, {"duration_s": 3, "target": 2}),
        workers=1,
        think_time_min_s=0.1,
        think_time_max_s=0.2,
        user_weights={"authentication": 1},
        reports_dir=config.require("reportsDir"),
        test_users=config.require_secret("testUsers"),
    ),
)
pulumi.export("results_path", run.results_path)
"""


@pytest.mark.engine
def test_pulumi_up_refuses_an_untrusted_target_and_follows_no_redirect(
    https_target: RecordingServer, tmp_path: Path, pulumi_engine
) -> None:
    """The local stack's `pulumi up` path for real: the engine runs the LoadTestRun provider."""
    from tests.fixtures.engine import ROOT, Engine

    directory = tmp_path / "program"
    directory.mkdir()
    (directory / "Pulumi.yaml").write_text(
        "name: target-safety\nruntime:\n  name: python\n  options:\n"
        f"    toolchain: pip\n    virtualenv: {ROOT / '.venv'}\n"
    )
    (directory / "__main__.py").write_text(ENGINE_PROGRAM)
    engine = Engine(env={**pulumi_engine.env, "PYTHONPATH": str(ROOT)}, backend_dir=pulumi_engine.backend_dir)
    engine.run("stack", "init", "safety", cwd=directory)
    reports = tmp_path / "reports"
    try:
        users = json.dumps([{"email": EMAIL, "password": PASSWORD}])
        engine.run("config", "set", "--secret", "testUsers", users, cwd=directory)
        engine.run("config", "set", "reportsDir", str(reports), cwd=directory)
        engine.run("config", "set", "runId", "tls", cwd=directory)
        engine.run("config", "set", "target", https_target.url, cwd=directory)
        refused = engine.run("up", "--yes", "--skip-preview", cwd=directory, timeout=300, check=False)
        assert refused.returncode != 0
        assert f"TLS: the certificate of 127.0.0.1:{https_target.port} does not verify" in refused.stdout
        assert https_target.requests == []
        assert load_document(reports / "safety" / "runs" / "tls.json")["status"] == "failed"

        with RecordingServer({("POST", "/"): TOKEN_REPLY, ("GET", "/"): TOKEN_REPLY}) as other:
            redirect = Reply(307, {"Location": f"http://localhost:{other.port}/"})
            with RecordingServer({LOGIN: redirect}) as target:
                engine.run("config", "set", "runId", "redirect", cwd=directory)
                engine.run("config", "set", "target", target.url, cwd=directory)
                engine.run("up", "--yes", "--skip-preview", cwd=directory, timeout=300)
        assert any((r.method, r.path) == LOGIN for r in target.requests)
        assert other.requests == []
        doc = load_document(reports / "safety" / "runs" / "redirect.json")
        assert any("not followed" in e["error"] for e in doc["errors"]), doc["errors"]
    finally:
        engine.run("stack", "rm", "--yes", "--force", "safety", cwd=directory, check=False, timeout=120)

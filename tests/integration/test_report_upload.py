"""Report upload against moto's S3 server over real HTTP on 127.0.0.1, including an outage."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from loadtests.publish.s3 import S3Target, make_client, upload_report

pytestmark = pytest.mark.integration

MOTO_SERVER = Path(sys.executable).with_name("moto_server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class MotoServer:
    process: subprocess.Popen[bytes]
    endpoint_url: str

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture
def moto_s3(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[MotoServer]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
    }.items():
        monkeypatch.setenv(key, value)
    port = _free_port()
    log = (tmp_path / "moto.log").open("wb")
    process = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    server = MotoServer(process, f"http://127.0.0.1:{port}")
    try:
        for _ in range(200):  # up to ~20 s for the server to answer
            if process.poll() is not None:
                raise AssertionError(f"moto_server exited: {(tmp_path / 'moto.log').read_text()}")
            try:
                httpx.get(f"{server.endpoint_url}/moto-api/", timeout=0.5)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError("moto_server did not start within 20 s")
        yield server
    finally:
        server.stop()
        log.close()


@pytest.fixture
def report_files(tmp_path: Path) -> tuple[Path, list[Path]]:
    run_dir = tmp_path / "reports" / "run-42"
    (run_dir / "analysis").mkdir(parents=True)
    results = run_dir / "results.json"
    results.write_text('{"schema_version": "1.0", "run_id": "run-42"}')
    summary = run_dir / "summary.html"
    summary.write_text("<html><body>verdict: pass</body></html>")
    analysis = run_dir / "analysis" / "bottlenecks.txt"
    analysis.write_text("no bottleneck found\n")
    return run_dir, [results, summary, analysis]


def _target(server: MotoServer, **overrides) -> S3Target:
    return S3Target(
        **{"bucket": "odavl-reports", "endpoint_url": server.endpoint_url, "region": "us-east-1", **overrides}
    )


def test_upload_writes_every_file_and_ensures_the_lifecycle_rule(moto_s3, report_files):
    run_dir, files = report_files
    target = _target(moto_s3, prefix="/load-tests/")
    client = make_client(target)
    client.create_bucket(Bucket=target.bucket)
    other_rule = {
        "ID": "keep-me",
        "Filter": {"Prefix": "logs/"},
        "Status": "Enabled",
        "Expiration": {"Days": 7},
    }
    client.put_bucket_lifecycle_configuration(
        Bucket=target.bucket, LifecycleConfiguration={"Rules": [other_rule]}
    )

    outcome = upload_report(files, target, stack="rc-0a1b2c3d", run_id="run-42", base_dir=run_dir)

    assert outcome.status == "uploaded", outcome.error
    assert outcome.lifecycle == "created"
    assert outcome.uris == (
        "s3://odavl-reports/load-tests/rc-0a1b2c3d/run-42/results.json",
        "s3://odavl-reports/load-tests/rc-0a1b2c3d/run-42/summary.html",
        "s3://odavl-reports/load-tests/rc-0a1b2c3d/run-42/analysis/bottlenecks.txt",
    )
    summary = client.get_object(Bucket=target.bucket, Key="load-tests/rc-0a1b2c3d/run-42/summary.html")
    assert summary["Body"].read() == files[1].read_bytes()
    assert summary["ContentType"].startswith("text/html")
    rules = {r["ID"]: r for r in client.get_bucket_lifecycle_configuration(Bucket=target.bucket)["Rules"]}
    assert "keep-me" in rules
    [ours] = [r for r in rules.values() if r["ID"] != "keep-me"]
    assert (
        ours["Expiration"]["Days"] == 90
        and ours["Filter"]["Prefix"] == "load-tests/"
        and ours["Status"] == "Enabled"
    )

    again = upload_report(files, target, stack="rc-0a1b2c3d", run_id="run-43", base_dir=run_dir)
    assert again.status == "uploaded" and again.lifecycle == "unchanged"

    shorter = upload_report(
        files, _target(moto_s3, prefix="load-tests", retention_days=30), stack="s", run_id="r"
    )
    assert shorter.lifecycle == "updated"
    rules = client.get_bucket_lifecycle_configuration(Bucket=target.bucket)["Rules"]
    assert len(rules) == 2 and {r["Expiration"]["Days"] for r in rules} == {7, 30}


def test_missing_bucket_fails_with_a_clear_error_and_keeps_the_local_copy(moto_s3, report_files):
    _, files = report_files
    outcome = upload_report(files, _target(moto_s3, bucket="no-such-bucket"), stack="local", run_id="1")
    assert outcome.status == "failed"
    assert "NoSuchBucket" in outcome.error and "local copy is kept" in outcome.error
    assert all(path.is_file() for path in files)
    assert outcome.to_output()["local_paths"] == [str(p) for p in files]


def test_outage_is_retried_then_reported_in_the_outputs(moto_s3, report_files):
    _, files = report_files
    target = _target(moto_s3, max_attempts=3, connect_timeout_s=1.0)
    client = make_client(target)
    client.create_bucket(Bucket=target.bucket)
    moto_s3.stop()  # the outage: nothing listens on the endpoint any more
    attempts: list[str] = []
    client.meta.events.register("before-send.s3", lambda **kwargs: attempts.append(kwargs["request"].url))

    outcome = upload_report(files, target, stack="staging", run_id="7", client=client)

    assert outcome.status == "failed" and not outcome.ok
    assert "unreachable" in outcome.error and moto_s3.endpoint_url in outcome.error
    assert len(attempts) == 3  # the first request, retried twice with backoff
    assert all(path.is_file() for path in files)
    output = outcome.to_output()
    assert output["status"] == "failed" and output["uris"] == []


def test_without_a_bucket_the_reports_stay_local(report_files):
    _, files = report_files
    outcome = upload_report(files, None, stack="local", run_id="1")
    assert outcome.status == "skipped" and outcome.ok and outcome.local_paths == tuple(map(str, files))


@pytest.fixture
def flaky_proxy(moto_s3) -> Iterator[dict]:
    """A loopback proxy in front of moto that answers 503 SlowDown to the first `failures` requests."""
    state = {"failures": 0, "answered_503": 0}

    class Handler(BaseHTTPRequestHandler):
        def _relay(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
            if state["failures"] > 0:
                state["failures"] -= 1
                state["answered_503"] += 1
                error = (
                    b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
                )
                self.send_response(503)
                self.send_header("Content-Length", str(len(error)))
                self.end_headers()
                self.wfile.write(error)
                return
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            upstream = httpx.request(
                self.command, moto_s3.endpoint_url + self.path, headers=headers, content=body, timeout=30
            )
            self.send_response(upstream.status_code)
            for key, value in upstream.headers.items():
                if key.lower() not in (
                    "content-length",
                    "transfer-encoding",
                    "connection",
                    "content-encoding",
                ):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(upstream.content)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(upstream.content)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _relay

        def log_message(self, *args) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["endpoint_url"] = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_throttling_is_retried_with_backoff_until_the_upload_succeeds(moto_s3, flaky_proxy, report_files):
    run_dir, files = report_files
    make_client(_target(moto_s3)).create_bucket(Bucket="odavl-reports")
    target = S3Target(
        "odavl-reports", endpoint_url=flaky_proxy["endpoint_url"], region="us-east-1", max_attempts=3
    )
    flaky_proxy["failures"] = 2  # the first request fails twice, its third attempt goes through

    outcome = upload_report(files, target, stack="staging", run_id="8", base_dir=run_dir)

    assert outcome.status == "uploaded", outcome.error
    assert flaky_proxy["answered_503"] == 2
    stored = make_client(_target(moto_s3)).get_object(
        Bucket="odavl-reports", Key="load-tests/staging/8/results.json"
    )
    assert stored["Body"].read() == files[0].read_bytes()


@pytest.mark.parametrize("prefix", ["", "/", "//"])
def test_an_empty_prefix_is_refused_before_any_rule_or_object_reaches_the_bucket(
    moto_s3, report_files, prefix
):
    run_dir, files = report_files
    target = _target(moto_s3, prefix=prefix)
    client = make_client(target)
    client.create_bucket(Bucket=target.bucket)

    outcome = upload_report(files, target, stack="local", run_id="run-42", base_dir=run_dir)

    assert outcome.status == "failed" and outcome.uris == () and outcome.lifecycle is None
    assert f"reportsS3Prefix {prefix!r}" in outcome.error and "expire every object" in outcome.error
    assert client.list_objects_v2(Bucket=target.bucket).get("KeyCount") == 0
    with pytest.raises(ClientError, match="NoSuchLifecycleConfiguration"):
        client.get_bucket_lifecycle_configuration(Bucket=target.bucket)

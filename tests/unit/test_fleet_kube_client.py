"""KubernetesFleetApi built from kubeconfigs and service accounts, against a loopback HTTPS API server.

No cluster: tests/support/kube_api_server.py answers the Job and pod requests over TLS with a
test CA, and checks the bearer token the official client sends (an exec plugin's, a token
file's, a service account's).
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client as kubernetes_client

from components.fleet.control import JobPod, job_state
from components.fleet.errors import FleetApiError, KubeconfigError
from components.fleet.kube_client import KubernetesFleetApi
from components.fleet.manifests import RESULTS_MARKER, master_job
from tests.fixtures.tls_certs import TestCertificates, make_ca_and_server_cert
from tests.support.kube_api_server import FakeKubeApiServer
from tests.unit.observability_stacks import fleet_args

SPEC = fleet_args("staging").spec()
MASTER = master_job(SPEC)
NAMESPACE, NAME = MASTER["metadata"]["namespace"], MASTER["metadata"]["name"]
EXEC_TOKEN = "exec-token-4f1c"


@pytest.fixture
def certificates(tmp_path: Path) -> TestCertificates:
    return make_ca_and_server_cert(tmp_path)


def api_server(certificates: TestCertificates, token: str) -> FakeKubeApiServer:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates.server_chain_pem, certificates.server_key_pem)
    return FakeKubeApiServer(context, token=token)


@pytest.fixture
def server(certificates: TestCertificates) -> Iterator[FakeKubeApiServer]:
    with api_server(certificates, EXEC_TOKEN) as running:
        yield running


def exec_plugin(directory: Path, token: str = EXEC_TOKEN, fail: str = "") -> Path:
    """An executable that logs in as a cloud CLI does: prints an ExecCredential (or fails)."""
    script = directory / "login-plugin"
    if fail:
        body = f"echo '{fail}' >&2\nexit 1\n"
    else:
        credential = {
            "apiVersion": "client.authentication.k8s.io/v1",
            "kind": "ExecCredential",
            "status": {"token": token},
        }
        body = f"cat <<'END'\n{json.dumps(credential)}\nEND\n"
    script.write_text(f"#!/bin/sh\n{body}")
    script.chmod(0o700)
    return script


def exec_user(plugin: Path) -> dict:
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}


def write_kubeconfig(
    path: Path, contexts: dict[str, tuple[str, dict]], current: str | None, ca: Path | None
) -> Path:
    """A kubeconfig with one cluster and one user per context: name -> (server URL, user entry)."""
    cluster = {"certificate-authority": str(ca)} if ca else {}
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": name, "cluster": {"server": url, **cluster}} for name, (url, _) in contexts.items()
        ],
        "users": [{"name": name, "user": user} for name, (_, user) in contexts.items()],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}} for name in contexts],
    }
    if current:
        document["current-context"] = current
    path.write_text(yaml.safe_dump(document))
    return path


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_exec_plugins_token_reaches_the_api_server_for_every_job_call(tmp_path, certificates, server):
    kubeconfig = write_kubeconfig(
        tmp_path / "config", {"ci": (server.url, exec_user(exec_plugin(tmp_path)))}, "ci", certificates.ca_pem
    )
    api = KubernetesFleetApi(kubeconfig, context="")
    api.create_job(NAMESPACE, MASTER)
    server.jobs[(NAMESPACE, NAME)]["status"] = {"conditions": [{"type": "Complete", "status": "True"}]}
    job = api.read_job(NAMESPACE, NAME)
    assert isinstance(job, dict) and job["metadata"]["name"] == NAME
    assert job_state(job) == "succeeded"
    api.delete_job(NAMESPACE, NAME)
    assert api.read_job(NAMESPACE, NAME) is None
    api.delete_job(NAMESPACE, NAME)  # already gone: no error

    jobs_path = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"
    assert [(seen.method, seen.path) for seen in server.requests] == [
        ("POST", jobs_path),
        ("GET", f"{jobs_path}/{NAME}"),
        ("DELETE", f"{jobs_path}/{NAME}"),
        ("GET", f"{jobs_path}/{NAME}"),
        ("DELETE", f"{jobs_path}/{NAME}"),
    ]
    assert {seen.authorization for seen in server.requests} == {f"Bearer {EXEC_TOKEN}"}
    assert json.loads(server.requests[0].body)["spec"] == MASTER["spec"]
    assert server.requests[2].query["propagationPolicy"] == ["Background"]


def test_a_context_is_chosen_by_name_and_its_token_file_read(tmp_path, certificates, server):
    (tmp_path / "fleet-token").write_text(EXEC_TOKEN)
    kubeconfig = write_kubeconfig(
        tmp_path / "config",
        {
            "laptop": (f"https://127.0.0.1:{closed_port()}", {"token": "someone-elses"}),
            "ci": (server.url, {"tokenFile": "fleet-token"}),  # relative to the kubeconfig
        },
        "laptop",
        certificates.ca_pem,
    )
    api = KubernetesFleetApi(kubeconfig, context="ci")
    assert api.server == server.url
    assert api.read_job(NAMESPACE, NAME) is None
    assert [seen.authorization for seen in server.requests] == [f"Bearer {EXEC_TOKEN}"]


def test_two_clients_in_one_process_keep_their_own_credentials(tmp_path, certificates, server):
    default_host = kubernetes_client.Configuration.get_default_copy().host
    with api_server(certificates, "second-token") as second:
        first_config = write_kubeconfig(
            tmp_path / "first", {"a": (server.url, {"token": EXEC_TOKEN})}, "a", certificates.ca_pem
        )
        second_config = write_kubeconfig(
            tmp_path / "second", {"b": (second.url, {"token": "second-token"})}, "b", certificates.ca_pem
        )
        first, other = KubernetesFleetApi(first_config), KubernetesFleetApi(second_config)
        assert first.read_job(NAMESPACE, NAME) is None
        assert other.read_job(NAMESPACE, NAME) is None
    assert [seen.authorization for seen in server.requests] == [f"Bearer {EXEC_TOKEN}"]
    assert [seen.authorization for seen in second.requests] == ["Bearer second-token"]
    # Neither changed the client's process-wide default configuration.
    assert kubernetes_client.Configuration.get_default_copy().host == default_host


@pytest.mark.parametrize(
    "context,current,message",
    [
        ("missing", "ci", r"kubeconfig .*config has no context named 'missing'"),
        ("", None, r"kubeconfig .*config: no context given and no current-context set"),
    ],
)
def test_an_unusable_context_is_a_kubeconfig_error_naming_it(tmp_path, context, current, message):
    kubeconfig = write_kubeconfig(
        tmp_path / "config", {"ci": ("https://127.0.0.1:6443", {"token": "secret-token"})}, current, None
    )
    with pytest.raises(KubeconfigError, match=message) as raised:
        KubernetesFleetApi(kubeconfig, context=context)
    assert "secret-token" not in str(raised.value)


def test_a_missing_kubeconfig_and_a_failing_exec_plugin_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "absent"))
    with pytest.raises(KubeconfigError, match=r"no kubeconfig at .*absent"):
        KubernetesFleetApi(None, context="ci")
    plugin = exec_plugin(tmp_path, fail="login expired: run the cloud login again")
    user = exec_user(plugin)
    kubeconfig = write_kubeconfig(tmp_path / "config", {"ci": ("https://127.0.0.1:6443", user)}, "ci", None)
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # read when the client is made, not at import
    with pytest.raises(KubeconfigError, match=r"context 'ci'.*no credentials.*login expired"):
        KubernetesFleetApi(None, context="ci")


def test_an_unreachable_api_server_is_reported_quickly_with_its_url(tmp_path):
    url = f"https://127.0.0.1:{closed_port()}"
    kubeconfig = write_kubeconfig(tmp_path / "config", {"ci": (url, {"token": "secret-token"})}, "ci", None)
    api = KubernetesFleetApi(kubeconfig, context="ci")
    started = time.monotonic()
    with pytest.raises(FleetApiError) as raised:
        api.read_job(NAMESPACE, NAME)
    assert time.monotonic() - started < 5
    message = str(raised.value)
    assert f"read Job {NAMESPACE}/{NAME}: the Kubernetes API server at {url} is unreachable" in message
    assert "Connection refused" in message
    assert "secret-token" not in message


def test_a_403_names_the_operation_the_job_the_status_and_the_servers_message(tmp_path, certificates, server):
    kubeconfig = write_kubeconfig(
        tmp_path / "config", {"ci": (server.url, {"token": EXEC_TOKEN})}, "ci", certificates.ca_pem
    )
    server.forbidden = {"POST"}
    with pytest.raises(FleetApiError) as raised:
        KubernetesFleetApi(kubeconfig).create_job(NAMESPACE, MASTER)
    message = str(raised.value)
    assert message.startswith(f"create Job {NAMESPACE}/{NAME}: HTTP 403 Forbidden from {server.url}: ")
    assert 'User "fleet" cannot create resource "jobs"' in message
    assert EXEC_TOKEN not in message and "Traceback" not in message


def test_an_api_server_with_an_untrusted_certificate_is_refused(tmp_path, server):
    user = {"token": EXEC_TOKEN}
    kubeconfig = write_kubeconfig(tmp_path / "config", {"ci": (server.url, user)}, "ci", ca=None)  # untrusted
    with pytest.raises(FleetApiError, match=r"the TLS connection to the Kubernetes API server at .* failed"):
        KubernetesFleetApi(kubeconfig).read_job(NAMESPACE, NAME)
    assert server.requests == []  # the token never left the client


def pod(name: str, phase: str, started: str, deleted: bool = False) -> dict:
    metadata = {"name": name, "namespace": NAMESPACE, "labels": {"job-name": NAME}}
    if deleted:
        metadata["deletionTimestamp"] = "2026-12-01T10:05:00Z"
    return {
        "metadata": {**metadata, "creationTimestamp": started},
        "status": {"phase": phase, "startTime": started},
    }


def test_the_masters_log_is_read_from_the_pod_that_ran(tmp_path, certificates, server):
    kubeconfig = write_kubeconfig(
        tmp_path / "config", {"ci": (server.url, {"token": EXEC_TOKEN})}, "ci", certificates.ca_pem
    )
    server.pods[NAMESPACE] = [
        pod(f"{NAME}-old", "Failed", "2026-12-01T10:00:00Z", deleted=True),
        pod(f"{NAME}-ran", "Succeeded", "2026-12-01T10:01:00Z"),
        pod("someone-else", "Running", "2026-12-01T10:02:00Z") | {"metadata": {"name": "x", "labels": {}}},
    ]
    server.logs[(NAMESPACE, f"{NAME}-ran")] = f"starting\n{RESULTS_MARKER}\n{{}}\n"
    api = KubernetesFleetApi(kubeconfig)
    assert api.list_job_pods(NAMESPACE, NAME) == [
        JobPod(f"{NAME}-old", "Failed", True),
        JobPod(f"{NAME}-ran", "Succeeded", False),
    ]
    assert api.read_job_log(NAMESPACE, NAME) == f"starting\n{RESULTS_MARKER}\n{{}}\n"
    log_request = server.requests[-1]
    assert log_request.path == f"/api/v1/namespaces/{NAMESPACE}/pods/{NAME}-ran/log"
    assert log_request.query["container"] == ["locust"]
    assert server.requests[0].query["labelSelector"] == [f"job-name={NAME}"]
    assert api.read_job_log(NAMESPACE, "no-such-job") == ""


def test_in_cluster_credentials_come_from_the_service_account(tmp_path, certificates, server):
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(EXEC_TOKEN)
    (account / "ca.crt").write_bytes(certificates.ca_pem.read_bytes())
    environ = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": str(server.port)}
    api = KubernetesFleetApi.in_cluster(account, environ)
    assert api.read_job(NAMESPACE, NAME) is None
    assert server.requests[0].authorization.lower() == f"bearer {EXEC_TOKEN}"
    with pytest.raises(KubeconfigError, match=r"in-cluster credentials .*host/port is not set"):
        KubernetesFleetApi.in_cluster(account, {})
    os.remove(account / "token")
    with pytest.raises(KubeconfigError, match=r"token file does not exist"):
        KubernetesFleetApi.in_cluster(account, environ)

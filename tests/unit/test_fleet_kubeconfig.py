"""Fleet controller credentials from kubeconfig files (tokens, client certificates, CAs)."""

from __future__ import annotations

import base64
import ssl
import subprocess
from pathlib import Path

import pytest
import yaml

from components.fleet.control import KubernetesFleetApi
from components.fleet.kubeconfig import KubeconfigError, credentials_from_kubeconfig, ssl_context
from tests.tools import require_tool


def self_signed(directory: Path, name: str) -> tuple[str, str]:
    """A throwaway certificate and key (PEM) made by openssl."""
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [require_tool("openssl"), *request, "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert.read_text(), key.read_text()


def write_kubeconfig(path: Path, user: dict, cluster: dict | None = None, current: str = "ci") -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": current,
        "contexts": [{"name": "ci", "context": {"cluster": "staging", "user": "fleet"}}],
        "clusters": [{"name": "staging", "cluster": cluster or {"server": "https://k8s.example:6443"}}],
        "users": [{"name": "fleet", "user": user}],
    }
    path.write_text(yaml.safe_dump(document))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_token_and_insecure_cluster(tmp_path):
    path = write_kubeconfig(
        tmp_path / "config", {"token": "abc"}, {"server": "https://k:6443", "insecure-skip-tls-verify": True}
    )
    credentials = credentials_from_kubeconfig(path)
    assert (credentials.server, credentials.token, credentials.insecure) == ("https://k:6443", "abc", True)
    assert ssl_context(credentials).verify_mode == ssl.CERT_NONE
    assert "abc" not in repr(credentials)


def test_client_certificate_and_ca_data_load(tmp_path):
    ca_pem, _ = self_signed(tmp_path, "cluster-ca")
    cert_pem, key_pem = self_signed(tmp_path, "fleet")
    path = write_kubeconfig(
        tmp_path / "config",
        {"client-certificate-data": b64(cert_pem), "client-key-data": b64(key_pem)},
        {"server": "https://k:6443", "certificate-authority-data": b64(ca_pem)},
    )
    credentials = credentials_from_kubeconfig(path, "ci")
    assert credentials.ca_pem == ca_pem and credentials.token is None
    context = ssl_context(credentials)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "cluster-ca"),),)]


def test_file_references_are_relative_to_the_kubeconfig(tmp_path):
    ca_pem, _ = self_signed(tmp_path, "cluster-ca")
    (tmp_path / "token").write_text("from-file\n")
    path = write_kubeconfig(
        tmp_path / "config",
        {"tokenFile": "token"},
        {"server": "https://k:6443", "certificate-authority": "cluster-ca.crt"},
    )
    credentials = credentials_from_kubeconfig(path)
    assert credentials.token == "from-file" and credentials.ca_pem == ca_pem
    api = KubernetesFleetApi.from_kubeconfig(path)
    assert api._headers["Authorization"] == "Bearer from-file"


@pytest.mark.parametrize(
    "user,context,message",
    [
        ({"exec": {"command": "aws"}}, "ci", "exec plugin"),
        ({}, "ci", "neither a token nor a client certificate"),
        ({"token": "t"}, "missing", "no context named 'missing'"),
    ],
)
def test_unusable_kubeconfigs_are_named(tmp_path, user, context, message):
    path = write_kubeconfig(tmp_path / "config", user)
    with pytest.raises(KubeconfigError, match=message):
        credentials_from_kubeconfig(path, context)

"""Credentials for the fleet controller from a kubeconfig file (the stack's ``kubernetesContext``).

Supports what a CI runner's kubeconfig usually holds: a bearer token or a client certificate
(inline ``*-data`` or file paths), the cluster's CA (inline or file) or
``insecure-skip-tls-verify``. Exec plugins and auth providers (cloud logins) are not run: use a
service-account token for the fleet instead. Certificate data never touches the disk longer
than it takes ``ssl`` to load it.
"""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.fleet.errors import KubeconfigError

__all__ = ["KubeconfigError", "KubernetesCredentials", "credentials_from_kubeconfig", "ssl_context"]


@dataclass(frozen=True)
class KubernetesCredentials:
    server: str
    token: str | None = field(default=None, repr=False)
    ca_pem: str | None = None
    client_cert_pem: str | None = None
    client_key_pem: str | None = field(default=None, repr=False)
    insecure: bool = False


def _named(entries: list[dict[str, Any]] | None, name: str, kind: str) -> dict[str, Any]:
    for entry in entries or []:
        if entry.get("name") == name:
            return entry.get(kind) or {}
    raise KubeconfigError(f"kubeconfig: no {kind} named {name!r}")


def _pem(section: dict[str, Any], key: str, base: Path) -> str | None:
    """Inline ``<key>-data`` (base64) or the file ``<key>`` (relative to the kubeconfig)."""
    if section.get(f"{key}-data"):
        return base64.b64decode(section[f"{key}-data"]).decode()
    if section.get(key):
        return (base / section[key]).read_text()
    return None


def credentials_from_kubeconfig(path: Path, context: str = "") -> KubernetesCredentials:
    """The API server and credentials of ``context`` (default: the current context)."""
    document = yaml.safe_load(path.read_text()) or {}
    name = context or document.get("current-context") or ""
    if not name:
        raise KubeconfigError(f"kubeconfig {path}: no context given and no current-context set")
    selected = _named(document.get("contexts"), name, "context")
    cluster = _named(document.get("clusters"), selected.get("cluster", ""), "cluster")
    user = _named(document.get("users"), selected.get("user", ""), "user")
    if not cluster.get("server"):
        raise KubeconfigError(f"kubeconfig: cluster {selected.get('cluster')!r} has no server")
    if "exec" in user or "auth-provider" in user:
        raise KubeconfigError(
            f"kubeconfig: user {selected.get('user')!r} logs in through an exec plugin or auth provider; "
            "give the fleet a service-account token or client certificate instead"
        )
    token = user.get("token")
    if not token and user.get("tokenFile"):
        token = (path.parent / user["tokenFile"]).read_text().strip()
    credentials = KubernetesCredentials(
        server=cluster["server"],
        token=token,
        ca_pem=_pem(cluster, "certificate-authority", path.parent),
        client_cert_pem=_pem(user, "client-certificate", path.parent),
        client_key_pem=_pem(user, "client-key", path.parent),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )
    if not credentials.token and not credentials.client_cert_pem:
        raise KubeconfigError(
            f"kubeconfig: user {selected.get('user')!r} has neither a token nor a client certificate"
        )
    return credentials


def ssl_context(credentials: KubernetesCredentials) -> ssl.SSLContext:
    """TLS settings for the API server: its CA, and the client certificate when there is one."""
    context = (
        ssl.create_default_context(cadata=credentials.ca_pem)
        if credentials.ca_pem
        else (ssl.create_default_context())
    )
    if credentials.insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if credentials.client_cert_pem and credentials.client_key_pem:
        # ssl only loads key pairs from files: a private directory, removed right away.
        with tempfile.TemporaryDirectory(prefix="odavl-kube-") as directory:
            cert, key = Path(directory) / "client.crt", Path(directory) / "client.key"
            for target, text in ((cert, credentials.client_cert_pem), (key, credentials.client_key_pem)):
                descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(descriptor, "w") as handle:
                    handle.write(text)
            context.load_cert_chain(cert, key)
    return context

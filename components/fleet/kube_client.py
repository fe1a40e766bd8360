"""``FleetApi`` over the official Kubernetes Python client: how the fleet controller reaches a cluster.

``KubernetesFleetApi(kubeconfig, context)`` logs in as kubectl does for that kubeconfig context, through
``kubernetes.config.new_client_from_config``: tokens and token files, client certificates, exec
plugins (cloud logins) and the auth providers the client supports; ``kubeconfig=None`` means
``$KUBECONFIG`` (one path or several, ``:``-separated) or ``~/.kube/config``.
``KubernetesFleetApi.in_cluster()`` uses the service account of the pod it runs in.

Each instance has its own ``Configuration`` and ``ApiClient``, never the client's global default:
two fleets in one process never share credentials. The kubeconfig is never written back
(``persist_config=False``); certificate data the client has to hand to ``ssl`` as files goes to
mode-0600 temporary files it removes at exit.

Every request is bounded (``CONNECT_TIMEOUT_S``, ``READ_TIMEOUT_S``, one connection retry), so an
unreachable API server is reported within seconds. Errors become the fleet's own
(components/fleet/errors.py), with messages naming the operation, the object, the HTTP status and
the API server's own message, and never a credential:

    KubeconfigError   the kubeconfig or service account cannot be used (missing file or context,
                      malformed entries, an exec plugin that failed, no credentials)
    FleetApiError     a request failed: an unexpected HTTP status, or the server is unreachable
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.config.incluster_config import InClusterConfigLoader

from components.fleet.control import JobPod
from components.fleet.errors import FleetApiError, KubeconfigError

__all__ = ["CONNECT_TIMEOUT_S", "READ_TIMEOUT_S", "KubernetesFleetApi", "pod_that_ran"]

CONNECT_TIMEOUT_S = 5.0
"""Seconds to open a connection to the API server (each of the two attempts)."""
READ_TIMEOUT_S = 30.0
"""Seconds to wait for the API server's answer once connected."""
LOG_READ_TIMEOUT_S = 120.0
"""Seconds to read a pod's log: the master's holds the whole results document."""

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CONTAINER = "locust"
"""The container of the fleet's pods whose log is read (components/fleet/manifests.py)."""

_T = TypeVar("_T")


def _default_kubeconfig() -> str:
    """What kubectl reads: ``$KUBECONFIG`` (read now, not when the client was imported) or ~/.kube/config."""
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


def _fresh_configuration() -> client.Configuration:
    """A configuration of this instance alone, with bounded retries."""
    configuration = client.Configuration()
    # One more attempt to connect (a dropped SYN), none after a request was sent (a POST must not
    # be repeated), and no redirects: an API server that redirects is not followed with the token.
    configuration.retries = urllib3.util.Retry(total=1, connect=1, read=0, status=0, other=0, redirect=0)
    return configuration


@contextmanager
def _client_config_errors() -> Iterator[list[str]]:
    """Collect what the client's config loader logs instead of raising (a failing exec plugin).

    ``kubernetes.config`` catches an exec plugin's failure and logs it through the root logger; the
    messages are kept here (and not printed) so the KubeconfigError can say what went wrong.
    """
    messages: list[str] = []

    class _Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "kubernetes" in record.pathname and record.levelno >= logging.ERROR:
                messages.append(record.getMessage())

    handler = _Collect(logging.ERROR)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield messages
    finally:
        root.removeHandler(handler)


def _has_credentials(configuration: client.Configuration) -> bool:
    return bool(configuration.api_key.get("BearerToken") or configuration.cert_file)


def _kubeconfig_error(source: str, context: str, error: Exception) -> KubeconfigError:
    """The client's config error in the project's words; names the file and the context."""
    text = _one_line(error)
    if isinstance(error, yaml.YAMLError):
        mark = getattr(error, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        # Only the problem and the line: the file's text (tokens, keys) is never repeated.
        problem = getattr(error, "problem", None) or "unreadable"
        return KubeconfigError(f"kubeconfig {source} is not valid YAML{where}: {problem}")
    if not context and "current-context" in text:
        return KubeconfigError(
            f"kubeconfig {source}: no context given and no current-context set "
            "(set the stack's kubernetesContext)"
        )
    if context and f"name {context} in" in text and "contexts" in text:
        return KubeconfigError(f"kubeconfig {source} has no context named {context!r}")
    where = f"context {context!r}" if context else "the current context"
    return KubeconfigError(f"kubeconfig {source}, {where}: {text}")


def _client_from_kubeconfig(kubeconfig: Path | None, context: str) -> client.ApiClient:
    source = str(kubeconfig) if kubeconfig is not None else _default_kubeconfig()
    paths = [Path(part).expanduser() for part in source.split(os.pathsep) if part]
    if not any(path.is_file() for path in paths):
        raise KubeconfigError(
            f"no kubeconfig at {source}: give its path, set KUBECONFIG, or run the controller on the cluster"
        )
    configuration = _fresh_configuration()
    try:
        with _client_config_errors() as logged:
            api_client = config.new_client_from_config(
                config_file=source,
                context=context or None,
                persist_config=False,
                client_configuration=configuration,
            )
    except (ConfigException, yaml.YAMLError, OSError, KeyError, TypeError, AttributeError) as error:
        raise _kubeconfig_error(source, context, error) from None
    if not _has_credentials(configuration):
        where = f"context {context!r}" if context else "the current context"
        detail = f": {'; '.join(logged)}" if logged else " (no token, client certificate or exec plugin)"
        raise KubeconfigError(f"kubeconfig {source}, {where}: the user gives no credentials{detail}")
    return api_client


def _client_in_cluster(service_account_dir: Path, environ: Mapping[str, str]) -> client.ApiClient:
    configuration = _fresh_configuration()
    loader = InClusterConfigLoader(
        token_filename=str(service_account_dir / "token"),
        cert_filename=str(service_account_dir / "ca.crt"),
        environ=environ,
    )
    try:
        loader.load_and_set(configuration)
    except (ConfigException, OSError) as error:
        raise KubeconfigError(
            f"in-cluster credentials ({service_account_dir}, KUBERNETES_SERVICE_HOST/PORT): {error}"
        ) from None
    return client.ApiClient(configuration)


def _public_url(url: str) -> str:
    """The server URL without any user:password part."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return f"{parts.scheme}://{netloc}{parts.path}".rstrip("/")


def _one_line(text: object, limit: int = 300) -> str:
    return " ".join(str(text).split())[:limit]


def _server_message(error: ApiException) -> str:
    """The API server's own explanation: the Status object's message, else the start of the body."""
    body = error.body or ""
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and document.get("message"):
        return _one_line(document["message"])
    return _one_line(body, 200)


def _connection_problem(server: str, error: Exception) -> str:
    """What went wrong reaching ``server``, from urllib3's error (MaxRetryError wraps the cause)."""
    reason = getattr(error, "reason", None)
    cause = reason if isinstance(reason, Exception) else error
    if isinstance(cause, urllib3.exceptions.SSLError):
        return f"the TLS connection to the Kubernetes API server at {server} failed: {_one_line(cause)}"
    if isinstance(cause, urllib3.exceptions.NewConnectionError):  # before ConnectTimeoutError: a subclass
        # "HTTPSConnection(host=..., port=...): Failed to establish a new connection: [Errno 111] ..."
        detail = _one_line(cause).split("): ", 1)[-1]
    elif isinstance(cause, urllib3.exceptions.ConnectTimeoutError):
        detail = f"no connection within {CONNECT_TIMEOUT_S:g} s"
    elif isinstance(cause, urllib3.exceptions.ReadTimeoutError):
        detail = "connected, but no answer in time"
    else:
        detail = _one_line(cause) or type(cause).__name__
    return f"the Kubernetes API server at {server} is unreachable: {detail}"


def pod_that_ran(pods: list[Any]) -> Any | None:
    """The pod whose log tells how the Job ended: a succeeded one, else failed, else running; newest first.

    A Job with ``backoffLimit: 0`` normally has one pod, but a pod deleted before it started (node
    drain, a fault test) leaves a second one behind: its log is empty and must not be read.
    """
    rank = {"Succeeded": 3, "Failed": 2, "Running": 1}

    def key(pod: Any) -> tuple[int, float]:
        moment = (pod.status.start_time if pod.status else None) or pod.metadata.creation_timestamp
        return rank.get(pod.status.phase if pod.status else "", 0), moment.timestamp() if moment else 0.0

    return max(pods, key=key, default=None)


def whole_numbers(value: Any) -> Any:
    """``value`` with every integral float made an int: Pulumi carries every number of a
    manifest as a float (1200.0), and the API's integer fields refuse those."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: whole_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [whole_numbers(item) for item in value]
    return value


class KubernetesFleetApi:
    """``FleetApi`` over ``kubernetes.client`` (batch/v1 Jobs, core/v1 pods and their logs)."""

    def __init__(self, kubeconfig: Path | None = None, context: str = "") -> None:
        """Log in as the kubeconfig's ``context`` does (its current context when empty)."""
        self._use(_client_from_kubeconfig(kubeconfig, context))

    @classmethod
    def in_cluster(
        cls, service_account_dir: Path = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] | None = None
    ) -> KubernetesFleetApi:
        """Log in with the service account of the pod this runs in (a CI runner on the cluster)."""
        api = cls.__new__(cls)
        api._use(_client_in_cluster(service_account_dir, os.environ if environ is None else environ))
        return api

    def _use(self, api_client: client.ApiClient) -> None:
        self._client = api_client
        self._batch = client.BatchV1Api(api_client)
        self._core = client.CoreV1Api(api_client)
        self.server = _public_url(api_client.configuration.host)

    def close(self) -> None:
        """Close the connection pool (the instance is unusable afterwards)."""
        self._client.close()

    def _call(self, action: str, target: str, call: Callable[[], _T], missing_ok: bool = False) -> _T | None:
        """Run one request; a 404 is None when ``missing_ok``, any other failure a FleetApiError."""
        try:
            return call()
        except ApiException as error:
            if error.status == 404 and missing_ok:
                return None
            if not error.status:  # raised by the client itself (a TLS failure, an unreadable answer)
                problem = f"the Kubernetes API server at {self.server} failed: {_one_line(error.reason)}"
            else:
                status = f"HTTP {error.status} {error.reason or ''}".rstrip()
                problem = f"{status} from {self.server}: {_server_message(error)}"
        except (urllib3.exceptions.HTTPError, OSError) as error:
            problem = _connection_problem(self.server, error)
        except ValueError as error:  # an answer that is not the Kubernetes object asked for
            problem = f"the answer from {self.server} is not a Kubernetes object: {_one_line(error, 200)}"
        raise FleetApiError(f"{action} {target}: {problem}")

    def create_job(self, namespace: str, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        body = whole_numbers(manifest)
        self._call(
            "create",
            f"Job {namespace}/{name}",
            lambda: self._batch.create_namespaced_job(
                namespace, body, _request_timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
            ),
        )

    def read_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        job = self._call(
            "read",
            f"Job {namespace}/{name}",
            lambda: self._batch.read_namespaced_job(
                name, namespace, _request_timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S)
            ),
            missing_ok=True,
        )
        return None if job is None else self._client.sanitize_for_serialization(job)

    def delete_job(self, namespace: str, name: str) -> None:
        # Background: the Job goes at once, the garbage collector deletes its pods after it (the
        # controller's stop waits for both). A Job already gone is not an error.
        self._call(
            "delete",
            f"Job {namespace}/{name}",
            lambda: self._batch.delete_namespaced_job(
                name,
                namespace,
                propagation_policy="Background",
                _request_timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            ),
            missing_ok=True,
        )

    def _pods(self, namespace: str, job_name: str) -> list[Any]:
        listing = self._call(
            "list",
            f"pods of Job {namespace}/{job_name}",
            lambda: self._core.list_namespaced_pod(
                namespace,
                label_selector=f"job-name={job_name}",
                _request_timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
            ),
        )
        return list(listing.items or []) if listing is not None else []

    def list_job_pods(self, namespace: str, job_name: str) -> list[JobPod]:
        return [
            JobPod(
                pod.metadata.name,
                (pod.status.phase if pod.status else None) or "Unknown",
                pod.metadata.deletion_timestamp is not None,
            )
            for pod in self._pods(namespace, job_name)
        ]

    def read_job_log(self, namespace: str, name: str, tail_lines: int | None = None) -> str:
        pod = pod_that_ran(self._pods(namespace, name))
        if pod is None:
            return ""
        pod_name = pod.metadata.name
        log = self._call(
            "read the log of",
            f"pod {namespace}/{pod_name} (Job {name})",
            lambda: self._core.read_namespaced_pod_log(
                pod_name,
                namespace,
                container=CONTAINER,
                **({"tail_lines": tail_lines} if tail_lines else {}),
                _request_timeout=(CONNECT_TIMEOUT_S, LOG_READ_TIMEOUT_S),
            ),
            missing_ok=True,
        )
        return log or ""

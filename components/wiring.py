"""Small derivations `__main__.py` needs to connect Settings to the components' args.

Each keeps secrets as secret Outputs: a DSN built from the database password, or the test
users' password, is computed inside `apply` and re-marked secret.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path
from typing import Any

import pulumi

from components.observability_values import service_urls
from components.settings import DatabaseSettings, Settings
from loadtests.run.config import InfluxExport, SuiteConfig, open_model_stages
from loadtests.run.shape import profile_stages
from loadtests.run.target_tls import read_ca_bundle

__all__ = [
    "fleet_of",
    "fleet_suite_config",
    "kubeconfig_path",
    "local_database_dir",
    "secret_dsn",
    "test_password",
]


def fleet_of(settings: Settings, fleet: Any) -> dict[str, Any]:
    """Which fleet LoadTestRun drives: local processes, or the LoadGeneratorFleet's Jobs."""
    if fleet is None:
        return {"kind": "local"}
    return {
        "kind": "kubernetes",
        "namespace": settings.kubernetes.namespace,
        "context": settings.kubernetes.context,
        "kubeconfig": kubeconfig_path(settings),
        "master_job": fleet.master_job,
        "worker_job": fleet.worker_job,
    }


def kubeconfig_path(settings: Settings) -> str:
    """The stack's kubeconfig as an absolute path (`kubernetesKubeconfig` is relative to the
    project), or "" for the client's own default ($KUBECONFIG, ~/.kube/config)."""
    configured = settings.kubernetes.kubeconfig
    return str((Path.cwd() / configured).resolve()) if configured else ""


def local_database_dir(project_dir: str, stack: str) -> str:
    """Where the local stack's PostgreSQL cluster lives: under the system temp directory.

    The server runs as the `postgres` OS user, which often cannot enter the checkout (a home
    directory is typically mode 700), so the cluster sits in a directory named after the
    project's path and the stack: stable across runs, distinct between checkouts.
    """
    digest = hashlib.sha256(str(Path(project_dir).resolve()).encode()).hexdigest()[:12]
    return str(Path(tempfile.gettempdir()) / "odavl-perf-postgres" / f"{digest}-{stack}")


def secret_dsn(db: DatabaseSettings) -> pulumi.Output[str]:
    """The libpq DSN of the application database, as a secret Output."""

    def build(password: str | None) -> str:
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=db.host,
            port=str(db.port),
            dbname=db.name,
            user=db.user,
            password=password or None,
            sslmode=db.sslmode,
        )

    return pulumi.Output.secret(pulumi.Output.from_input(db.password).apply(build))


def test_password(test_users: Any) -> pulumi.Output[str]:
    """The first test user's password (the seed gives every local test user this one)."""

    def first(text: str | None) -> str:
        users = json.loads(text or "[]")
        return users[0]["password"] if users else ""

    return pulumi.Output.secret(pulumi.Output.from_input(test_users).apply(first))


def fleet_suite_config(settings: Settings) -> str:
    """The suite configuration the Kubernetes fleet's pods read (no secrets in it)."""
    load = settings.load
    # With the observability stack, samples stream to its InfluxDB database "k6" as well.
    influxdb = InfluxExport()
    if settings.observability.enabled:
        influxdb = InfluxExport(
            enabled=True, url=service_urls(settings.kubernetes.namespace)["influxdb"], database="k6"
        )
    executor = load.executor
    # An arrival-rate executor replaces the profile (as in the local runner's suite config): the
    # pods play its stages, named after it; a capacity search judges its steps by the lines.
    open_model = executor.open_model
    return SuiteConfig(
        target=settings.target.base_url,
        run_id=load.run_id,
        stack=settings.stack,
        environment=settings.environment,
        profile=executor.kind if open_model else load.profile,
        max_users=executor.max_users if open_model else load.max_users,
        time_scale=load.time_scale,
        # The stages themselves: the pods play what they are given (loadtests/suite/harness.py),
        # as the local runner's processes do.
        stages=open_model_stages(executor)
        if open_model
        else profile_stages(load.profile, load.max_users, load.time_scale, load.stages),
        executor=executor,
        thresholds=tuple(settings.slo.thresholds) if open_model else (),
        user_weights=dict(load.user_weights),
        think_time_min_s=load.think_time_min_s,
        think_time_max_s=load.think_time_max_s,
        allowed_hosts=tuple(settings.target.allowed_hosts),
        # The certificates themselves, so the pods verify the target without a file mount.
        ca_bundle_pem=read_ca_bundle(settings.target.ca_bundle, "odavl-perf:targetCaBundle")
        if settings.target.ca_bundle
        else "",
        browser_share=load.browser_share,
        influxdb=influxdb,
    ).to_json()

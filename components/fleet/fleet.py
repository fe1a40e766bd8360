"""LoadGeneratorFleet: the Kubernetes side of a distributed Locust run.

The component registers what must exist before a run and may stay between runs of the same
``run_id``: a service account without API token, the suite configuration and code
ConfigMaps, the test-user Secret, the master Service, the headless metrics Service that
Prometheus discovers the pods through, and the NetworkPolicies. The two Jobs
(master, N workers) are *not* Pulumi resources: LoadTestRun creates them when the run starts
and awaits them through ``components.fleet.control.FleetController``, exactly as it starts
and awaits local processes. Jobs then delete themselves after ``ttl_seconds_after_finished``,
so nothing outlives the run and no Pulumi state points at a Job that is gone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s

from components.fleet import manifests, network
from components.fleet.manifests import ContainerResources, FleetSpec
from loadtests.run.config import check_target

__all__ = ["LoadGeneratorFleet", "LoadGeneratorFleetArgs"]


@dataclass(frozen=True)
class LoadGeneratorFleetArgs:
    """Inputs of the fleet.

    Attributes:
        namespace: namespace the fleet runs in (must exist).
        run_id: the run these objects belong to (``settings.load.run_id``); part of every name.
        workers: number of worker pods (1-64), all running in parallel.
        image: pinned Locust image with the suite's dependencies (tag or digest; not ``latest``).
        target_url: base URL under test; its host must be in ``allowed_hosts``.
        allowed_hosts: hosts a load test may target (``settings.target.allowed_hosts``).
        target_cidrs: CIDRs the pods may reach the target at (NetworkPolicy ipBlocks).
        target_namespace: alternatively/additionally, an in-cluster namespace holding the target.
        target_ports: TCP ports of the target; default is the URL's port.
        monitoring_namespace: namespace whose Prometheus may scrape the fleet's metrics port;
            default: the fleet's own namespace (ObservabilityStack in the same namespace).
        influxdb_export: the suite streams samples to the observability stack's InfluxDB
            (``SuiteConfig.influxdb.enabled``): allow egress to it on port 8086.
        suite_config_json: the suite configuration (``loadtests.run.config.SuiteConfig.to_json()``);
            the fleet sets its results path and Prometheus exporter settings for the pods.
        test_users: secret Output with the JSON list of test users; None when not needed.
        code_root: project root whose ``loadtests/`` is shipped in a ConfigMap; None when the
            image already contains the code.
        scenario: a locustfile of the user's own, relative to the project root (``loadLocustfile``),
            shipped with the code; without the ConfigMap the image must hold it at that path.
        master_resources, worker_resources: container requests and limits.
        active_deadline_seconds: hard limit on each Job's run time.
        ttl_seconds_after_finished: how long finished Jobs stay for inspection.
        metrics_port: port of the Prometheus exporter in every pod (the master's, with host_network).
        host_network: pods on their node's network, for a single-node cluster whose target is on
            the node's loopback (the `cluster` stack); NetworkPolicies do not apply to such pods.
        create_namespace: the fleet creates its namespace (when no ObservabilityStack does).
    """

    namespace: str
    run_id: str
    workers: int
    image: str
    target_url: str
    allowed_hosts: tuple[str, ...]
    suite_config_json: pulumi.Input[str]
    target_cidrs: tuple[str, ...] = ()
    target_namespace: str | None = None
    target_ports: tuple[int, ...] = ()
    monitoring_namespace: str | None = None
    influxdb_export: bool = False
    test_users: pulumi.Input[str] | None = None
    code_root: Path | None = None
    scenario: str | None = None
    master_resources: ContainerResources = field(default_factory=ContainerResources)
    worker_resources: ContainerResources = field(default_factory=ContainerResources)
    active_deadline_seconds: int = 3600
    ttl_seconds_after_finished: int = 600
    metrics_port: int = 9646
    host_network: bool = False
    create_namespace: bool = False

    def problems(self) -> list[str]:
        """Every invalid field, named, with the expected form."""
        found = []
        if not 1 <= self.workers <= 64:
            found.append(f"workers={self.workers!r}: expected a whole number from 1 to 64")
        if not self.image or self.image.endswith(":latest") or ":" not in self.image.rsplit("/", 1)[-1]:
            found.append(f"image={self.image!r}: expected a pinned tag or digest, e.g. repo/locust:2.47.0")
        if not self.target_cidrs and not self.target_namespace:
            found.append("target_cidrs/target_namespace: give at least one, or no pod can reach the target")
        if self.active_deadline_seconds < 60:
            found.append(f"active_deadline_seconds={self.active_deadline_seconds}: expected >= 60")
        return found

    def spec(self) -> FleetSpec:
        parts = urlsplit(self.target_url)
        users_secret = manifests.resource_names_for(self.run_id)["users"]
        ports = self.target_ports or (parts.port or (443 if parts.scheme == "https" else 80),)
        return FleetSpec(
            namespace=self.namespace,
            run_id=self.run_id,
            workers=self.workers,
            image=self.image,
            target_url=self.target_url,
            target_cidrs=self.target_cidrs,
            target_ports=tuple(ports),
            target_namespace=self.target_namespace,
            monitoring_namespace=self.monitoring_namespace,
            influxdb_export=self.influxdb_export,
            code_from_configmap=self.code_root is not None,
            scenario=self.scenario or None,
            users_secret=None if self.test_users is None else users_secret,
            metrics_port=self.metrics_port,
            active_deadline_seconds=self.active_deadline_seconds,
            ttl_seconds_after_finished=self.ttl_seconds_after_finished,
            master_resources=self.master_resources,
            worker_resources=self.worker_resources,
            host_network=self.host_network,
        )


class LoadGeneratorFleet(pulumi.ComponentResource):
    """Standing parts of a Kubernetes Locust fleet; ``master_job``/``worker_job`` are the run."""

    master_job: pulumi.Output[dict]
    worker_job: pulumi.Output[dict]
    master_service: pulumi.Output[str]

    def __init__(
        self, name: str, args: LoadGeneratorFleetArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("odavl:perf:LoadGeneratorFleet", name, None, opts)
        check_target(args.target_url, args.allowed_hosts)
        problems = args.problems()
        if problems:
            raise ValueError("LoadGeneratorFleet: " + "; ".join(problems))
        spec = args.spec()
        names = manifests.resource_names(spec)
        child = pulumi.ResourceOptions(parent=self)
        if args.create_namespace:
            namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata={"name": spec.namespace, "labels": manifests.fleet_labels(spec)},
                opts=child,
            )
            child = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        def metadata(key: str, component: str | None = None) -> dict:
            return {
                "name": names[key],
                "namespace": spec.namespace,
                "labels": manifests.fleet_labels(spec, component),
            }

        k8s.core.v1.ServiceAccount(
            f"{name}-service-account",
            metadata=metadata("service_account"),
            automount_service_account_token=False,
            opts=child,
        )
        k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=metadata("config"),
            data={
                manifests.SUITE_CONFIG_KEY: pulumi.Output.from_input(args.suite_config_json).apply(
                    lambda text: manifests.suite_config_for_kubernetes(text, spec)
                )
            },
            opts=child,
        )
        code_items: list[dict[str, str]] = []
        if args.code_root is not None:
            data, code_items = manifests.code_configmap_data(
                manifests.loadtests_code_files(args.code_root, args.scenario or None)
            )
            k8s.core.v1.ConfigMap(f"{name}-code", metadata=metadata("code"), data=data, opts=child)
        if args.test_users is not None and spec.users_secret:
            k8s.core.v1.Secret(
                f"{name}-users",
                metadata={"name": spec.users_secret, "namespace": spec.namespace},
                type="Opaque",
                string_data={manifests.USERS_KEY: pulumi.Output.secret(args.test_users)},
                opts=child,
            )
        service = network.master_service(spec)
        k8s.core.v1.Service(
            f"{name}-master-service", metadata=service["metadata"], spec=service["spec"], opts=child
        )
        metrics = network.metrics_service(spec)
        k8s.core.v1.Service(
            f"{name}-metrics-service", metadata=metrics["metadata"], spec=metrics["spec"], opts=child
        )
        for policy in network.network_policies(spec):
            role = "egress" if "Egress" in policy["spec"]["policyTypes"] else "ingress"
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{role}-policy", metadata=policy["metadata"], spec=policy["spec"], opts=child
            )

        self.master_job = pulumi.Output.from_input(manifests.master_job(spec, code_items))
        self.worker_job = pulumi.Output.from_input(manifests.worker_job(spec, code_items))
        self.master_service = pulumi.Output.from_input(names["master"])
        self.register_outputs(
            {
                "master_job": self.master_job,
                "worker_job": self.worker_job,
                "master_service": self.master_service,
            }
        )

"""Services and NetworkPolicies of the Locust fleet (pure: dictionaries out).

A Service through which workers reach the master, a headless Service Prometheus discovers the
pods' exporters through, and NetworkPolicies that let the pods talk only to the target, the
cluster DNS and the master (and the stack's InfluxDB when the run exports to it), and be
reached only by the fleet and the monitoring namespace.
"""

from __future__ import annotations

from typing import Any

from components.fleet.manifests import FleetSpec, fleet_labels, resource_names
from components.observability_values import (
    FLEET_APP_LABEL,
    FLEET_METRICS_SERVICE,
    INFLUXDB_PORT,
    METRICS_PORT_NAME,
)

__all__ = ["master_service", "metrics_service", "network_policies"]


def master_service(spec: FleetSpec) -> dict[str, Any]:
    """ClusterIP Service in front of the master's control port and its metrics port."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": resource_names(spec)["master"],
            "namespace": spec.namespace,
            "labels": fleet_labels(spec, "master"),
        },
        "spec": {
            "type": "ClusterIP",
            "selector": fleet_labels(spec, "master"),
            "ports": [
                {
                    "name": "master",
                    "port": spec.master_port,
                    "targetPort": spec.master_port,
                    "protocol": "TCP",
                },
                {
                    "name": METRICS_PORT_NAME,
                    "port": spec.metrics_port,
                    "targetPort": spec.metrics_port,
                    "protocol": "TCP",
                },
            ],
        },
    }


def metrics_service(spec: FleetSpec) -> dict[str, Any]:
    """Headless Service over every fleet pod's exporter: Prometheus resolves one A record per
    pod (``dns_sd_configs``), including pods not yet ready, so a run is scraped from its start."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": FLEET_METRICS_SERVICE,
            "namespace": spec.namespace,
            "labels": {"app.kubernetes.io/name": FLEET_APP_LABEL, "app.kubernetes.io/part-of": "odavl-perf"},
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {"app.kubernetes.io/name": FLEET_APP_LABEL},
            "ports": [
                {
                    "name": METRICS_PORT_NAME,
                    "port": spec.metrics_port,
                    "targetPort": spec.metrics_port,
                    "protocol": "TCP",
                }
            ],
        },
    }


def _namespace_peer(namespace: str) -> dict[str, Any]:
    return {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}


def network_policies(spec: FleetSpec) -> list[dict[str, Any]]:
    """Egress only to the target, cluster DNS and the master; ingress only from the fleet
    (master port) and from the monitoring namespace (metrics port)."""
    names = resource_names(spec)
    fleet = {"matchLabels": fleet_labels(spec)}
    target_peers: list[dict[str, Any]] = [{"ipBlock": {"cidr": cidr}} for cidr in spec.target_cidrs]
    if spec.target_namespace:
        target_peers.append(_namespace_peer(spec.target_namespace))
    egress = [
        {
            "to": [
                {
                    **_namespace_peer("kube-system"),
                    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                }
            ],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {
            "to": [{"podSelector": {"matchLabels": fleet_labels(spec, "master")}}],
            "ports": [{"protocol": "TCP", "port": spec.master_port}],
        },
        {"to": target_peers, "ports": [{"protocol": "TCP", "port": port} for port in spec.target_ports]},
    ]
    if spec.influxdb_export:
        # Workers stream their samples to the observability stack's InfluxDB.
        influxdb = {"app.kubernetes.io/name": "influxdb"}
        egress.append(
            {
                "to": [
                    {
                        **_namespace_peer(spec.monitoring_namespace or spec.namespace),
                        "podSelector": {"matchLabels": influxdb},
                    }
                ],
                "ports": [{"protocol": "TCP", "port": INFLUXDB_PORT}],
            }
        )
    ingress: list[dict[str, Any]] = [
        {"from": [{"podSelector": fleet}], "ports": [{"protocol": "TCP", "port": spec.master_port}]}
    ]
    # Prometheus scrapes the exporters; without a monitoring namespace it runs beside the fleet.
    ingress.append(
        {
            "from": [_namespace_peer(spec.monitoring_namespace or spec.namespace)],
            "ports": [{"protocol": "TCP", "port": spec.metrics_port}],
        }
    )

    def policy(name: str, kind: str, rules: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": names[name], "namespace": spec.namespace, "labels": fleet_labels(spec)},
            "spec": {"podSelector": fleet, "policyTypes": [kind], kind.lower(): rules},
        }

    return [policy("egress", "Egress", egress), policy("ingress", "Ingress", ingress)]

"""Run a component under Pulumi mocks and capture every resource it registers.

Used by the observability, Grafana and fleet component tests: no engine, no plugins, no
cluster. Each captured resource keeps its type token, name, URN (which spells out its
parent chain) and the inputs as the provider would receive them (camelCase for Kubernetes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

__all__ = ["Captured", "capture", "child_roles", "is_secret", "reveal"]


@dataclass(frozen=True)
class Captured:
    typ: str
    name: str
    inputs: dict[str, Any]
    urn: str = ""


class _CapturingMocks(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[Captured] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append(Captured(args.typ, args.name, dict(args.inputs)))
        outputs = dict(args.inputs)
        if args.typ.startswith("kubernetes:") and "metadata" in outputs:
            metadata = dict(outputs["metadata"] or {})
            metadata.setdefault("name", args.name)
            outputs["metadata"] = metadata
        return f"{args.name}-id", outputs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


def capture(
    build: Callable[[], pulumi.Resource], stack: str = "staging"
) -> tuple[list[Captured], dict[str, str]]:
    """Run ``build`` under mocks; return the captured resources and a name -> URN map."""
    mocks = _CapturingMocks()
    pulumi.runtime.set_mocks(mocks, project="odavl-perf", stack=stack, preview=False)
    urns: dict[str, str] = {}

    def remember(values: list[str]) -> None:
        urns.update({urn.rsplit("::", 1)[1]: urn for urn in values})

    @pulumi.runtime.test
    def run() -> pulumi.Output:
        component = build()
        return pulumi.Output.all(*[resource.urn for resource in _walk(component)]).apply(remember)

    run()
    return mocks.resources, urns


def child_roles(urns: dict[str, str], component: str) -> set[str]:
    """Roles of the component's children (``<name>-<role>``), each checked to be its child."""
    (root,) = [name for name, urn in urns.items() if urn.endswith(f"odavl:perf:{component}::{name}")]
    roles = set()
    for name, urn in urns.items():
        if name != root:
            assert f"odavl:perf:{component}$" in urn, f"{name} is not a child of {component}: {urn}"
            assert name.startswith(f"{root}-"), f"{name} is not named {root}-<role>"
            roles.add(name.removeprefix(f"{root}-"))
    return roles


SECRET_SIG = "4dabf18193072939515e22adb298388d"


def is_secret(value: Any) -> bool:
    """Whether a captured input value arrived as a Pulumi secret."""
    return isinstance(value, dict) and SECRET_SIG in value


def reveal(value: Any) -> Any:
    """The plain value of a captured input, with every secret wrapper removed."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {key: reveal(item) for key, item in value.items()}
    if isinstance(value, list):
        return [reveal(item) for item in value]
    return value


def _walk(resource: pulumi.Resource) -> list[pulumi.Resource]:
    found = [resource]
    for child in getattr(resource, "_childResources", set()) or set():
        found.extend(_walk(child))
    return found

"""A throwaway Pulumi project for the ephemeral-stack tests: an inline program whose dynamic
resources create and delete marker files, so a test can see whether destroy really ran.

Config (namespace `probe`): `dir` (where markers go), `token` (a secret), `label`, `mode`
("ok", "fail" - the second resource's create raises, "slow" - the second resource waits for a
`release` file). Kept importable and free of side effects: the dynamic provider process
unpickles `MarkerProvider` from here.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pulumi
from pulumi import dynamic

PROJECT = "ephemeral-probe"


class MarkerProvider(dynamic.ResourceProvider):
    def create(self, props: dict[str, Any]) -> dynamic.CreateResult:
        marker = Path(props["dir"]) / props["name"]
        if props.get("mode") == "fail":
            raise RuntimeError("injected failure while creating " + props["name"])
        if props.get("mode") == "slow":
            (Path(props["dir"]) / "started").write_text("1")
            deadline = time.monotonic() + 60
            while not (Path(props["dir"]) / "release").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        marker.write_text(props["name"])
        return dynamic.CreateResult(id_=props["name"], outs={"dir": props["dir"], "name": props["name"]})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        (Path(props["dir"]) / props["name"]).unlink(missing_ok=True)


class Marker(dynamic.Resource):
    def __init__(
        self, name: str, directory: str, mode: str = "ok", opts: pulumi.ResourceOptions | None = None
    ):
        super().__init__(MarkerProvider(), name, {"dir": directory, "name": name, "mode": mode}, opts)


def program() -> None:
    config = pulumi.Config("probe")
    directory = config.require("dir")
    mode = config.get("mode") or "ok"
    first = Marker("marker-a", directory)
    second = Marker("marker-b", directory, mode, pulumi.ResourceOptions(depends_on=[first]))
    token = config.require_secret("token")
    pulumi.export("label", config.get("label") or "none")
    pulumi.export("token_length", pulumi.Output.unsecret(token.apply(len)))
    pulumi.export("token", token)
    pulumi.export("markers", pulumi.Output.all(first.id, second.id))

"""Dynamic provider: the reference Studio Hub API as a background process on loopback.

`create` starts `python -m reference_app` detached (its own session, so it outlives the
provider process and `pulumi up`) and waits until GET /healthz answers 200. `delete` stops it.
A process that is no longer running (after a reboot, say) shows as an update in `pulumi
preview`, which starts it again. The database DSN (it carries a password) is a secret input;
the outputs hold the URL, the process id and the log path only.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ResourceProvider, UpdateResult

__all__ = ["ReferenceAppProcess", "ReferenceAppProcessArgs", "ReferenceAppProvider", "is_reference_app"]

_REPLACE_ON = ("port", "log_path")
_STOP_TIMEOUT_S = 10.0


def is_reference_app(pid: int | None, port: int) -> bool:
    """Whether `pid` is alive and is the reference app serving `port` (not a recycled pid)."""
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{int(pid)}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"reference_app" in cmdline and str(port).encode() in cmdline


def _start(props: dict[str, Any]) -> dict[str, Any]:
    from services.reference_app import ReferenceApp

    port = int(props["port"])
    if is_reference_app(props.get("pid"), port):
        return props_out(props, int(props["pid"]))
    Path(props["log_path"]).parent.mkdir(parents=True, exist_ok=True)
    app = ReferenceApp(props["dsn"], port, log_path=props["log_path"], python=props["python"])
    app.start()
    try:
        app.wait_ready(timeout_s=60)
    except Exception:
        app.stop()
        raise
    return props_out(props, app.pid)


def props_out(props: dict[str, Any], pid: int | None) -> dict[str, Any]:
    port = int(props["port"])
    return {
        "port": port,
        "url": f"http://127.0.0.1:{port}",
        "pid": pid,
        "log_path": props["log_path"],
        "python": props["python"],
    }


def _stop(pid: int | None, port: int) -> None:
    if not is_reference_app(pid, port):
        return
    os.killpg(int(pid), signal.SIGTERM)  # its own session: the uvicorn process group
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while time.monotonic() < deadline and is_reference_app(pid, port):
        time.sleep(0.1)
    if is_reference_app(pid, port):
        os.killpg(int(pid), signal.SIGKILL)


class ReferenceAppProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        outs = _start({**props, "pid": None})
        return CreateResult(id_=f"reference-app-{outs['port']}", outs=outs)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [key for key in _REPLACE_ON if str(olds.get(key)) != str(news.get(key))]
        stopped = not is_reference_app(olds.get("pid"), int(olds["port"]))
        return DiffResult(changes=bool(replaces) or stopped, replaces=replaces, delete_before_replace=True)

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_start({**news, "pid": olds.get("pid")}))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _stop(props.get("pid"), int(props["port"]))
        Path(props["log_path"]).unlink(missing_ok=True)


@dataclass
class ReferenceAppProcessArgs:
    port: pulumi.Input[int]
    dsn: pulumi.Input[str]
    """libpq DSN of the reference database (a secret)."""
    log_path: pulumi.Input[str]
    python: pulumi.Input[str]
    """The interpreter that runs the app: the project's virtualenv."""


class ReferenceAppProcess(pulumi.dynamic.Resource):
    url: pulumi.Output[str]
    pid: pulumi.Output[int]
    log_path: pulumi.Output[str]

    def __init__(self, name: str, args: ReferenceAppProcessArgs, opts: pulumi.ResourceOptions | None = None):
        props = {
            "port": args.port,
            "dsn": pulumi.Output.secret(args.dsn),
            "log_path": args.log_path,
            "python": args.python,
            "url": None,
            "pid": None,
        }
        super().__init__(ReferenceAppProvider(), name, props, opts)

"""Messages from the dynamic provider to `pulumi up`, shown live on the resource's row.

The engine starts each provider plugin with the address of its Engine gRPC service as the first
argument (`pulumi-resource-pulumi-python <address>` runs `python -m pulumi.dynamic <address>`),
but the Python SDK's dynamic-provider host does not connect to it, so `pulumi.log` inside a
dynamic provider goes nowhere (pulumi/pulumi#6065). `Engine.Log` with the resource's URN is what
native providers use: the CLI prints the message on the resource's row while it is still
creating, and again under Diagnostics at the end.

A display message must never fail a run: when there is no engine (unit tests, the CLI) or a
call fails, the message is dropped.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Sequence

import grpc
from pulumi.runtime.proto import engine_pb2, engine_pb2_grpc

__all__ = ["EngineLog", "engine_address"]

LOG_TIMEOUT_S = 5.0


def engine_address(argv: Sequence[str] | None = None) -> str | None:
    """The engine's host:port, given to this provider process as its first argument."""
    argv = sys.argv if argv is None else argv
    if len(argv) > 1 and argv[1].rpartition(":")[2].isdigit():
        return argv[1]
    return None


class EngineLog:
    """Info messages attached to one resource (`urn`)."""

    def __init__(self, address: str, urn: str) -> None:
        self.urn = urn
        self._channel = grpc.insecure_channel(address)
        self._engine = engine_pb2_grpc.EngineStub(self._channel)

    @classmethod
    def for_resource(cls, urn: str | None) -> EngineLog | None:
        address = engine_address()
        return cls(address, urn) if address and urn else None

    def info(self, message: str) -> None:
        request = engine_pb2.LogRequest(severity=engine_pb2.INFO, message=message, urn=self.urn)
        with contextlib.suppress(grpc.RpcError):  # the display is best effort; the run goes on
            self._engine.Log(request, timeout=LOG_TIMEOUT_S)

    def close(self) -> None:
        self._channel.close()

"""The engine's cancel request, as an event the provider's run can watch.

On the first Ctrl-C (or `pulumi cancel`, or SIGTERM to the update) the Pulumi engine calls the
`Cancel` RPC of every provider plugin and then waits for the operations in flight to finish.
The Python SDK's dynamic-provider host answers `Cancel` with an empty reply and does nothing
else (pulumi/dynamic/__main__.py), so a running load test would go on to its end. Its gRPC
handler is bound to the servicer's method when the host starts, before this module is
imported, so replacing the attribute would not reach it; the function's code object is what
the bound method runs, and that is what ``install`` swaps. The replacement only sets
``CANCEL_REQUESTED`` and answers as before.

``install`` is a no-op outside the dynamic-provider host (unit tests, the CLI) and says so by
returning False.
"""

from __future__ import annotations

import sys
import threading
from types import ModuleType

__all__ = ["CANCEL_REQUESTED", "install"]

# Set once the engine asked this provider process to cancel; it stays set: the update is ending.
CANCEL_REQUESTED = threading.Event()

_HOST_SERVICER = "DynamicResourceProviderServicer"


def _cancel(self, request, context):  # the servicer method's own signature
    # Runs with the dynamic-provider host's globals: import what it needs by name.
    from google.protobuf import empty_pb2

    from components.providers import engine_cancel

    engine_cancel.CANCEL_REQUESTED.set()
    return empty_pb2.Empty()


def install(host: ModuleType | None = None) -> bool:
    """Make the dynamic-provider host's `Cancel` set ``CANCEL_REQUESTED``; True when installed."""
    host = host if host is not None else sys.modules.get("__main__")
    servicer = getattr(host, _HOST_SERVICER, None)
    method = getattr(servicer, "Cancel", None)
    code = getattr(method, "__code__", None)
    if code is None:
        return False
    if code is not _cancel.__code__:
        method.__code__ = _cancel.__code__
    return True

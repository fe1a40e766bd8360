"""The engine's Cancel RPC reaches the run: the SDK's own dynamic-provider host, served over gRPC."""

from __future__ import annotations

import types
from concurrent import futures
from pathlib import Path

import grpc
import pulumi.dynamic
import pytest
from google.protobuf import empty_pb2
from pulumi.runtime.proto import provider_pb2_grpc

from components.providers import engine_cancel


def the_sdk_host() -> types.ModuleType:
    """pulumi/dynamic/__main__.py as the provider plugin runs it, without its final `main()`."""
    source = (Path(pulumi.dynamic.__file__).parent / "__main__.py").read_text()
    body, call = source.rstrip().rsplit("\n", 1)
    assert call.strip() == "main()", "the SDK's dynamic-provider host no longer ends with main()"
    host = types.ModuleType("pulumi_dynamic_host")
    exec(compile(body, "pulumi/dynamic/__main__.py", "exec"), host.__dict__)
    return host


@pytest.fixture
def cleared():
    engine_cancel.CANCEL_REQUESTED.clear()
    yield engine_cancel.CANCEL_REQUESTED
    engine_cancel.CANCEL_REQUESTED.clear()


def test_a_cancel_sent_to_a_host_started_before_the_install_sets_the_event(cleared):
    host = the_sdk_host()
    # As in the plugin: the servicer's handlers are bound when the server starts, long before the
    # provider's module is imported and the handler installed.
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(host.DynamicResourceProviderServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = provider_pb2_grpc.ResourceProviderStub(channel)
            stub.Cancel(empty_pb2.Empty(), timeout=10)
            assert not cleared.is_set()  # the SDK's own Cancel does nothing

            assert engine_cancel.install(host) is True
            assert engine_cancel.install(host) is True  # a second create installs nothing new
            assert isinstance(stub.Cancel(empty_pb2.Empty(), timeout=10), empty_pb2.Empty)
    finally:
        server.stop(0)
    assert cleared.is_set()


def test_outside_the_provider_host_nothing_is_installed(cleared):
    assert engine_cancel.install(types.ModuleType("pytest_main")) is False
    assert engine_cancel.install() is False  # this process's __main__ is pytest
    assert not cleared.is_set()

"""Shared pytest set-up.

Fixtures that start real servers live in `tests/fixtures/<server>.py`, one module per
server, and are registered here so every test directory can use them.

Locust patches the standard library for gevent when it is first imported. In this process
that patching would deadlock the Pulumi mock runtime (threads and gRPC) in the tests that run
after any Locust import, so pytest imports Locust once, unpatched; the Locust processes the
tests start (masters, workers) are new interpreters and patch themselves as usual.
"""

import os

os.environ["LOCUST_SKIP_MONKEY_PATCH"] = "1"
import locust  # noqa: F401  (imported unpatched, see above)

del os.environ["LOCUST_SKIP_MONKEY_PATCH"]

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.metrics_servers",
    "tests.fixtures.engine",
    "tests.fixtures.report_browser",
    "tests.fixtures.reference_app",
    "tests.fixtures.cluster_parts",
]


def pytest_collection_modifyitems(config, items) -> None:
    """The tests that need the cluster parts run last, in their usual order: scripts/test.sh
    builds those parts in the background meanwhile (tests/fixtures/cluster_parts.py)."""
    needs_parts = [item for item in items if "cluster_parts" in getattr(item, "fixturenames", ())]
    if needs_parts:
        others = [item for item in items if "cluster_parts" not in getattr(item, "fixturenames", ())]
        items[:] = others + needs_parts

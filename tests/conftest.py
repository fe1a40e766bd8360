"""Shared pytest set-up.

Fixtures that start real servers live in `tests/fixtures/<server>.py`, one module per
server, and are registered here so every test directory can use them.
"""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.metrics_servers",
    "tests.fixtures.engine",
    "tests.fixtures.report_browser",
]

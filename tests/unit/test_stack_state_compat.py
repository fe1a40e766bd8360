"""Stacks created before a refactoring keep working after it.

Pulumi stores every dynamic provider in the stack state as a dill pickle that names the
provider's class by module path, and unpickles it on each later preview, update and destroy.
The fixture holds the serialized providers of a real local stack created before `loadtests/`
and `components/fleet*` were split into subpackages; each must still load as the same
provider with the methods the engine calls.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dill
import pytest

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures/stack_state/providers_before_redesign.json"
PROVIDERS = json.loads(FIXTURE.read_text(encoding="utf-8"))["providers"]
# resource name -> (module, class) of its provider, under components.providers
EXPECTED = {
    "studio-hub-postgres": ("local_postgres", "LocalPostgresProvider"),
    "studio-hub-reference-app": ("reference_app_process", "ReferenceAppProvider"),
    "studio-hub-database-pg-trgm": ("postgres_extension", "PostgresExtensionProvider"),
    "studio-hub-database-readonly-role": ("postgres_readonly_role", "ReadonlyRoleProvider"),
    "studio-hub-database-index-migration": ("index_migration", "IndexMigrationProvider"),
    "load-test-run": ("loadtest_run", "LoadTestRunProvider"),
}


def test_the_fixture_holds_every_dynamic_resource_of_the_local_stack() -> None:
    assert set(PROVIDERS) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_provider_stored_before_the_move_loads_as_the_same_provider(name: str) -> None:
    provider = dill.loads(base64.b64decode(PROVIDERS[name]))
    module, cls = EXPECTED[name]
    assert (type(provider).__module__, type(provider).__name__) == (f"components.providers.{module}", cls)
    for method in ("create", "diff", "delete"):
        assert callable(getattr(provider, method, None)), f"{cls} lost {method}"

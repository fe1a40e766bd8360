"""components/database_check.py DatabaseCheck under Pulumi mocks: one read-only check, nothing else."""

from __future__ import annotations

import base64

import dill
import pulumi

from components.database_check import DatabaseCheck, DatabaseCheckArgs
from components.providers.index_check import IndexCheckProvider
from indexes.targets import MIGRATION_FILE
from tests.unit.pulumi_capture import capture, child_roles, is_secret, reveal

DSN = "host=db.internal port=5432 dbname=studiohub user=odavl password=admin-s3cret sslmode=require"


def test_the_check_is_the_only_child_and_its_dsn_stays_secret() -> None:
    resources, urns = capture(lambda: DatabaseCheck("db", DatabaseCheckArgs(dsn=pulumi.Output.secret(DSN))))
    assert child_roles(urns, "DatabaseCheck") == {"index-check"}
    [check] = [r for r in resources if r.name == "db-index-check"]
    assert is_secret(check.inputs["dsn"]) and reveal(check.inputs["dsn"]) == DSN
    assert check.inputs["migration_sql"] == MIGRATION_FILE.read_text(encoding="utf-8")
    pickled = base64.b64decode(reveal(check.inputs["__provider"]))
    assert isinstance(dill.loads(pickled), IndexCheckProvider)
    assert b"admin-s3cret" not in pickled  # the password is read in configure, never pickled
    # No role, extension or migration: nothing a destroy could drop.
    assert {r.typ for r in resources} == {"odavl:perf:DatabaseCheck", "pulumi-python:dynamic:Resource"}

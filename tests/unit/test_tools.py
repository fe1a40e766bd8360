"""tests/tools.py: a missing external tool fails the test that needs it, never skips it."""

from __future__ import annotations

import os
import stat

import pytest

from tests.tools import require_tool


def test_a_tool_on_the_path_is_found(tmp_path, monkeypatch):
    fake = tmp_path / "promtool"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert require_tool("promtool") == fake


def test_a_missing_tool_fails_naming_it_and_the_setup_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: nothing to find
    with pytest.raises(pytest.fail.Exception) as failed:
        require_tool("openssl")
    assert str(failed.value) == (
        "openssl is missing (the Debian package openssl): run `bash scripts/setup.sh` to install it"
    )
    assert not isinstance(failed.value, pytest.skip.Exception)


def test_an_unknown_tool_name_is_a_programming_error():
    with pytest.raises(KeyError, match="require_tool\\('promtol'\\): expected one of actionlint, chromium"):
        require_tool("promtol")


def test_a_file_that_is_not_executable_does_not_count(tmp_path, monkeypatch):
    (tmp_path / "promtool").write_text("not a program\n")
    os.chmod(tmp_path / "promtool", 0o644)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(pytest.fail.Exception, match="promtool is missing"):
        require_tool("promtool")

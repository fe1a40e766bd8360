"""loadtests/results/files.py: a file is replaced whole or not at all."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loadtests.results import files
from loadtests.results.files import write_atomically


def test_writes_text_and_bytes_creating_the_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "doc.json"
    assert write_atomically(target, "{}\n") == target
    assert target.read_text(encoding="utf-8") == "{}\n"
    write_atomically(target, "naïve".encode())
    assert target.read_bytes() == "naïve".encode()
    assert [p.name for p in target.parent.iterdir()] == ["doc.json"]  # no temporary file left


def test_the_file_is_readable_by_people_or_has_the_mode_asked_for(tmp_path: Path) -> None:
    write_atomically(tmp_path / "report.html", "<p>")
    assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644
    write_atomically(tmp_path / "private", "x", mode=0o600)
    assert (tmp_path / "private").stat().st_mode & 0o777 == 0o600


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "doc.json"
    target.write_text("old", encoding="utf-8")

    def refuse(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, "new")
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["doc.json"]

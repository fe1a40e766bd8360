"""The external programs the tests run, found where scripts/setup.sh installs them.

A missing tool fails the test that needs it, naming the tool and how to install it. It never
skips: a skipped check reads as a green run that checked nothing.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

__all__ = ["require_tool"]

ROOT = Path(__file__).resolve().parents[1]


def _go_bin(name: str) -> Path:
    return Path(os.environ.get("GOPATH", str(Path.home() / "go"))) / "bin" / name


# tool -> (places looked at before PATH, what provides it)
_TOOLS: dict[str, tuple[tuple[Path, ...], str]] = {
    "promtool": ((), "the Debian package prometheus"),
    "openssl": ((), "the Debian package openssl"),
    # The suite's browser users launch exactly this path (loadtests.suite.browser.driver.DEFAULT_CHROMIUM).
    "chromium": ((Path("/usr/bin/chromium"),), "the Debian package chromium"),
    # The virtualenv's copy is the version pinned in requirements.txt.
    "squawk": ((Path(sys.executable).parent / "squawk",), "squawk-cli from requirements.txt"),
    # setup.sh builds the pinned version into .cache/bin; a developer's `go install` goes to GOPATH.
    "actionlint": (
        (ROOT / ".cache" / "bin" / "actionlint", _go_bin("actionlint")),
        "actionlint v1.7.12 built from the Go module proxy",
    ),
}


def require_tool(name: str) -> Path:
    """The executable `name`, or a failure of the calling test that says how to install it."""
    if name not in _TOOLS:
        raise KeyError(f"require_tool({name!r}): expected one of {', '.join(sorted(_TOOLS))}")
    candidates, provider = _TOOLS[name]
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found is not None:
        return Path(found)
    pytest.fail(f"{name} is missing ({provider}): run `bash scripts/setup.sh` to install it", pytrace=False)

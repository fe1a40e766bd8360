"""Writing a file so that a reader sees the old content or the whole new one, never a part.

The one way the project replaces a file another process may be reading: results documents and
stored runs, the HTML report, the master's progress snapshot, the runner's control file.

It lives under `loadtests/` because the fleet's pods receive only that directory (the code
ConfigMap), and in `results/`, the bottom layer that the run, the suite and the Pulumi
providers already import.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

__all__ = ["write_atomically"]


def write_atomically(path: str | os.PathLike[str], data: str | bytes, *, mode: int = 0o644) -> Path:
    """Write `data` (text as UTF-8) to `path` through a temporary file and a rename; returns the path.

    The temporary file sits next to the target (the same file system, so the rename is atomic)
    and is named `.<name>.<random>.tmp`, a hidden name that directory listings of stored runs
    skip. Missing parent directories are created. The file gets `mode`: by default readable by
    everyone, since these files are reports for people (a bare temporary file would be 0600).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(payload)
        os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    return target

"""Shared shutdown of the throwaway servers the project starts on loopback."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import IO

__all__ = ["stop_server"]


def stop_server(
    process: subprocess.Popen[bytes] | None, log: IO[bytes] | None, directory: Path | None
) -> None:
    """Terminate the server (kill it if it lingers past 15 s), close its log, remove its directory."""
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
    if log is not None:
        log.close()
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)

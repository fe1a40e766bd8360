"""Start and stop the reference app (`python -m reference_app`) as a subprocess on loopback.

    with ReferenceApp(dsn, port=8080) as app:      # waits for GET /healthz == 200
        httpx.get(app.base_url + "/api/...")

CLI: `python -m services.reference_app --dsn DSN [--port 8080]` runs it in the foreground
until Ctrl-C/SIGTERM, after waiting for readiness.

The app gets a minimal environment (loadtests/run/child_env.py): PATH, HOME, locale, the DSN and
the STUDIOHUB_* values passed as `env`; nothing else of the parent's environment.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from loadtests.run.child_env import minimal_env
from services.errors import ServiceError
from services.postgres import free_port

__all__ = ["ReferenceApp", "ReferenceAppError"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


class ReferenceAppError(ServiceError):
    """The app did not start, or did not become ready in time; the message carries its log tail."""


class ReferenceApp:
    def __init__(
        self,
        dsn: str,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        env: dict[str, str] | None = None,
        log_path: str | Path | None = None,
        python: str = sys.executable,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ReferenceAppError(
                f"host {host!r} is not a loopback address; the reference app serves loopback only"
            )
        self.dsn = dsn
        self.host = host
        self.port = port or free_port()
        self.extra_env = dict(env or {})
        self.log_path = (
            Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="studiohub-", suffix=".log")[1])
        )
        self.python = python
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> ReferenceApp:
        if self._process and self._process.poll() is None:
            return self
        # Only what the app needs: the parent's secrets (passphrase, cloud keys) stay behind.
        env = minimal_env({**self.extra_env, "STUDIOHUB_DSN": self.dsn, "PYTHONUNBUFFERED": "1"})
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.python, "-m", "reference_app", "--host", self.host, "--port", str(self.port)],
                cwd=_REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout_s: float = 30.0, *, require_database: bool = True) -> None:
        """Poll /healthz until 200 (or, with require_database=False, until the app answers at all)."""
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise ReferenceAppError(f"the reference app exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.base_url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if not require_database:
                    return
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise ReferenceAppError(f"not ready after {timeout_s:g} s ({last}):\n{self.log_tail()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> ReferenceApp:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.reference_app", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--dsn", default=os.environ.get("STUDIOHUB_DSN"), help="libpq DSN (env STUDIOHUB_DSN)"
    )
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--log", help="log file (default: a temp file)")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("--dsn is required (or set STUDIOHUB_DSN)")
    app = ReferenceApp(args.dsn, args.port, log_path=args.log)
    stop_event = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop_event.set())
    try:
        app.start()
        app.wait_ready()
        print(f"reference app ready at {app.base_url} (log: {app.log_path})", flush=True)
        stop_event.wait()
    except ReferenceAppError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        app.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main())

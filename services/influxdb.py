"""A throwaway InfluxDB v1 server from the Debian package (influxd 1.6), on 127.0.0.1.

    with InfluxDBServer(database="loadtests") as influx:
        influx.write(["cpu value=1i"])
        influx.query("SELECT count(*) FROM http_reqs")

Meta, data and WAL directories live in a temporary directory; HTTP listens on a free loopback
port, the RPC bind address on another; usage reporting is off. `stop()` removes everything.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType

from services.errors import ServiceError
from services.process import stop_server

__all__ = ["InfluxDBError", "InfluxDBServer"]

INFLUXD_BIN = "influxd"


class InfluxDBError(ServiceError):
    """The server could not start, or a request failed; the message says why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_config(root: Path, http_port: int, rpc_port: int) -> str:
    return f"""reporting-disabled = true
bind-address = "127.0.0.1:{rpc_port}"

[meta]
  dir = "{root / "meta"}"

[data]
  dir = "{root / "data"}"
  wal-dir = "{root / "wal"}"
  query-log-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:{http_port}"
  log-enabled = false

[monitor]
  store-enabled = false
"""


class InfluxDBServer:
    def __init__(self, database: str = "loadtests", binary: str = INFLUXD_BIN) -> None:
        self.database = database
        self.binary = binary
        self.port = 0
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> InfluxDBServer:
        if shutil.which(self.binary) is None:
            raise InfluxDBError(f"{self.binary} is not installed (Debian package influxdb)")
        self.dir = Path(tempfile.mkdtemp(prefix="odavl-influxdb-"))
        self.port = _free_port()
        config = self.dir / "influxdb.conf"
        config.write_text(render_config(self.dir, self.port, _free_port()), encoding="utf-8")
        self._log = open(self.dir / "influxd.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [self.binary, "-config", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise InfluxDBError(f"influxd exited with code {self.process.returncode}: {self.log_tail()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/ping", timeout=1) as response,
            ):
                if response.status == 204:
                    break
            time.sleep(0.2)
        else:
            self.stop()
            raise InfluxDBError(f"influxd was not ready within {timeout_s} s")
        self.query(f'CREATE DATABASE "{self.database}"', method="POST")
        return self

    def reset(self) -> None:
        """Drop and recreate the database (a clean slate between tests)."""
        self.query(f'DROP DATABASE "{self.database}"', method="POST")
        self.query(f'CREATE DATABASE "{self.database}"', method="POST")

    def log_tail(self, n: int = 2000) -> str:
        if self.dir is None or not (self.dir / "influxd.log").exists():
            return ""
        return (self.dir / "influxd.log").read_text(errors="replace")[-n:]

    def query(self, influxql: str, method: str = "GET") -> list[dict]:
        """Run InfluxQL against the database; returns the `series` of the first statement."""
        params = urllib.parse.urlencode({"db": self.database, "q": influxql})
        url = f"{self.url}/query?{params}"
        request = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise InfluxDBError(f"query {influxql!r} failed: HTTP {exc.code} {exc.read()[:300]!r}") from None
        result = body["results"][0]
        if "error" in result:
            raise InfluxDBError(f"query {influxql!r} failed: {result['error']}")
        return result.get("series", [])

    def scalar(self, influxql: str) -> float | None:
        """The first value column of the first row, or None when there are no rows."""
        series = self.query(influxql)
        if not series:
            return None
        return series[0]["values"][0][1]

    def write(self, lines: list[str]) -> None:
        params = urllib.parse.urlencode({"db": self.database, "precision": "ns"})
        body = ("\n".join(lines) + "\n").encode()
        request = urllib.request.Request(f"{self.url}/write?{params}", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30):
                pass
        except urllib.error.HTTPError as exc:
            raise InfluxDBError(f"write failed: HTTP {exc.code} {exc.read()[:300]!r}") from None

    def stop(self) -> None:
        stop_server(self.process, self._log, self.dir)
        self.process, self._log, self.dir = None, None, None

    def __enter__(self) -> InfluxDBServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

"""A throwaway Prometheus server from the Debian package, on 127.0.0.1.

    with PrometheusServer(targets=["127.0.0.1:9646"], scrape_interval_s=1) as prom:
        prom.wait_for_target_up()
        prom.query("sum(http_reqs_total)")

The server keeps its TSDB in a temporary directory, listens on a free loopback port, and
scrapes the given targets (host:port, path /metrics) with `environment` set as a target
label (the label the dashboards filter on). `stop()` ends it and removes the directory.
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

__all__ = ["PrometheusError", "PrometheusServer"]

PROMETHEUS_BIN = "prometheus"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


class PrometheusError(ServiceError):
    """The server could not start, or a query failed; the message says why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render_config(targets: list[str], scrape_interval_s: float, environment: str) -> str:
    """prometheus.yml for one scrape job over `targets` (host:port)."""
    for target in targets:
        host = target.rsplit(":", 1)[0].strip("[]")
        if host not in _LOOPBACK:
            raise PrometheusError(f"scrape target {target!r} is not on a loopback address")
    interval = f"{max(int(scrape_interval_s * 1000), 100)}ms"
    lines = [
        "global:",
        f"  scrape_interval: {interval}",
        f"  evaluation_interval: {interval}",
        "scrape_configs:",
        "  - job_name: loadtests",
        "    static_configs:",
        f"      - targets: {json.dumps(targets)}",
        "        labels:",
        f"          environment: {json.dumps(environment)}",
    ]
    return "\n".join(lines) + "\n"


class PrometheusServer:
    def __init__(
        self,
        targets: list[str],
        scrape_interval_s: float = 1.0,
        environment: str = "local",
        binary: str = PROMETHEUS_BIN,
    ) -> None:
        self.targets = list(targets)
        self.scrape_interval_s = scrape_interval_s
        self.environment = environment
        self.binary = binary
        self.port = 0
        self.dir: Path | None = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 30.0) -> PrometheusServer:
        if shutil.which(self.binary) is None:
            raise PrometheusError(f"{self.binary} is not installed (Debian package prometheus)")
        self.dir = Path(tempfile.mkdtemp(prefix="odavl-prometheus-"))
        config = self.dir / "prometheus.yml"
        config.write_text(
            render_config(self.targets, self.scrape_interval_s, self.environment), encoding="utf-8"
        )
        self.port = _free_port()
        log = open(self.dir / "prometheus.log", "wb")  # noqa: SIM115 - closed with the process in stop()
        self._log = log
        self.process = subprocess.Popen(
            [
                self.binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=1h",
                "--web.enable-lifecycle",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PrometheusError(
                    f"prometheus exited with code {self.process.returncode}: {self.log_tail()}"
                )
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response,
            ):
                if response.status == 200:
                    return self
            time.sleep(0.2)
        self.stop()
        raise PrometheusError(f"prometheus was not ready within {timeout_s} s")

    def set_targets(self, targets: list[str], timeout_s: float = 10.0) -> None:
        """Scrape `targets` from now on (rewrites the configuration and reloads it)."""
        if self.dir is None:
            raise PrometheusError("set_targets() needs a started server")
        text = render_config(list(targets), self.scrape_interval_s, self.environment)
        (self.dir / "prometheus.yml").write_text(text, encoding="utf-8")
        request = urllib.request.Request(f"{self.url}/-/reload", data=b"", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s):
                pass
        except urllib.error.URLError as exc:
            raise PrometheusError(f"reload failed: {exc}") from None
        self.targets = list(targets)

    def log_tail(self, n: int = 2000) -> str:
        if self.dir is None or not (self.dir / "prometheus.log").exists():
            return ""
        return (self.dir / "prometheus.log").read_text(errors="replace")[-n:]

    def api(self, path: str, params: dict[str, str]) -> dict:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            raise PrometheusError(f"GET {path} failed: HTTP {exc.code} {exc.read()[:300]!r}") from None
        if body.get("status") != "success":
            raise PrometheusError(f"GET {path} failed: {body}")
        return body["data"]

    def query(self, promql: str) -> list[dict]:
        """Instant query; returns the result vector ([{"metric": {...}, "value": [ts, "v"]}])."""
        return self.api("query", {"query": promql})["result"]

    def query_value(self, promql: str) -> float | None:
        """The single value of an instant query, or None when it returns nothing."""
        result = self.query(promql)
        if not result:
            return None
        if len(result) != 1:
            raise PrometheusError(f"{promql!r} returned {len(result)} series, expected one")
        return float(result[0]["value"][1])

    def stop(self) -> None:
        stop_server(self.process, getattr(self, "_log", None), self.dir)
        self.process, self._log, self.dir = None, None, None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

"""CPU cost per request of the suite's hooks, measured in-process without a network.

Complements bench/locust_overhead.py (end-to-end, noisy on a shared machine): replays N
synthetic request events through the suite's request listener, then adds its exporters one
by one, timing CPU (process_time) per request; and the check path and the InfluxDB line
formatting (done later, in the export greenlet) separately. Compare the total with the CPU
a bare FastHttpUser spends per request (1 / its RPS per core from locust_overhead.py).

    python bench/locust_hook_cost.py [--requests 200000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from geventhttpclient.header import Headers  # noqa: E402

from loadtests.run.config import SuiteConfig  # noqa: E402
from loadtests.suite.export_influx import InfluxLineSink  # noqa: E402
from loadtests.suite.export_prometheus import PrometheusExporter  # noqa: E402
from loadtests.suite.listeners import SuiteState  # noqa: E402


class DiscardingWriter:
    """A LineWriter that drops the lines: the bench times their formatting, not a server."""

    def write(self, lines: list[str]) -> None:
        del lines


class FakeResponse:
    status_code = 200
    ttfb_ms = 1.2
    bytes_sent = 120
    # geventhttpclient's own header type, as a FastHttpUser's responses carry
    headers = Headers({"X-Db-Query-Duration": "1.5", "X-Db-Query-Name": "INSIGHT_ISSUES_RECENT_BY_ORG"})


def per_request_us(fn, n: int) -> float:
    start = time.process_time()
    for i in range(n):
        fn(i)
    return (time.process_time() - start) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    n = args.requests
    state = SuiteState(SuiteConfig(target="http://127.0.0.1:1"))
    response, context = FakeResponse(), {"group": "insight"}

    def request(i: int) -> None:
        state.on_request(
            "GET", "GET /api/insight/issues", 12.3 + i % 97, 900, response=response, context=context
        )

    def check(i: int) -> None:
        state.record_check("GET /api/insight/issues", "insight", True)

    rows = [("listener: HDR recording per endpoint/group/5 s bucket", per_request_us(request, n))]
    state.prometheus = PrometheusExporter()
    state.sinks = [state.prometheus]
    rows.append(("+ Prometheus counters and buckets", per_request_us(request, n)))
    state.influx = InfluxLineSink(DiscardingWriter(), run_id="bench", worker="worker-1", queue_size=n + 1)
    state.sinks.append(state.influx)
    rows.append(("+ InfluxDB queue (request path)", per_request_us(request, n)))
    rows.append(("check recorded (all sinks)", per_request_us(check, n)))
    state.influx.batch_size = n + 1
    queued = len(state.influx.queue)
    start = time.process_time()
    state.influx.flush_once()
    rows.append(("InfluxDB line formatting (export greenlet)", (time.process_time() - start) / queued * 1e6))
    total = rows[2][1] + rows[3][1] + rows[4][1]
    for label, us in rows:
        print(f"{label:52} {us:7.2f} us")
    print(f"{'total per request (request + check + formatting)':52} {total:7.2f} us")


if __name__ == "__main__":
    main()

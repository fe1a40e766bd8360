"""Instructions per request of the suite's hooks, counted by valgrind (callgrind).

CPU time on a shared machine moves with the other load; instruction counts do not. This
replays synthetic request events through the suite's listener like bench/locust_hook_cost.py
(a response with geventhttpclient's header type, the check each suite user records, the
InfluxDB formatting its export greenlet does later), once for N and once for 2N requests
under `valgrind --tool=callgrind`; the difference over N is the count per request, start-up
excluded. Each hook set is counted on its own:

    listener    HDR recording (collector), no exporter
    +prom       and the Prometheus exporter
    +influx     and the InfluxDB export (queueing, then formatting and a discarding writer)
    check       one check recorded with both exporters on

    python bench/locust_hook_instructions.py [--requests 5000] [--repo DIR]

--repo runs the replay against another checkout of the project (e.g. an exported older
commit), for a before/after comparison on the same machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

REPLAY = '''
import sys
sys.path.insert(0, {repo!r})
from geventhttpclient.header import Headers
from loadtests.run.config import SuiteConfig
from loadtests.suite.export_influx import InfluxLineSink
from loadtests.suite.export_prometheus import PrometheusExporter
from loadtests.suite.listeners import SuiteState


class DiscardingWriter:
    def write(self, lines):
        del lines


class Inner:
    def get_code(self):
        return 200


class Response:
    """What a FastHttpUser reports: status_code is a property reading the parser."""

    _response = Inner()
    _elapsed = 0.0012
    _sent_request = "GET /fast HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\n\\r\\n"
    _request = None
    headers = Headers({{"Server": "nginx", "Content-Length": "2"}})

    @property
    def status_code(self):
        return self._response.get_code()


n = {n}
hooks = {hooks!r}
state = SuiteState(SuiteConfig(target="http://127.0.0.1:1"))
if hooks in ("+prom", "+influx", "check"):
    state.prometheus = PrometheusExporter()
    state.sinks.append(state.prometheus)
if hooks in ("+influx", "check"):
    state.influx = InfluxLineSink(DiscardingWriter(), run_id="bench", worker="local", queue_size=n + 10)
    state.influx.batch_size = 1000
    state.sinks.append(state.influx)
response, context = Response(), {{"group": "probe"}}
on_request, record_check = state.on_request, state.record_check
if hooks == "check":
    for i in range(n):
        record_check("GET /fast", "probe", True)
else:
    for i in range(n):
        # the keywords Locust's request event passes
        on_request(
            request_type="GET", name="GET /fast", context=context, response=response, exception=None,
            start_time=1.0, url="http://127.0.0.1/fast", response_length=2,
            response_time=1.0 + (i % 997) * 0.0137,
        )
    if state.influx is not None:
        state.influx.flush_all(deadline_s=3600)
state.collector.fold_pending()
'''


def collected(repo: Path, hooks: str, n: int) -> int:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as script:
        script.write(REPLAY.format(repo=str(repo), n=n, hooks=hooks))
    try:
        run = subprocess.run(
            ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, script.name],
            capture_output=True,
            text=True,
            cwd=repo,
            # a fixed hash seed: dictionary layouts, and so the counts, repeat from run to run
            env={**os.environ, "PYTHONHASHSEED": "0"},
            timeout=3600,
        )
    finally:
        Path(script.name).unlink()
    match = re.search(r"Collected : (\d+)", run.stderr)
    if run.returncode != 0 or match is None:
        sys.exit(f"the replay ({hooks}) failed under valgrind:\n{run.stderr[-3000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description="instructions per request of the suite's hooks")
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="the checkout to replay (default: this)")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("needs valgrind (the Debian package valgrind)")
    n = args.requests
    counts = {}
    for hooks in ("listener", "+prom", "+influx", "check"):
        counts[hooks] = (collected(args.repo, hooks, 2 * n) - collected(args.repo, hooks, n)) / n
        print(f"{hooks:10} {counts[hooks]:9.0f} instructions per request", flush=True)
    print(f"{'total':10} {counts['+influx'] + counts['check']:9.0f} (all hooks on a request and its check)")


if __name__ == "__main__":
    main()

"""Benchmark: CPU and memory cost of one browser user (headless Chromium measuring web vitals).

Runs the real browser user machinery (loadtests.suite.browser.user.BrowserProcess: the driver child
process, Playwright's driver, Chromium and its renderers) against a page on loopback, side by
side with a plain HTTP client fetching the same page, and reports:

- CPU per page visit: CPU time of the browser user's whole process tree, from the kernel's
  accounting of reaped children (getrusage(RUSAGE_CHILDREN)), minus the cost of a browser that is
  started and closed without visits (measured in the same run); cross-checked by sampling the live
  process tree with psutil;
- memory: the tree's proportional set size (PSS, shared pages split between the processes that
  share them) and resident set size (RSS, shared pages counted in each process) while idle and at
  the peak of the visits;
- the same page fetched with geventhttpclient (what Locust's FastHttpUser uses): CPU per request,
  and how many such requests one browser visit costs;
- sizing at the suite's think time: the share of one core a browser user keeps busy and how many
  browser users one core and one GiB carry.

Usage:
    python bench/browser_user_cost.py [--visits 20] [--url http://127.0.0.1:8080/dashboard]
                                      [--selector button] [--ready-selector img.hero]
                                      [--json reports/browser_user_cost.json]

Without --url, a built-in dashboard-like page (a table of 50 rows, an SVG chart, a button) is
served on 127.0.0.1. Only loopback URLs are accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gevent  # noqa: E402 - after the path set-up, like every bench script
import psutil  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402

from loadtests.suite.browser.driver import BrowserOptions  # noqa: E402
from loadtests.suite.browser.user import BrowserProcess  # noqa: E402

SAMPLE_INTERVAL_S = 0.1
MEAN_THINK_TIME_S = 3.5  # the suite's think time is uniform over 1-6 s
HTTP_REQUESTS_PER_VISIT_SAMPLE = 200
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def dashboard_page() -> bytes:
    rows = "".join(
        f"<tr><td>Project {i}</td><td>{(i * 37) % 100}%</td><td>{(i * 13) % 9} open</td></tr>"
        for i in range(50)
    )
    bars = "".join(
        f'<rect x="{i * 22}" y="{200 - (i * 29) % 180}" width="18" height="{(i * 29) % 180}"></rect>'
        for i in range(30)
    )
    return (
        "<!doctype html><html><head><title>Dashboard</title><style>body{font-family:sans-serif}"
        "table{border-collapse:collapse}td{padding:4px 8px;border-bottom:1px solid #ddd}</style></head>"
        "<body><h1>Studio Hub overview</h1><button id='refresh'>Refresh</button>"
        f"<svg width='660' height='200'>{bars}</svg><table>{rows}</table>"
        "<script>document.getElementById('refresh').addEventListener('click', () => {"
        "document.querySelectorAll('td:nth-child(2)').forEach(td => td.textContent = td.textContent);});"
        "</script></body></html>"
    ).encode()


class PageServer:
    """The built-in page on 127.0.0.1 (a thread; gevent-cooperative once Locust is imported)."""

    def __init__(self) -> None:
        body = dashboard_page()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                if self.path.split("?")[0] != "/dashboard":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/dashboard"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def become_subreaper() -> None:
    """Adopt every orphaned descendant, so its CPU time is accounted to this process when reaped.

    Chromium and Playwright's driver do not always wait for their own children (and the browser
    user ends its session with SIGKILL after closing); without this, such processes are reaped by
    init and their CPU time never reaches getrusage(RUSAGE_CHILDREN) here.
    """
    import ctypes

    pr_set_child_subreaper = 36
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap_adopted() -> None:
    """Reap adopted descendants that have exited, so their CPU time is accounted."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def children_cpu_s() -> float:
    reap_adopted()
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@dataclass
class TreeSample:
    pss_bytes: int
    rss_bytes: int
    processes: int


class TreeSampler:
    """Samples the memory and CPU of a process and all its descendants, in a greenlet."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.samples: list[TreeSample] = []
        self.cpu_by_pid: dict[tuple[int, float], float] = {}
        self._greenlet: gevent.Greenlet | None = None

    def sample(self) -> TreeSample:
        pss = rss = count = 0
        try:
            processes = [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return TreeSample(0, 0, 0)
        for proc in processes:
            try:
                with proc.oneshot():
                    info = proc.memory_full_info()
                    cpu = proc.cpu_times()
                    key = (proc.pid, proc.create_time())
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
            pss += getattr(info, "pss", info.rss)
            rss += info.rss
            count += 1
            self.cpu_by_pid[key] = cpu.user + cpu.system
        taken = TreeSample(pss, rss, count)
        self.samples.append(taken)
        return taken

    def start(self) -> None:
        def loop() -> None:
            while True:
                self.sample()
                gevent.sleep(SAMPLE_INTERVAL_S)

        self._greenlet = gevent.spawn(loop)

    def stop(self) -> None:
        if self._greenlet is not None:
            self._greenlet.kill(block=True, timeout=5)
            self._greenlet = None
        self.sample()

    def sampled_cpu_s(self) -> float:
        """CPU of every process seen, at its last sample (misses a process's last < 0.1 s)."""
        return sum(self.cpu_by_pid.values())


@dataclass
class BrowserRun:
    visits: int
    failed_visits: int
    cpu_s: float
    sampled_cpu_s: float
    wall_s: float
    visit_wall_ms: float
    idle_pss_mib: float
    idle_rss_mib: float
    peak_pss_mib: float
    peak_rss_mib: float
    peak_processes: int
    lcp_ms_median: float | None


def run_browser(url: str, selector: str, visits: int, ready_selector: str | None = None) -> BrowserRun:
    host = urlsplit(url).hostname or ""
    browser = BrowserProcess(BrowserOptions(allowed_hosts=(host,)))
    cpu_before = children_cpu_s()
    started = time.perf_counter()
    browser.start()
    sampler = TreeSampler(browser.pid)
    gevent.sleep(0.5)  # let the just-started browser finish its own start-up before the idle sample
    idle = sampler.sample()
    sampler.start()
    walls, lcps, failed = [], [], 0
    try:
        for _ in range(visits):
            outcome = browser.visit(url, selector, timeout_s=30, ready_selector=ready_selector)
            if outcome.error:
                failed += 1
                print(f"  visit failed: {outcome.error}", file=sys.stderr)
                continue
            walls.append(outcome.elapsed_ms)
            if outcome.vitals.lcp_ms is not None:
                lcps.append(outcome.vitals.lcp_ms)
    finally:
        sampler.stop()
        browser.close()
    wall_s = time.perf_counter() - started
    mib = 1024 * 1024
    return BrowserRun(
        visits=visits,
        failed_visits=failed,
        cpu_s=children_cpu_s() - cpu_before,
        sampled_cpu_s=sampler.sampled_cpu_s(),
        wall_s=wall_s,
        visit_wall_ms=statistics.fmean(walls) if walls else 0.0,
        idle_pss_mib=idle.pss_bytes / mib,
        idle_rss_mib=idle.rss_bytes / mib,
        peak_pss_mib=max(s.pss_bytes for s in sampler.samples) / mib,
        peak_rss_mib=max(s.rss_bytes for s in sampler.samples) / mib,
        peak_processes=max(s.processes for s in sampler.samples),
        lcp_ms_median=statistics.median(lcps) if lcps else None,
    )


def http_cpu_per_request_s(url: str, requests: int) -> float:
    """CPU of this process per GET of the page with geventhttpclient (FastHttpUser's client)."""
    parts = urlsplit(url)
    client = HTTPClient(parts.hostname, parts.port or 80, concurrency=1)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    try:
        client.get(path).read()  # connection set-up outside the measurement
        before = time.process_time()
        for _ in range(requests):
            response = client.get(path)
            response.read()
            if response.status_code != 200:
                raise SystemExit(f"{url} answered HTTP {response.status_code}")
        return (time.process_time() - before) / requests
    finally:
        client.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--visits", type=int, default=20, help="page visits of the measured browser (1-500)")
    parser.add_argument("--url", help="page to visit (loopback only); default: a built-in page")
    parser.add_argument("--selector", default="button", help="what the browser user clicks")
    parser.add_argument("--ready-selector", help="the page's main content, waited for before the click")
    parser.add_argument("--json", dest="json_path", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    if not 1 <= args.visits <= 500:
        parser.error(f"--visits {args.visits}: expected 1 to 500")
    become_subreaper()
    server = None
    url = args.url
    if url is None:
        server = PageServer()
        url = server.url
    elif urlsplit(url).hostname not in LOOPBACK:
        parser.error(f"--url {url}: only loopback hosts ({', '.join(LOOPBACK)}) are allowed")
    try:
        print(f"page: {url}")
        start_only = run_browser(url, args.selector, visits=0)
        measured = run_browser(url, args.selector, args.visits, args.ready_selector)
        http_cpu_s = http_cpu_per_request_s(url, HTTP_REQUESTS_PER_VISIT_SAMPLE)
    finally:
        if server is not None:
            server.close()

    ok_visits = measured.visits - measured.failed_visits
    if ok_visits == 0:
        print("no visit succeeded; nothing to report", file=sys.stderr)
        return 1
    cpu_per_visit_s = max(measured.cpu_s - start_only.cpu_s, 0.0) / ok_visits
    sampled_per_visit_s = max(measured.sampled_cpu_s - start_only.sampled_cpu_s, 0.0) / ok_visits
    cycle_s = measured.visit_wall_ms / 1000 + MEAN_THINK_TIME_S
    core_share = cpu_per_visit_s / cycle_s
    figures = {
        "page": url,
        "visits": measured.visits,
        "failed_visits": measured.failed_visits,
        "cpu_ms_per_visit": round(cpu_per_visit_s * 1000, 1),
        "cpu_ms_per_visit_sampled": round(sampled_per_visit_s * 1000, 1),
        "cpu_ms_browser_start_and_close": round(start_only.cpu_s * 1000, 1),
        "visit_wall_ms_mean": round(measured.visit_wall_ms, 1),
        "lcp_ms_median": measured.lcp_ms_median,
        "idle_pss_mib": round(measured.idle_pss_mib, 1),
        "idle_rss_mib": round(measured.idle_rss_mib, 1),
        "peak_pss_mib": round(measured.peak_pss_mib, 1),
        "peak_rss_mib": round(measured.peak_rss_mib, 1),
        "peak_processes": measured.peak_processes,
        "http_cpu_ms_per_request": round(http_cpu_s * 1000, 3),
        "http_requests_per_browser_visit_cpu": round(cpu_per_visit_s / http_cpu_s, 1) if http_cpu_s else None,
        "mean_think_time_s": MEAN_THINK_TIME_S,
        "core_share_per_browser_user": round(core_share, 4),
        "browser_users_per_core": round(1 / core_share, 1) if core_share else None,
        "browser_users_per_gib": round(1024 / measured.peak_pss_mib, 1) if measured.peak_pss_mib else None,
        "runs": {"start_only": asdict(start_only), "measured": asdict(measured)},
        "cpu_count": os.cpu_count(),
    }
    f = figures
    print(f"visits: {ok_visits} ok, {measured.failed_visits} failed; mean visit {f['visit_wall_ms_mean']} ms")
    print(
        f"CPU per visit: {figures['cpu_ms_per_visit']} ms (kernel accounting), "
        f"{figures['cpu_ms_per_visit_sampled']} ms (sampled); browser start+close "
        f"{figures['cpu_ms_browser_start_and_close']} ms"
    )
    print(
        f"memory: idle PSS {figures['idle_pss_mib']} MiB (RSS {figures['idle_rss_mib']}), "
        f"peak PSS {figures['peak_pss_mib']} MiB (RSS {figures['peak_rss_mib']}), "
        f"up to {figures['peak_processes']} processes"
    )
    print(
        f"one HTTP GET of the page (geventhttpclient): {figures['http_cpu_ms_per_request']} ms CPU; "
        f"one browser visit = {figures['http_requests_per_browser_visit_cpu']} such requests"
    )
    print(
        f"at {MEAN_THINK_TIME_S} s mean think time: {f['core_share_per_browser_user']:.1%} of a core per "
        f"browser user, ~{f['browser_users_per_core']} per core, ~{f['browser_users_per_gib']} per GiB"
    )
    if args.json_path:
        path = Path(args.json_path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
        print(f"figures written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

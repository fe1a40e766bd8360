"""A small HTTP/1.1 server with a known latency distribution and an injected error rate.

Used by the known-answer test and the benchmarks as the load target (loopback only):

    GET /probe   delay and status fixed by the request's arrival number n (slot = n mod 100):
                 rank = 37 * slot mod 100 (a permutation of 0..99);
                 rank < 90 -> 10 + rank ms, 90 <= rank < 98 -> 1500 ms, rank >= 98 -> 3000 ms;
                 status 500 when 13 * slot mod 20 == 3 (5 % of requests), else 200.
                 Over whole cycles: p95 = 1500 ms, p99 = 3000 ms, error rate = 5 %.
    GET /fast    200 at once, a 2-byte body (benchmarks)
    GET /stats   {"probe": served, "probe_errors": 500s sent, "fast": served}

Run: python bench/locust_target_server.py --port 8091 (prints "ready <port>" once listening).
"""

from __future__ import annotations

import argparse
import asyncio
import json

PROBE_P95_MS = 1500.0
PROBE_P99_MS = 3000.0
PROBE_ERROR_SHARE = 0.05


def probe_plan(n: int) -> tuple[float, int]:
    """(delay in ms, status) of the n-th probe request (0-based)."""
    slot = n % 100
    rank = (37 * slot) % 100
    if rank < 90:
        delay = 10.0 + rank
    elif rank < 98:
        delay = PROBE_P95_MS
    else:
        delay = PROBE_P99_MS
    status = 500 if (13 * slot) % 20 == 3 else 200
    return delay, status


class TargetServer:
    def __init__(self) -> None:
        self.probe = 0
        self.probe_errors = 0
        self.fast = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    break
                length = 0
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value.strip())
                if length:
                    await reader.readexactly(length)
                parts = request_line.split()
                path = parts[1].decode() if len(parts) > 1 else "/"
                status, body = await self.route(path)
                reason = {200: "OK", 404: "Not Found", 500: "Internal Server Error"}[status]
                writer.write(
                    f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nX-Db-Query-Duration: 1.5\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def route(self, path: str) -> tuple[int, bytes]:
        if path.startswith("/fast"):
            self.fast += 1
            return 200, b"ok"
        if path.startswith("/probe"):
            delay, status = probe_plan(self.probe)
            self.probe += 1
            await asyncio.sleep(delay / 1000.0)
            if status == 500:
                self.probe_errors += 1
                return 500, b'{"error": "injected"}'
            return 200, b'{"ok": true}'
        if path.startswith("/stats"):
            stats = {"probe": self.probe, "probe_errors": self.probe_errors, "fast": self.fast}
            return 200, json.dumps(stats).encode()
        return 404, b"{}"


async def serve(host: str, port: int) -> None:
    target = TargetServer()
    server = await asyncio.start_server(target.handle, host, port, backlog=1024)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        parser.error("--host must be a loopback address")
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()

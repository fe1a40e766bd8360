"""Run the reference app: `python -m reference_app --port 8080` (configuration: STUDIOHUB_*).

Listens on 127.0.0.1 unless --host says otherwise; logs JSON lines to stdout.
"""

from __future__ import annotations

import argparse
import os
import sys

import uvicorn

from reference_app.app import create_app
from reference_app.config import AppConfig, ConfigError
from reference_app.observability import configure_logging


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reference_app", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("STUDIOHUB_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("STUDIOHUB_PORT", "8080")))
    parser.add_argument("--dsn", help="libpq DSN (default: STUDIOHUB_DSN)")
    parser.add_argument("--log-level", default=os.environ.get("STUDIOHUB_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    env = dict(os.environ)
    if args.dsn:
        env["STUDIOHUB_DSN"] = args.dsn
    try:
        config = AppConfig.from_env(env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not 1 <= args.port <= 65535:
        print(f"error: --port {args.port} must be from 1 to 65535", file=sys.stderr)
        return 2
    configure_logging(args.log_level.upper())
    uvicorn.run(
        create_app(config),
        host=args.host,
        port=args.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

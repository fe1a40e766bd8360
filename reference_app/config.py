"""Service configuration from environment variables (STUDIOHUB_*), validated once."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["AppConfig", "ConfigError"]


class ConfigError(ValueError):
    """One or more STUDIOHUB_* variables are invalid; the message lists each."""


@dataclass(frozen=True)
class AppConfig:
    dsn: str
    # The specification's pool baseline: min 5, max 20, idle timeout 30 s.
    pool_min_size: int = 5
    pool_max_size: int = 20
    pool_max_idle_s: float = 30.0
    # How long a request may queue for a connection under load before it answers 503.
    pool_timeout_s: float = 2.0
    # How long it waits while the database is known to be down (the 503 comes within 1 s).
    outage_timeout_s: float = 0.5
    statement_timeout_ms: int = 5000
    session_ttl_s: int = 8 * 3600
    slow_dashboard_delay_ms: int = 1500
    # A deliberately slower build: extra milliseconds before every /api/ request (0: off).
    extra_latency_ms: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> AppConfig:
        env = os.environ if env is None else env
        problems: list[str] = []

        def number(name: str, default: float, low: float, high: float, kind: type = int) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = kind(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not a {'whole ' if kind is int else ''}number")
                return default
            if not low <= value <= high:
                problems.append(f"{name}={raw!r} must be from {low} to {high}")
            return value

        dsn = env.get("STUDIOHUB_DSN", "")
        if not dsn:
            problems.append("STUDIOHUB_DSN is required (a libpq connection string or postgresql:// URL)")
        config = cls(
            dsn=dsn,
            pool_min_size=int(number("STUDIOHUB_POOL_MIN_SIZE", cls.pool_min_size, 0, 200)),
            pool_max_size=int(number("STUDIOHUB_POOL_MAX_SIZE", cls.pool_max_size, 1, 200)),
            pool_max_idle_s=number("STUDIOHUB_POOL_MAX_IDLE_S", cls.pool_max_idle_s, 1, 86400, float),
            pool_timeout_s=number("STUDIOHUB_POOL_TIMEOUT_S", cls.pool_timeout_s, 0.1, 60, float),
            outage_timeout_s=number("STUDIOHUB_OUTAGE_TIMEOUT_S", cls.outage_timeout_s, 0.1, 0.9, float),
            statement_timeout_ms=int(
                number("STUDIOHUB_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms, 1, 600000)
            ),
            session_ttl_s=int(number("STUDIOHUB_SESSION_TTL_S", cls.session_ttl_s, 60, 30 * 86400)),
            slow_dashboard_delay_ms=int(number("STUDIOHUB_SLOW_DASHBOARD_DELAY_MS", 1500, 0, 10000)),
            extra_latency_ms=int(number("STUDIOHUB_EXTRA_LATENCY_MS", 0, 0, 10000)),
        )
        if config.pool_min_size > config.pool_max_size:
            problems.append(
                f"STUDIOHUB_POOL_MIN_SIZE={config.pool_min_size} exceeds "
                f"STUDIOHUB_POOL_MAX_SIZE={config.pool_max_size}"
            )
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))
        return config

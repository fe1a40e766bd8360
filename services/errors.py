"""Errors of the local servers; each says which server, what failed and what to change.

ServiceError (a RuntimeError)
 +-- PostgresError       services/postgres.py
 +-- PrometheusError     services/prometheus.py
 +-- InfluxDBError       services/influxdb.py
 +-- ReferenceAppError   services/reference_app.py
"""

from __future__ import annotations

__all__ = ["ServiceError"]


class ServiceError(RuntimeError):
    """A local server could not be installed, started, reached or stopped."""

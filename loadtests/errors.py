"""Errors raised by the load-test suite.

LoadTestError                 base class; the CLI prints its message, never a traceback
├── ConfigError               a run setting has a bad value (names the key, value and expected form)
│   └── TargetNotAllowedError the target host is not in the allowed list
├── ResultsError              a results document does not match its schema
└── RunError                  the master or its workers could not be started or died
"""

from __future__ import annotations

__all__ = ["ConfigError", "LoadTestError", "ResultsError", "RunError", "TargetNotAllowedError"]


class LoadTestError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(LoadTestError):
    """A run setting has a bad value."""


class TargetNotAllowedError(ConfigError):
    """The target URL points at a host the run may not load."""


class ResultsError(LoadTestError):
    """A results document is invalid."""


class RunError(LoadTestError):
    """The local fleet could not run."""

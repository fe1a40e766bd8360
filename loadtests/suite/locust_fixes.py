"""Work-arounds for Locust behaviour that distorts the suite's measurements.

`cache_default_args()`: a Locust worker (2.47) handling a "spawn" message from the master keeps
the options that are not Locust's defaults, testing each of the ~60 options it received with
`k not in argument_parser.default_args_dict()`; every such call builds and parses a fresh
argument parser (2-3 ms). So each spawn message blocks the worker's event loop for 100 ms or
more, and the master sends one every second of a ramp (each change of the user count). Every
response that arrives meanwhile is timed up to that much too late, and the generator-health
sampler (loadtests/suite/health.py) sees a 100 ms event-loop lag on a worker that is otherwise
idle. The defaults are the same on every call in a process, so the first call's answer is kept.
"""

from __future__ import annotations

import functools

from locust import argument_parser

__all__ = ["cache_default_args"]


def cache_default_args() -> None:
    """Answer `locust.argument_parser.default_args_dict()` from the first call's result.

    Idempotent. The callers only read the dict (membership tests), so sharing one is safe.
    """
    current = argument_parser.default_args_dict
    if getattr(current, "cache_info", None) is not None:
        return
    argument_parser.default_args_dict = functools.cache(current)

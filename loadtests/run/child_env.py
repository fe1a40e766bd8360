"""The environment of the processes the project starts: minimal and explicit, never inherited.

The parent (a shell, CI, `pulumi up`) may hold the stack's passphrase
(PULUMI_CONFIG_PASSPHRASE), cloud keys (AWS_*), tokens and the like; a Locust worker or the
reference app needs none of them, and whatever a child holds can leak through its logs, a
crash dump or /proc/<pid>/environ. So a child gets the few variables any process needs
(`BASE_VARIABLES`, taken from the parent when set), the ones its caller names (`passthrough`,
also from the parent) and the values its caller sets (`values`), and nothing else.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

__all__ = ["BASE_VARIABLES", "minimal_env"]

# Finding programs, a home for caches, text encoding and locale, time zone, temp directory.
BASE_VARIABLES = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR")


def minimal_env(
    values: Mapping[str, str],
    *,
    passthrough: Iterable[str] = (),
    parent: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """BASE_VARIABLES and `passthrough` copied from `parent` (os.environ) when set, then `values`."""
    source = os.environ if parent is None else parent
    env = {name: source[name] for name in (*BASE_VARIABLES, *passthrough) if name in source}
    env.update(values)
    return env

"""Process exit codes of `python -m loadtests` and of the gate, in one place.

0   PASS            the SLO gate passed (warnings allowed)
99  SLO_BREACHED    a threshold failed, had no data, or the run was aborted by abortOnFail
                    (99 is k6's code for crossed thresholds, so CI scripts written for k6 keep working)
2   COULD_NOT_RUN   the test itself could not run or finish: bad input or configuration, results
                    missing or invalid, the runner failed or was interrupted, nothing was measured
3   NO_VERDICT      the run ended but its load generators were saturated (verdict "no-verdict",
                    loadtests/results/generators.py): its figures measure the generators as much
                    as the target, so neither pass nor fail is given unless saturation is accepted
                    (`--accept-saturated-generators`, `odavl-perf:sloAcceptSaturatedGenerators`)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["COULD_NOT_RUN", "NO_VERDICT", "PASS", "SLO_BREACHED", "exit_code_for"]

PASS = 0
SLO_BREACHED = 99
COULD_NOT_RUN = 2
NO_VERDICT = 3


def exit_code_for(verdict: str | None, results_doc: Mapping[str, Any] | None) -> int:
    """The exit code for a judged run, from its gate verdict and its results document.

    A run whose status is "failed" or "interrupted", or that measured no request at all, could
    not run (its partial statistics prove nothing); a "no-verdict" (saturated generators) is
    neither a pass nor a breach, even for an aborted run; otherwise an "aborted" run was stopped
    by the gate and so breached the SLO.
    """
    if results_doc is None or verdict is None:
        return COULD_NOT_RUN
    status = results_doc.get("status")
    if status in ("failed", "interrupted"):
        return COULD_NOT_RUN
    if verdict == "no-verdict":
        return NO_VERDICT
    if status == "aborted":
        return SLO_BREACHED
    if _nothing_measured(results_doc):
        return COULD_NOT_RUN
    if verdict in ("pass", "warn"):
        return PASS
    if verdict in ("fail", "no-data"):
        return SLO_BREACHED
    return COULD_NOT_RUN


def _nothing_measured(results_doc: Mapping[str, Any]) -> bool:
    metrics = results_doc.get("metrics") or {}
    requests = metrics.get("http_reqs") or {}
    durations = metrics.get("http_req_duration") or {}
    return not requests.get("count") and not durations.get("count")

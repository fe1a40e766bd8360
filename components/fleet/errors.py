"""The errors of the load-generator fleet: starting, awaiting and reaching the Kubernetes Jobs.

Every one is a load-test error (the CLI and LoadTestRun report its message, never a traceback)::

    LoadTestError (loadtests/errors.py)
     └── FleetError             the Kubernetes fleet could not run
          ├── FleetStartError   a Job could not be created; nothing of the run is left running
          ├── FleetApiError     a Kubernetes API request failed: an unexpected status, or the
          │                     API server is unreachable (names the operation and the object)
          └── KubeconfigError   the kubeconfig or the pod's service account cannot be used
                                (names the file and the context)
"""

from __future__ import annotations

from loadtests.errors import LoadTestError

__all__ = ["FleetApiError", "FleetError", "FleetStartError", "KubeconfigError"]


class FleetError(LoadTestError):
    """Base class of the fleet controller's errors."""


class FleetStartError(FleetError):
    """A Job of the fleet could not be created; nothing of the run is left running."""


class FleetApiError(FleetError):
    """A Kubernetes API request failed: an unexpected HTTP status, or the API server is unreachable."""


class KubeconfigError(FleetError):
    """The kubeconfig or service account cannot be used (missing context, failed exec plugin, ...)."""

"""The errors of the load-generator fleet: starting, awaiting and reaching the Kubernetes Jobs.

Every one is a load-test error (the CLI and LoadTestRun report its message, never a traceback)::

    LoadTestError (loadtests/errors.py)
     └── FleetError             the Kubernetes fleet could not run
          ├── FleetStartError   a Job could not be created; nothing of the run is left running
          ├── FleetApiError     the Kubernetes API answered with an unexpected status
          └── KubeconfigError   the kubeconfig lacks what the controller needs (names the entry)
"""

from __future__ import annotations

from loadtests.errors import LoadTestError

__all__ = ["FleetApiError", "FleetError", "FleetStartError", "KubeconfigError"]


class FleetError(LoadTestError):
    """Base class of the fleet controller's errors."""


class FleetStartError(FleetError):
    """A Job of the fleet could not be created; nothing of the run is left running."""


class FleetApiError(FleetError):
    """The Kubernetes API answered with an unexpected status."""


class KubeconfigError(FleetError):
    """The kubeconfig lacks what the fleet controller needs; the message names the entry."""

"""The root of every error the load-test code raises on purpose, and the errors shared by its packages.

The whole tree (the root and the shared errors here; each package's own errors where named):

LoadTestError                      base class; the CLI prints its message, never a traceback
├── ConfigError                    a run setting has a bad value (names the key, value and expected form)
│   └── TargetNotAllowedError      the target host is not in the allowed list
├── ResultsError                   a results document is missing, unreadable or off its schema
├── RunError                       the master or its workers could not be started or died
├── SloError                       loadtests/slo/spec.py
│   └── ThresholdSpecError         a threshold line does not parse (line, column, expected form)
├── BaselineError                  loadtests/results/archive.py: no usable baseline run
│   └── RunNotFoundError
├── EndpointBaselineError          loadtests/results/endpoint_baselines.py
├── AnalysisError                  loadtests/analysis/errors.py
│   └── StatementsUnavailable      pg_stat_statements cannot be read
├── NotifyError                    loadtests/publish/notify.py
│   ├── NotifyConfigError
│   └── DeliveryError
├── DriverError, BrowserError      loadtests/suite/browser/: the browser could not be driven
├── PipelineError                  loadtests/pipeline.py: the test could not run, no verdict
│   └── LoadTestRunError           components/providers/loadtest_run.py
└── FleetError                     components/fleet/errors.py: the Kubernetes fleet
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

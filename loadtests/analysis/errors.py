"""Errors of the analysis, and where the other errors an analysis can meet come from.

Exceptions::

    LoadTestError (loadtests/errors.py)       the CLI prints its message, never a traceback
     ├── ResultsError (loadtests/results/document.py)
     │                                         the results file is missing, not JSON or not a
     │                                         results document
     ├── SloError (loadtests/slo/spec.py)
     │    └── ThresholdSpecError              an SLO threshold line does not parse (line, column)
     └── AnalysisError                         the analysis cannot do what was asked; the message
          │                                    says why and what to change
          └── StatementsUnavailable            the database does not expose pg_stat_statements
                                               (extension or preload missing)
"""

from __future__ import annotations

from loadtests.errors import LoadTestError

__all__ = ["AnalysisError", "StatementsUnavailable"]


class AnalysisError(LoadTestError):
    """The analysis cannot proceed; the message says why and what to change."""


class StatementsUnavailable(AnalysisError):
    """The database does not expose pg_stat_statements (extension or preload missing)."""

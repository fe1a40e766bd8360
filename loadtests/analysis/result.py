"""The outcome of `analyze`: rows, verdict, bottlenecks, recommendations, index suggestions and
error budgets of one run. Its own module so the renderers (loadtests/report) and the analysis
itself (engine) both import it without importing each other."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from indexes.suggestions import IndexSuggestion
from loadtests.analysis.bottlenecks import Bottleneck
from loadtests.analysis.budget import BudgetBurn
from loadtests.analysis.model import MetricRow
from loadtests.analysis.recommend import Recommendation
from loadtests.slo.evaluate import Evaluation

__all__ = ["Analysis"]


@dataclass
class Analysis:
    results: dict[str, Any]
    rows: list[MetricRow]
    evaluation: Evaluation
    bottlenecks: list[Bottleneck]
    recommendations: list[Recommendation]
    indexes: list[IndexSuggestion]
    budgets: list[BudgetBurn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """The verdict the gate recorded in the results, else the evaluation's."""
        return str(self.results.get("verdict") or self.evaluation.verdict)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.results.get("run_id"),
            "verdict": self.verdict,
            "rows": [asdict(row) for row in self.rows],
            "bottlenecks": [
                {
                    "category": item.category,
                    "endpoint": item.endpoint,
                    "metric": item.metric,
                    "stat": item.stat,
                    "value": item.value,
                    "limit": item.limit.source,
                    "requests": item.requests,
                }
                for item in self.bottlenecks
            ],
            "recommendations": [asdict(item) for item in self.recommendations],
            "indexes": [
                {
                    "name": index.name,
                    "sql": index.sql,
                    "queries": list(index.queries),
                    "reason": index.reason,
                    "covered_by": index.covered_by,
                }
                for index in self.indexes
            ],
            "error_budgets": [
                {
                    "slo": burn.slo,
                    "objective": burn.objective,
                    "failed": burn.failed,
                    "requests": burn.requests,
                    "burn_rate": round(burn.burn_rate, 4),
                    "alert": burn.alert,
                }
                for burn in self.budgets
            ],
            "notes": list(self.notes),
        }

"""Panel builders for the dashboards: Prometheus targets, thresholds, stats and time series.

Label filters follow the dashboard variables: every request metric carries ``endpoint``; web
vitals carry ``page`` instead. Latencies are shown in milliseconds (histograms are seconds).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import common as common_builder
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import prometheus, stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dashboard_model
from grafana_foundation_sdk.models import prometheus as prometheus_model

__all__ = [
    "DATASOURCE",
    "ENV",
    "PROMETHEUS_DATASOURCE_UID",
    "RATE",
    "REQ",
    "graph",
    "graphs",
    "quantile",
    "query",
    "stat_panel",
    "thresholds",
]

PROMETHEUS_DATASOURCE_UID = "prometheus"
DATASOURCE = dashboard_model.DataSourceRef(type_val="prometheus", uid=PROMETHEUS_DATASOURCE_UID)

# Label filters: every request metric carries endpoint; web vitals carry page instead.
ENV = 'environment=~"$environment"'
REQ = f'{ENV}, endpoint=~"$endpoint"'
RATE = "$__rate_interval"


def quantile(q: float, metric: str, selector: str, by: str = "", scale: str = " * 1000") -> str:
    """PromQL for a histogram quantile, merged over every worker's exporter."""
    group = f"{by}, le" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({metric}_bucket{{{selector}}}[{RATE}]))){scale}"


def query(expr: str, ref_id: str, legend: str = "", fmt: str | None = None) -> prometheus.Dataquery:
    target = prometheus.Dataquery().expr(expr).ref_id(ref_id).datasource(DATASOURCE)
    if legend:
        target = target.legend_format(legend)
    if fmt == "table":
        target = target.format(prometheus_model.PromQueryFormat.TABLE).instant()
    elif fmt == "heatmap":
        target = target.format(prometheus_model.PromQueryFormat.HEATMAP)
    return target


def thresholds(*pairs: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(dashboard_model.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_model.Threshold(value=value, color=color) for value, color in pairs])
    )


def stat_panel(
    title: str, expr: str, unit: str, levels: dash.ThresholdsConfig, legend: str = ""
) -> stat.Panel:
    return (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .with_target(query(expr, "A", legend))
        .unit(unit)
        .thresholds(levels)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.AREA)
        .reduce_options(common_builder.ReduceDataOptions().calcs(["lastNotNull"]))
        .height(5)
        .span(6)
    )


def graph(
    title: str,
    queries: list[tuple[str, str]],
    unit: str,
    critical: float | None = None,
    span: int = 12,
) -> timeseries.Panel:
    """A time series with one target per (expr, legend) and an optional critical line."""
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .line_width(1)
        .fill_opacity(10)
        .legend(
            common_builder.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "mean", "max"])
        )
        .height(8)
        .span(span)
    )
    for index, (expr, legend) in enumerate(queries):
        panel = panel.with_target(query(expr, chr(ord("A") + index), legend))
    if critical is not None:
        panel = panel.thresholds(thresholds((None, "green"), (critical, "red"))).thresholds_style(
            common_builder.GraphThresholdsStyleConfig().mode(common.GraphThresholdsStyleMode.LINE)
        )
    return panel


def graphs(*specs: tuple[str, list[tuple[str, str]], str, float | None, int]) -> list[timeseries.Panel]:
    """Time series panels from (title, [(expr, legend)], unit, critical line, width) rows."""
    return [graph(title, queries, unit, critical, span) for title, queries, unit, critical, span in specs]

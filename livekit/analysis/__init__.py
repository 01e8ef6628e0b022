"""Pure analysis on polars frames: metrics, funnels, ROI, products, custom reports, A/B, dwell,
the sales forecast and its accuracy measures.

Data in, frames or frozen dataclasses out; no I/O, no network, no globals. Importing this
package loads neither the sandbox nor the store's readers.
"""

from livekit.analysis.abtest import (
    adjust_pvalues,
    compare_means,
    compare_proportions,
    compare_sessions,
    ratio_metric,
    sample_size,
    srm,
)
from livekit.analysis.accuracy import (
    coverage,
    mae,
    mape,
    mase,
    rmse,
    rmsse,
    rolling_origins,
    seasonal_naive,
    smape,
    winkler,
)
from livekit.analysis.bayes import Prior, bayesian_means, bayesian_proportions
from livekit.analysis.custom import custom_report, dimensions_of
from livekit.analysis.dwell import dwell_conversion, logrank, median_survival, survival
from livekit.analysis.events import default_events, event_features, events_frame
from livekit.analysis.experiment_status import experiment_status, status_of_comparisons
from livekit.analysis.forecast import Backtest, Forecast, backtest, daily_sales, forecast
from livekit.analysis.funnel import DEFAULT_STAGES, funnel, funnel_change, funnel_counts
from livekit.analysis.plan import plan_sessions, plan_viewers
from livekit.analysis.products import (
    product_conversions,
    rank_products,
    region_index,
    wilson_interval,
)
from livekit.analysis.roi import RoiResult, repurchases, roi, roi_by_room, roi_summary
from livekit.vocab.metrics import METRICS, Metric, format_value, metric, metrics_of

__all__ = [
    "DEFAULT_STAGES",
    "METRICS",
    "Backtest",
    "Forecast",
    "Metric",
    "Prior",
    "RoiResult",
    "adjust_pvalues",
    "backtest",
    "bayesian_means",
    "bayesian_proportions",
    "compare_means",
    "compare_proportions",
    "compare_sessions",
    "coverage",
    "custom_report",
    "daily_sales",
    "default_events",
    "dimensions_of",
    "dwell_conversion",
    "event_features",
    "events_frame",
    "experiment_status",
    "forecast",
    "format_value",
    "funnel",
    "funnel_change",
    "funnel_counts",
    "logrank",
    "mae",
    "mape",
    "mase",
    "median_survival",
    "metric",
    "metrics_of",
    "plan_sessions",
    "plan_viewers",
    "product_conversions",
    "rank_products",
    "ratio_metric",
    "region_index",
    "repurchases",
    "rmse",
    "rmsse",
    "roi",
    "roi_by_room",
    "roi_summary",
    "rolling_origins",
    "sample_size",
    "seasonal_naive",
    "smape",
    "srm",
    "status_of_comparisons",
    "survival",
    "wilson_interval",
    "winkler",
]

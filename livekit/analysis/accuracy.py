"""Forecast accuracy: point and interval measures, the seasonal naive benchmark, rolling origins.

The measures follow Hyndman & Athanasopoulos, *Forecasting: Principles and Practice* (3rd ed.):
§5.8 for point accuracy (MAE, RMSE, MAPE, sMAPE, MASE, RMSSE), §5.9 for intervals (coverage,
the Winkler score), §5.5 for the seasonal naive prediction intervals and §5.10 for
time-series cross-validation (:func:`rolling_origins`). ``la.backtest`` builds on these.

Rates are fractions, as everywhere in the kit: a MAPE of 0.12 is 12%, a coverage of 0.8 is
80%. Interval levels are given in percent (80, 95) like ``la.forecast``'s ``levels``.

The measures are written here by hand, one line of numpy each: statsmodels has MAE and RMSE
(``statsmodels.tools.eval_measures``, which the tests compare against) but no MASE, RMSSE,
sMAPE or Winkler score, and scikit-learn is not a dependency. Undefined values are NaN and
:class:`Score` says why (a zero actual for MAPE, a flat seasonal history for MASE), never a
silent inf.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import polars as pl

from livekit.analysis._stats import z_value
from livekit.vocab.errors import LivekitError

__all__ = [
    "WEEK",
    "Fold",
    "NaiveForecast",
    "Score",
    "coverage",
    "mae",
    "mape",
    "mase",
    "rmse",
    "rmsse",
    "rolling_origins",
    "scale",
    "score",
    "seasonal_naive",
    "smape",
    "winkler",
]

WEEK = 7  # the season of daily live-commerce data: the weekly pattern

Values = npt.NDArray[np.floating] | pl.Series | Sequence[float]
FloatArray = npt.NDArray[np.float64]


def _array(values: Values, name: str) -> FloatArray:
    """A 1-D float array of finite values; a null, NaN or inf is a user mistake (one line)."""
    if isinstance(values, pl.Series):
        if values.null_count():
            raise LivekitError(f"{name}中有 {values.null_count()} 个空值：请先补齐或去掉这些日期")
        out = values.cast(pl.Float64).to_numpy()
    else:
        out = np.asarray(values, dtype=np.float64)
    if out.ndim != 1:
        raise LivekitError(f"{name}须为一维数值序列，收到 {out.ndim} 维")
    bad = int((~np.isfinite(out)).sum())
    if bad:
        raise LivekitError(f"{name}中有 {bad} 个非有限值（空值、NaN 或无穷大）")
    return np.asarray(out, dtype=np.float64)


def _pair(actual: Values, forecast: Values) -> tuple[FloatArray, FloatArray]:
    y = _array(actual, "实际值")
    f = _array(forecast, "预测值")
    if y.shape != f.shape:
        raise LivekitError(f"实际值与预测值的长度不同：{y.size} 与 {f.size}")
    if y.size == 0:
        raise LivekitError("实际值为空：没有可评估的预测")
    return y, f


# ---- point measures (FPP3 §5.8) -------------------------------------------------------------


def mae(actual: Values, forecast: Values) -> float:
    """Mean absolute error: mean(|y − ŷ|), in the series' unit."""
    y, f = _pair(actual, forecast)
    return float(np.mean(np.abs(y - f)))


def rmse(actual: Values, forecast: Values) -> float:
    """Root mean squared error: sqrt(mean((y − ŷ)²)), in the series' unit."""
    y, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((y - f) ** 2)))


def mape(actual: Values, forecast: Values) -> float:
    """Mean absolute percentage error as a fraction: mean(|y − ŷ| / |y|).

    Undefined when any actual is 0 (a day without a show): NaN then, never inf; :func:`score`
    says why. Percentage errors also assume a meaningful zero, which GMV has.
    """
    y, f = _pair(actual, forecast)
    if np.any(y == 0):
        return math.nan
    return float(np.mean(np.abs(y - f) / np.abs(y)))


def smape(actual: Values, forecast: Values) -> float:
    """Symmetric MAPE as a fraction between 0 and 2: mean(2|y − ŷ| / (|y| + |ŷ|)).

    The definition FPP3 §5.8 quotes (with absolute values in the denominator, as in the M3/M4
    competitions, so a negative forecast cannot make it negative); for non-negative GMV the two
    agree. It is kept because it stays defined on days with a zero actual, which MAPE is not; a
    day where both actual and forecast are 0 is a perfect forecast and counts 0 (0/0 would
    otherwise be undefined). FPP3 advises against relying on it alone: MASE is the headline.
    """
    y, f = _pair(actual, forecast)
    num = 2.0 * np.abs(y - f)
    den = np.abs(y) + np.abs(f)
    terms = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return float(np.mean(terms))


def _train(train: Values, season: int) -> FloatArray:
    if season < 1:
        raise LivekitError(f"季节周期 season 须为正整数，收到 {season!r}")
    return _array(train, "训练期数据")


def scale(train: Values, season: int = WEEK, *, power: int = 1) -> float:
    """The in-sample seasonal naive error that MASE (``power=1``) and RMSSE (``power=2``) divide
    by: mean over t = m+1..T of |y_t − y_{t−m}|^power. NaN when the training set has no more
    than ``season`` values (no seasonal difference to average)."""
    y = _train(train, season)
    if y.size <= season:
        return math.nan
    diffs = np.abs(y[season:] - y[:-season])
    return float(np.mean(diffs**power))


def mase(actual: Values, forecast: Values, train: Values, season: int = WEEK) -> float:
    """Mean absolute scaled error: MAE / mean|y_t − y_{t−m}| over the training set.

    Below 1: better on average than the in-sample seasonal naive ("same weekday last week").
    NaN when the scale is 0 (a history that repeats exactly) or undefined (too short).
    """
    q = scale(train, season)
    if not q > 0:  # NaN or 0
        _pair(actual, forecast)
        return math.nan
    return mae(actual, forecast) / q


def rmsse(actual: Values, forecast: Values, train: Values, season: int = WEEK) -> float:
    """Root mean squared scaled error: sqrt(MSE / mean (y_t − y_{t−m})² over the training set)."""
    q = scale(train, season, power=2)
    if not q > 0:
        _pair(actual, forecast)
        return math.nan
    return math.sqrt(rmse(actual, forecast) ** 2 / q)


# ---- interval measures (FPP3 §5.9) ----------------------------------------------------------


def _interval(actual: Values, lo: Values, hi: Values) -> tuple[FloatArray, FloatArray, FloatArray]:
    y, lower = _pair(actual, lo)
    _, upper = _pair(actual, hi)
    if np.any(lower > upper):
        raise LivekitError(f"预测区间有 {int((lower > upper).sum())} 处下界大于上界")
    return y, lower, upper


def coverage(actual: Values, lo: Values, hi: Values) -> float:
    """The share (a fraction) of actuals inside their interval, bounds included."""
    y, lower, upper = _interval(actual, lo, hi)
    return float(np.mean((y >= lower) & (y <= upper)))


def _alpha(level: float) -> float:
    if not 0 < level < 100:
        raise LivekitError(f"区间水平须在 0 与 100 之间（百分数，如 80、95），收到 {level!r}")
    return 1.0 - level / 100.0


def winkler(actual: Values, lo: Values, hi: Values, level: float) -> float:
    """Mean Winkler (interval) score of a ``level``% interval, α = 1 − level/100:
    the width hi − lo, plus (2/α)(lo − y) when y < lo, plus (2/α)(y − hi) when y > hi.
    Lower is better; in the series' unit."""
    alpha = _alpha(level)
    y, lower, upper = _interval(actual, lo, hi)
    penalty = (2.0 / alpha) * (np.maximum(lower - y, 0.0) + np.maximum(y - upper, 0.0))
    return float(np.mean(upper - lower + penalty))


# ---- the bundle per fold --------------------------------------------------------------------


@dataclass(frozen=True)
class Score:
    """Every measure of one forecast against its actuals (one backtest fold).

    Fractions for ``mape``, ``smape`` and ``coverage``; the series' unit for ``mae``, ``rmse``
    and ``winkler``; ``mase`` and ``rmsse`` are ratios to the in-sample seasonal naive.
    ``coverage`` and ``winkler`` are NaN without an interval. ``notes``: one Chinese line per
    measure left undefined (NaN), saying why.
    """

    n: int
    mae: float
    rmse: float
    mape: float
    smape: float
    mase: float
    rmsse: float
    coverage: float = math.nan
    winkler: float = math.nan
    level: float | None = None
    notes: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, float | int | tuple[str, ...] | None]:
        """The measures by name (``n``, ``mae`` … ``notes``)."""
        return {
            "n": self.n,
            "mae": self.mae,
            "rmse": self.rmse,
            "mape": self.mape,
            "smape": self.smape,
            "mase": self.mase,
            "rmsse": self.rmsse,
            "coverage": self.coverage,
            "winkler": self.winkler,
            "level": self.level,
            "notes": self.notes,
        }


def score(
    actual: Values,
    forecast: Values,
    *,
    train: Values,
    season: int = WEEK,
    lo: Values | None = None,
    hi: Values | None = None,
    level: float | None = None,
) -> Score:
    """All measures of one forecast: :func:`mae` … :func:`rmsse` against ``actual``, scaled by
    ``train`` (the fold's history) with season ``season``; with ``lo``/``hi`` (the ``level``%
    interval, required together) also :func:`coverage` and :func:`winkler`."""
    y, f = _pair(actual, forecast)
    history = _train(train, season)
    notes: list[str] = []
    zeros = int((y == 0).sum())
    if zeros:
        notes.append(f"MAPE 无定义：实际值中有 {zeros} 天为 0（如无直播日），请看 sMAPE 或 MASE")
    if history.size <= season:
        notes.append(
            f"MASE/RMSSE 无定义：训练期只有 {history.size} 天，"
            f"至少需要 {season + 1} 天才能算出季节朴素误差"
        )
    elif not scale(history, season) > 0:
        notes.append(
            f"MASE/RMSSE 无定义：训练期每 {season} 天完全重复，季节朴素误差为 0，无法作为分母"
        )
    cover = wink = math.nan
    if (lo is None) != (hi is None):
        raise LivekitError("预测区间须同时给出下界 lo 与上界 hi")
    if lo is not None and hi is not None:
        if level is None:
            raise LivekitError("给出预测区间时须同时给出区间水平 level（百分数，如 80）")
        cover = coverage(y, lo, hi)
        wink = winkler(y, lo, hi, level)
    return Score(
        n=int(y.size),
        mae=mae(y, f),
        rmse=rmse(y, f),
        mape=mape(y, f),
        smape=smape(y, f),
        mase=mase(y, f, history, season),
        rmsse=rmsse(y, f, history, season),
        coverage=cover,
        winkler=wink,
        level=None if lo is None else level,
        notes=tuple(notes),
    )


# ---- the seasonal naive benchmark (FPP3 §5.2, intervals §5.5) -------------------------------


@dataclass(frozen=True)
class NaiveForecast:
    """A seasonal naive forecast: ``mean[h-1]`` is the value of the same season position in the
    last observed season; ``lo[level]``/``hi[level]`` the normal prediction interval per level
    (percent); ``sigma`` the one-step residual standard deviation they grow from."""

    mean: FloatArray
    sigma: float
    season: int
    lo: Mapping[float, FloatArray] = field(default_factory=dict)
    hi: Mapping[float, FloatArray] = field(default_factory=dict)

    def frame(self) -> pl.DataFrame:
        """``step`` (1..horizon), ``mean``, then ``lo_<level>``/``hi_<level>`` per level."""
        cols: dict[str, object] = {
            "step": np.arange(1, self.mean.size + 1, dtype=np.int64),
            "mean": self.mean,
        }
        for level in self.lo:
            cols[f"lo_{level:g}"] = self.lo[level]
            cols[f"hi_{level:g}"] = self.hi[level]
        return pl.DataFrame(cols)


def seasonal_naive(
    history: Values,
    horizon: int,
    season: int = WEEK,
    *,
    levels: Sequence[float] = (80, 95),
) -> NaiveForecast:
    """Seasonal naive forecast: ŷ_{T+h} = y_{T+h−m(k+1)}, k = ⌊(h − 1)/m⌋ (FPP3 §5.2).

    Prediction intervals (FPP3 §5.5): ŷ ± z · σ̂ · sqrt(k + 1), where σ̂ is the root mean square
    of the in-sample seasonal residuals y_t − y_{t−m} (the model's residuals have mean zero by
    assumption, so no mean is subtracted; it is the maximum-likelihood estimate). ``levels=()``
    gives the point forecast only. NaN intervals when the history is only one season long (no
    residual to estimate σ̂ from).
    """
    y = _train(history, season)
    if horizon < 1:
        raise LivekitError(f"预测天数 horizon 须为正整数，收到 {horizon!r}")
    if y.size < season:
        raise LivekitError(
            f"季节朴素预测需要至少一个完整周期（{season} 天）的历史，只有 {y.size} 天"
        )
    h = np.arange(1, horizon + 1)
    k = (h - 1) // season
    mean = y[y.size + h - season * (k + 1) - 1]
    residuals = y[season:] - y[:-season]
    sigma = float(np.sqrt(np.mean(residuals**2))) if residuals.size else math.nan
    lo: dict[float, FloatArray] = {}
    hi: dict[float, FloatArray] = {}
    for level in levels:
        half = z_value(_alpha(level)) * sigma * np.sqrt(k + 1.0)
        lo[level] = mean - half
        hi[level] = mean + half
    return NaiveForecast(mean=mean.astype(np.float64), sigma=sigma, season=season, lo=lo, hi=hi)


# ---- rolling origins (FPP3 §5.10) -----------------------------------------------------------


@dataclass(frozen=True)
class Fold:
    """One forecast origin of a backtest: train on ``[0, train_end)``, test on
    ``[train_end, test_end)`` (0-based positions in the series, end excluded)."""

    fold: int  # 0 = the oldest origin
    train_end: int
    test_end: int

    @property
    def train(self) -> slice:
        return slice(0, self.train_end)

    @property
    def test(self) -> slice:
        return slice(self.train_end, self.test_end)


def rolling_origins(
    n: int,
    *,
    horizon: int,
    folds: int,
    step: int | None = None,
    min_train: int | None = None,
) -> tuple[Fold, ...]:
    """The folds of a rolling-origin backtest (time-series cross-validation) on a series of
    ``n`` days, oldest first and newest last: the newest test window ends on the last day, and
    each earlier origin is ``step`` days before the next (default ``horizon``: test windows
    that touch without overlapping). Training windows expand from the first day.

    ``min_train`` (default ``max(horizon, 2·7)``: at least two weeks to scale MASE by) is the
    shortest training window allowed; a series too short for the folds asked raises
    :class:`LivekitError` saying how many days are needed.
    """
    for name, value in (("horizon", horizon), ("folds", folds)):
        if value < 1:
            raise LivekitError(f"回测参数 {name} 须为正整数，收到 {value!r}")
    step = horizon if step is None else step
    if step < 1:
        raise LivekitError(f"回测参数 step 须为正整数，收到 {step!r}")
    min_train = max(horizon, 2 * WEEK) if min_train is None else min_train
    if min_train < 1:
        raise LivekitError(f"回测参数 min_train 须为正整数，收到 {min_train!r}")
    need = min_train + horizon + (folds - 1) * step
    if n < need:
        raise LivekitError(
            f"历史太短：只有 {n} 天，做 {folds} 次回测（每次预测 {horizon} 天、相隔 {step} 天、"
            f"训练期至少 {min_train} 天）需要至少 {need} 天"
        )
    return tuple(
        Fold(fold=i, train_end=end - horizon, test_end=end)
        for i, end in enumerate(n - (folds - 1 - j) * step for j in range(folds))
    )

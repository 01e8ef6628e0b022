"""The sales forecast: the daily series by hand, no-show days, planted lifts and elasticities
recovered on synthetic log-linear data (against the planted values and an independent
statsmodels formula fit), interval coverage, the backtest against accuracy.* by hand, the
choice of seasonal naive when nothing beats it, and the errors a user can make."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import polars as pl
import pytest
import statsmodels.formula.api as smf

import livekit.analysis as la
from livekit.analysis import accuracy
from livekit.analysis.forecast import MODELS
from livekit.vocab.errors import LivekitError

CN = ZoneInfo("Asia/Shanghai")
FIRST = date(2024, 6, 1)
WEEKDAY = np.array([0.0, -0.1, -0.05, 0.0, 0.1, 0.3, 0.2])  # Mon..Sun, log scale
TREND = 0.2  # log per year
D11_PEAK, D11_PRESALE = 1.2, 0.6  # planted log lifts of 双11 (peak day, pre-sale ramp)
ELASTICITY, SHOWS_COEF = 0.3, 0.8


def _d11(day: date) -> tuple[float, float]:
    """(peak, pre-sale ramp) of 双11 on ``day``, written here by hand: 22 days before 11-11."""
    peak = date(day.year, 11, 11)
    start = peak - timedelta(days=22)
    if day == peak:
        return 1.0, 0.0
    if start <= day < peak:
        return 0.0, ((day - start).days + 1) / ((peak - start).days + 1)
    return 0.0, 0.0


def synthetic(
    seed: int, *, n: int = 730, horizon: int = 28, rest: float = 0.1, sigma: float = 0.25
) -> pl.DataFrame:
    """n + horizon days of log-linear GMV with trend, weekday, 双11, log(spend), log(shows) and
    rest days (shows 0, GMV 0, spend 0)."""
    rng = np.random.default_rng(seed)
    days = [FIRST + timedelta(days=k) for k in range(n + horizon)]
    shows = 1 + rng.poisson(1.5, len(days))
    shows[rng.random(len(days)) < rest] = 0
    spend = np.where(shows > 0, np.exp(rng.normal(7.0, 0.4, len(days))), 0.0)
    t = (np.arange(len(days)) - (n - 1)) / 365.25
    peak, presale = np.array([_d11(d) for d in days]).T
    log_gmv = (
        8.0
        + TREND * t
        + WEEKDAY[[d.weekday() for d in days]]
        + D11_PEAK * peak
        + D11_PRESALE * presale
        + ELASTICITY * np.log(np.where(spend > 0, spend, 1.0))
        + SHOWS_COEF * np.log(np.maximum(shows, 1))
        + rng.normal(0.0, sigma, len(days))
    )
    gmv = np.where(shows > 0, np.exp(log_gmv), 0.0)
    return pl.DataFrame({"date": days, "gmv": gmv, "shows": shows, "spend": spend})


def split(frame: pl.DataFrame, horizon: int = 28) -> tuple[pl.DataFrame, pl.DataFrame]:
    n = frame.height - horizon
    return frame.head(n), frame.tail(horizon).select("date", "shows", "spend")


def one_line_chinese(exc: pytest.ExceptionInfo[LivekitError]) -> str:
    text = str(exc.value)
    assert "\n" not in text, text
    assert re.search(r"[\u4e00-\u9fff]", text), text
    return text


# ---- the daily series -----------------------------------------------------------------------


def test_daily_sales_by_hand_from_start_time_and_date() -> None:
    rooms = pl.DataFrame(
        {
            "room_id": [1, 2, 3, 4],
            # 23:30 China time on 01-01 is still 01-01 (15:30 UTC); 00:10 on 01-03 is 01-03
            "start_time": [
                datetime(2026, 1, 1, 23, 30, tzinfo=CN),
                datetime(2026, 1, 1, 10, 0, tzinfo=CN),
                datetime(2026, 1, 3, 0, 10, tzinfo=CN),
                datetime(2026, 1, 9, 10, 0, tzinfo=CN),  # outside the period
            ],
            "live_pay_order_gmv_alias": [100.5, 20.0, None, 7.0],
            "stat_cost": [10.0, 5.0, 2.5, 1.0],
            "live_pay_order_count_alias": [3, 1, 0, 1],
        }
    ).with_columns(pl.col("start_time").dt.convert_time_zone("UTC"))
    got = la.daily_sales(rooms, date(2026, 1, 1), date(2026, 1, 4))
    assert got.columns == ["date", "shows", "gmv", "spend", "orders"]
    assert got.get_column("date").to_list() == [date(2026, 1, d) for d in (1, 2, 3, 4)]
    assert got.get_column("shows").to_list() == [2, 0, 1, 0]
    assert got.get_column("gmv").to_list() == [120.5, 0.0, 0.0, 0.0]
    assert got.get_column("spend").to_list() == [15.0, 0.0, 2.5, 0.0]
    assert got.get_column("orders").to_list() == [4, 0, 0, 0]
    # with the store's date partition column, that column decides the day
    with_date = rooms.with_columns(
        pl.Series("date", [date(2026, 1, 2)] * 4)
    )  # a partition says 01-02
    by_date = la.daily_sales(with_date, date(2026, 1, 1), date(2026, 1, 3))
    assert by_date.get_column("shows").to_list() == [0, 4, 0]
    assert by_date.get_column("gmv").to_list() == [0.0, 127.5, 0.0]


def test_daily_sales_errors() -> None:
    rooms = pl.DataFrame({"date": [date(2026, 1, 1)], "stat_cost": [1.0]})
    with pytest.raises(LivekitError) as exc:
        la.daily_sales(rooms, date(2026, 1, 1), date(2026, 1, 2))
    assert "live_pay_order_gmv_alias" in one_line_chinese(exc)
    with pytest.raises(LivekitError) as exc:
        la.daily_sales(rooms, date(2026, 1, 2), date(2026, 1, 1))
    one_line_chinese(exc)


# ---- no-show days ---------------------------------------------------------------------------


def test_rest_days_forecast_zero_and_do_not_drag_show_days_down() -> None:
    rng = np.random.default_rng(3)
    n, horizon, sigma = 364, 28, 0.2
    days = [FIRST + timedelta(days=k) for k in range(n + horizon)]
    shows = np.where(rng.random(n + horizon) < 0.3, 0, 2)  # 30 % rest days
    shows[n : n + 3] = 0  # the horizon starts with three rest days
    gmv = np.where(shows > 0, np.exp(9.0 + rng.normal(0, sigma, n + horizon)), 0.0)
    frame = pl.DataFrame({"date": days, "gmv": gmv, "shows": shows})
    fc = la.forecast(
        frame.head(n),
        regressors=("shows",),
        future=frame.tail(horizon).select("date", "shows"),
        events=la.events_frame(days[0], days[-1], defaults=False),
        model="regression",
    )
    out = fc.frame.with_columns(pl.Series("shows", shows[n:]))
    rest = out.filter(pl.col("shows") == 0)
    assert rest.height >= 3
    for col in ("mean", "lo_80", "hi_80", "lo_95", "hi_95"):
        assert rest.get_column(col).to_list() == [0.0] * rest.height
    show_days = out.filter(pl.col("shows") > 0).get_column("mean").to_numpy()
    expected = math.exp(9.0 + sigma**2 / 2)  # the log-normal mean of a show day
    # averaged over rest days the level would be 30 % lower; modelled, it is within a few %
    # on average (each day within its weekday's estimation error)
    assert abs(show_days.mean() / expected - 1) < 0.04, show_days / expected
    assert np.all(np.abs(show_days / expected - 1) < 0.12), show_days / expected
    # seasonal naive, which knows nothing of the plan, copies last week's zeros and sales
    naive = la.forecast(frame.head(n), model="seasonal_naive")
    assert naive.frame.get_column("mean").to_list()[:7] == gmv[n - 7 : n].tolist()


def test_unannounced_zero_days_are_a_point_mass() -> None:
    # without a shows regressor the rest days are unknown: the band reaches 0 when rest days
    # are more common than the band's lower tail, and the mean is shrunk by their share
    frame = synthetic(5, rest=0.15).drop("shows", "spend")
    fc = la.forecast(frame.head(730), model="regression")
    p0 = float(np.mean(frame.head(730).get_column("gmv").to_numpy() == 0))
    assert p0 > 0.1
    assert fc.frame.get_column("lo_80").to_list() == [0.0] * 28
    assert fc.frame.get_column("lo_95").to_list() == [0.0] * 28
    assert (fc.frame.get_column("hi_80") > 0).all()


# ---- planted truths -------------------------------------------------------------------------


def test_planted_lift_and_elasticity_recovered_and_match_an_independent_fit() -> None:
    covered = {"double11_peak": 0, "double11_presale": 0, "spend": 0, "shows": 0}
    planted = {
        "double11_peak": D11_PEAK,
        "double11_presale": D11_PRESALE,
        "spend": ELASTICITY,
        "shows": SHOWS_COEF,
    }
    seeds = range(5)
    for seed in seeds:
        history, future = split(synthetic(seed))
        fc = la.forecast(history, regressors=("shows", "spend"), future=future, model="regression")
        effects = {row["term"]: row for row in fc.effects.iter_rows(named=True)}
        for term, value in planted.items():
            covered[term] += effects[term]["lo"] <= value <= effects[term]["hi"]
        # an independent fit: statsmodels' formula interface on pandas, features by hand
        last = history.get_column("date")[-1]
        rows = history.filter(pl.col("shows") > 0).to_dicts()
        d11 = [_d11(r["date"]) for r in rows]
        pdf = pd.DataFrame(
            {
                "gmv": [r["gmv"] for r in rows],
                "spend": [r["spend"] for r in rows],
                "shows": [r["shows"] for r in rows],
                "t": [(r["date"] - last).days / 365.25 for r in rows],
                "wd": [r["date"].weekday() for r in rows],
                "peak": [p for p, _ in d11],
                "presale": [q for _, q in d11],
            }
        )
        ref = smf.ols(
            "np.log(gmv) ~ t + C(wd) + peak + presale + np.log(spend) + np.log(shows)",
            data=pdf,
        ).fit()
        # the default calendar has more events (zero true effect): the estimates move a little
        assert effects["double11_peak"]["coef"] == pytest.approx(ref.params["peak"], abs=0.08)
        assert effects["spend"]["coef"] == pytest.approx(ref.params["np.log(spend)"], abs=0.02)
        assert effects["trend"]["coef"] == pytest.approx(ref.params["t"], abs=0.05)
        assert effects["double11_peak"]["label"] == "双11当天"
        assert effects["double11_presale"]["label"] == "双11预热"
        assert effects["spend"]["label"] == "投放"
        assert effects["spend"]["transform"] == "log"
        # a log regressor's lift is what doubling it does
        assert effects["spend"]["lift"] == pytest.approx(2 ** effects["spend"]["coef"])
        assert effects["double11_peak"]["lift"] == pytest.approx(
            math.exp(effects["double11_peak"]["coef"])
        )
    for term, hits in covered.items():
        assert hits >= 4, (term, hits)  # 95 % intervals: 5 of 5 expected, 4 allowed


def test_backtest_interval_coverage_is_nominal_on_log_linear_data() -> None:
    hits = {80: [], 95: []}  # type: dict[int, list[float]]
    for seed in range(5):
        frame = synthetic(100 + seed, n=730, horizon=0)
        bt = la.backtest(frame, regressors=("shows", "spend"), models=("regression",))
        points = bt.folds.filter(pl.col("model") == "regression")
        for level in (80, 95):
            inside = points.select(
                pl.col("actual").is_between(pl.col(f"lo_{level}"), pl.col(f"hi_{level}"))
            ).to_series()
            hits[level].extend(inside.cast(pl.Float64).to_list())
    assert len(hits[80]) == 5 * 6 * 28
    assert abs(np.mean(hits[80]) - 0.80) < 0.05, np.mean(hits[80])
    assert abs(np.mean(hits[95]) - 0.95) < 0.05, np.mean(hits[95])


# ---- the backtest against accuracy.* by hand ------------------------------------------------


def test_backtest_numbers_equal_accuracy_by_hand_on_one_fold() -> None:
    frame = synthetic(11, n=400, horizon=0)
    horizon, folds = 14, 4
    bt = la.backtest(frame, horizon=horizon, folds=folds, regressors=("shows", "spend"))
    assert bt.summary.get_column("model").to_list() == ["seasonal_naive", "regression"]
    origins = accuracy.rolling_origins(frame.height, horizon=horizon, folds=folds)
    fold = origins[2]
    y = frame.get_column("gmv").to_numpy()
    train, actual = y[fold.train], y[fold.test]
    # seasonal naive: same weekday last week, from accuracy.seasonal_naive
    naive = accuracy.seasonal_naive(train, horizon, levels=(80, 95))
    got = bt.folds.filter((pl.col("model") == "seasonal_naive") & (pl.col("fold") == 2))
    assert got.get_column("actual").to_list() == actual.tolist()
    assert got.get_column("mean").to_list() == naive.mean.tolist()
    assert got.get_column("hi_95").to_list() == pytest.approx(naive.hi[95].tolist())
    assert got.get_column("lo_80").to_list() == pytest.approx(np.maximum(naive.lo[80], 0))
    assert got.get_column("origin")[0] == frame.get_column("date")[fold.train_end - 1]
    # the regression's fold is the forecast made from that origin with the realized plan
    reg = bt.folds.filter((pl.col("model") == "regression") & (pl.col("fold") == 2))
    fc = la.forecast(
        frame.head(fold.train_end),
        horizon=horizon,
        regressors=("shows", "spend"),
        future=frame.slice(fold.train_end, horizon).select("date", "shows", "spend"),
        model="regression",
    )
    assert reg.get_column("mean").to_list() == pytest.approx(fc.frame.get_column("mean"))
    assert reg.get_column("lo_95").to_list() == pytest.approx(fc.frame.get_column("lo_95"))
    # the fold's scores are accuracy's measures of those numbers
    for model, points in (("seasonal_naive", got), ("regression", reg)):
        mean = points.get_column("mean").to_numpy()
        row = bt.scores.filter((pl.col("model") == model) & (pl.col("fold") == 2)).row(
            0, named=True
        )
        assert row["mae"] == pytest.approx(accuracy.mae(actual, mean))
        assert row["mase"] == pytest.approx(accuracy.mase(actual, mean, train, 7))
        assert row["smape"] == pytest.approx(accuracy.smape(actual, mean))
        lo, hi = points.get_column("lo_80").to_numpy(), points.get_column("hi_80").to_numpy()
        assert row["coverage_80"] == pytest.approx(accuracy.coverage(actual, lo, hi))
        assert row["winkler_80"] == pytest.approx(accuracy.winkler(actual, lo, hi, 80))
    # the summary is the mean over the folds; by_step pools the folds per step
    for model in ("seasonal_naive", "regression"):
        scores = bt.scores.filter(pl.col("model") == model)
        summary = bt.summary.filter(pl.col("model") == model).row(0, named=True)
        assert summary["mase"] == pytest.approx(scores.get_column("mase").mean())
        assert summary["mae"] == pytest.approx(scores.get_column("mae").mean())
        assert summary["folds"] == folds
        step1 = bt.folds.filter((pl.col("model") == model) & (pl.col("step") == 1))
        by_step = bt.by_step.filter((pl.col("model") == model) & (pl.col("step") == 1))
        errors = (step1.get_column("actual") - step1.get_column("mean")).abs()
        assert by_step.get_column("mae")[0] == pytest.approx(errors.mean())
        assert by_step.get_column("n")[0] == folds


def test_auto_chooses_the_regression_when_it_beats_seasonal_naive() -> None:
    history, future = split(synthetic(21))
    fc = la.forecast(history, regressors=("shows", "spend"), future=future)
    assert fc.model == "regression"
    assert fc.note is None
    assert fc.backtest is not None
    assert fc.backtest.mase_of("regression") < fc.backtest.mase_of("seasonal_naive")
    assert fc.label == MODELS["regression"][0]
    assert fc.frame.columns == ["date", "mean", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert fc.frame.get_column("date").to_list() == future.get_column("date").to_list()
    assert fc.history.columns == ["date", "value"]
    assert fc.history.height == 730
    assert (fc.frame["lo_95"] <= fc.frame["lo_80"]).all()
    assert (fc.frame["lo_80"] <= fc.frame["hi_80"]).all()
    assert (fc.frame["hi_80"] <= fc.frame["hi_95"]).all()


def test_auto_falls_back_to_seasonal_naive_when_nothing_beats_it() -> None:
    # a weekly-seasonal random walk (multiplicative): "same weekday last week" is the best
    # forecast there is, and a fixed trend/weekday regression cannot follow the wandering level
    rng = np.random.default_rng(8)
    n = 400
    y = np.empty(n)
    y[:7] = 10_000 * np.exp(rng.normal(0, 0.3, 7))
    for t in range(7, n):
        y[t] = y[t - 7] * math.exp(rng.normal(0, 0.15))
    frame = pl.DataFrame({"date": [FIRST + timedelta(days=k) for k in range(n)], "gmv": y})
    fc = la.forecast(frame)
    assert fc.backtest is not None
    assert fc.backtest.mase_of("regression") >= fc.backtest.mase_of("seasonal_naive")
    assert fc.model == "seasonal_naive"
    assert fc.note is not None
    assert "季节朴素" in fc.note
    assert "\n" not in fc.note
    assert fc.effects.height == 0
    assert fc.frame.get_column("mean").to_list()[:7] == y[-7:].tolist()


# ---- user mistakes --------------------------------------------------------------------------


def test_bad_input_is_one_chinese_line() -> None:
    history, future = split(synthetic(1))
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: la.forecast(history.drop("gmv")), "gmv"),
        (lambda: la.forecast(history, regressors=("shows",)), "future"),
        (
            lambda: la.forecast(
                history, regressors=("shows", "spend"), future=future.drop("spend")
            ),
            "spend",
        ),
        (
            lambda: la.forecast(history, regressors=("shows",), future=future.head(20)),
            "缺少 8 天",
        ),
        (lambda: la.forecast(history, horizon=0), "horizon"),
        (lambda: la.forecast(history, model="prophet"), "prophet"),
        (lambda: la.backtest(history, models=("prophet",)), "prophet"),
        (lambda: la.forecast(history.head(100)), "历史太短"),
        (lambda: la.backtest(history.head(60), folds=6), "历史太短"),
        (lambda: la.forecast(history, levels=(80, 120)), "区间水平"),
        (lambda: la.forecast(history.filter(pl.col("date") != date(2025, 1, 1))), "不连续"),
        (lambda: la.forecast(pl.concat([history, history.tail(1)])), "不止一次"),
        (
            lambda: la.forecast(history.with_columns(pl.col("gmv") * -1)),
            "负数",
        ),
    ]
    for call, needle in cases:
        with pytest.raises(LivekitError) as exc:
            call()
        assert needle in one_line_chinese(exc)


def test_a_positive_regressor_planned_at_zero_on_a_show_day_is_refused() -> None:
    history, future = split(synthetic(2))
    day = future.filter(pl.col("shows") > 0).get_column("date")[0]  # a show day
    bad = future.with_columns(
        pl.when(pl.col("date") == day).then(0.0).otherwise(pl.col("spend")).alias("spend")
    )
    with pytest.raises(LivekitError) as exc:
        la.forecast(history, regressors=("shows", "spend"), future=bad, model="regression")
    assert str(day) in one_line_chinese(exc)


def test_a_regressor_enters_as_log_only_when_positive_on_every_sales_day() -> None:
    frame = synthetic(4, n=400, horizon=0)
    # a show day late in the history without sales and without spend: no fold fails on it,
    # and spend still enters as log (the day has no sales to fit)
    day = frame.filter(pl.col("shows") > 0).get_column("date")[-40]
    quiet = pl.when(pl.col("date") == day)
    frame = frame.with_columns(
        quiet.then(0.0).otherwise(pl.col("gmv")).alias("gmv"),
        quiet.then(0.0).otherwise(pl.col("spend")).alias("spend"),
    )
    bt = la.backtest(frame, regressors=("shows", "spend"), models=("regression",))
    assert bt.summary.get_column("mase")[1] < bt.summary.get_column("mase")[0]
    history, future = frame.head(372), frame.tail(28).select("date", "shows", "spend")
    fc = la.forecast(history, regressors=("shows", "spend"), future=future, model="regression")
    spend = fc.effects.filter(pl.col("term") == "spend").row(0, named=True)
    assert spend["transform"] == "log"
    # a show day with sales and no spend: spend enters as it is (no log of 0)
    sold = frame.filter(pl.col("shows") > 0).get_column("date")[10]
    free = frame.with_columns(
        pl.when(pl.col("date") == sold).then(0.0).otherwise(pl.col("spend")).alias("spend")
    )
    fc = la.forecast(
        free.head(372), regressors=("shows", "spend"), future=future, model="regression"
    )
    spend = fc.effects.filter(pl.col("term") == "spend").row(0, named=True)
    assert spend["transform"] == "linear"


def test_auto_leaves_out_a_model_that_cannot_be_fitted_and_says_why() -> None:
    # a new shop: no sales before its last 30 days, so the early folds have no days to fit a
    # regression on; the explicit backtest refuses, the automatic choice falls back and says why
    frame = synthetic(6, n=200, horizon=0, rest=0.0).with_columns(
        pl.when(pl.int_range(pl.len()) < 170).then(0.0).otherwise(pl.col("gmv")).alias("gmv")
    )
    with pytest.raises(LivekitError) as exc:
        la.backtest(frame, horizon=7, folds=4)
    assert "14" in one_line_chinese(exc)
    fc = la.forecast(frame, horizon=7, folds=4)
    assert fc.model == "seasonal_naive"
    assert fc.note is not None
    assert "无法拟合" in fc.note
    assert "\n" not in fc.note
    assert fc.backtest is not None
    assert fc.backtest.summary.get_column("model").to_list() == ["seasonal_naive"]

"""Forecast accuracy: the FPP3 §5.8/§5.9 measures against values worked out by hand, the seasonal
naive forecast and its §5.5 intervals against the formula (and a simulation of the model they
assume), the rolling origins of a small series by hand, and the errors a user can make."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import polars as pl
import pytest
from statsmodels.tools.eval_measures import meanabs
from statsmodels.tools.eval_measures import rmse as sm_rmse

from livekit.analysis.accuracy import (
    Fold,
    coverage,
    mae,
    mape,
    mase,
    rmse,
    rmsse,
    rolling_origins,
    scale,
    score,
    seasonal_naive,
    smape,
    winkler,
)
from livekit.vocab.errors import LivekitError

# A four-day test window:  actual  100  120   80  110
#                          forecast 90  130  100  110
# errors y − ŷ = 10, −10, −20, 0;  |e| = 10, 10, 20, 0
ACTUAL = [100.0, 120.0, 80.0, 110.0]
FORECAST = [90.0, 130.0, 100.0, 110.0]
# A training set with season m = 2:  10 20 14 26 12 22
# seasonal differences y_t − y_{t−2}: 14−10 = 4, 26−20 = 6, 12−14 = −2, 22−26 = −4
TRAIN = [10.0, 20.0, 14.0, 26.0, 12.0, 22.0]


def test_point_measures_by_hand() -> None:
    # MAE = (10 + 10 + 20 + 0) / 4 = 10
    assert mae(ACTUAL, FORECAST) == pytest.approx(10.0)
    # RMSE = sqrt((100 + 100 + 400 + 0) / 4) = sqrt(150)
    assert rmse(ACTUAL, FORECAST) == pytest.approx(math.sqrt(150.0))
    # MAPE = (10/100 + 10/120 + 20/80 + 0/110) / 4 = (0.1 + 1/12 + 0.25) / 4
    assert mape(ACTUAL, FORECAST) == pytest.approx((0.1 + 1 / 12 + 0.25) / 4)
    # sMAPE = mean(2|e| / (|y| + |ŷ|)) = (20/190 + 20/250 + 40/180 + 0/220) / 4
    assert smape(ACTUAL, FORECAST) == pytest.approx((2 / 19 + 2 / 25 + 2 / 9) / 4)


def test_mae_rmse_agree_with_statsmodels() -> None:
    rng = np.random.default_rng(7)
    y, f = rng.normal(100, 20, 50), rng.normal(100, 20, 50)
    assert mae(y, f) == pytest.approx(float(meanabs(y, f)))
    assert rmse(y, f) == pytest.approx(float(sm_rmse(y, f)))


def test_mase_and_rmsse_by_hand() -> None:
    # FPP3 §5.8: q = e / (1/(T−m) Σ_{t=m+1..T} |y_t − y_{t−m}|); the scale is (4+6+2+4)/4 = 4
    assert scale(TRAIN, 2) == pytest.approx(4.0)
    assert mase(ACTUAL, FORECAST, TRAIN, season=2) == pytest.approx(10.0 / 4.0)
    # RMSSE: scale (16 + 36 + 4 + 16) / 4 = 18; sqrt(MSE / 18) = sqrt(150 / 18)
    assert scale(TRAIN, 2, power=2) == pytest.approx(18.0)
    assert rmsse(ACTUAL, FORECAST, TRAIN, season=2) == pytest.approx(math.sqrt(150.0 / 18.0))


def test_mase_scale_is_the_definition_for_a_weekly_season() -> None:
    rng = np.random.default_rng(3)
    train = rng.gamma(5.0, 100.0, 60)
    # the definition written out as a loop, independently of the vectorised code
    total = 0.0
    for t in range(7, len(train)):
        total += abs(train[t] - train[t - 7])
    q = total / (len(train) - 7)
    y, f = rng.gamma(5.0, 100.0, 28), rng.gamma(5.0, 100.0, 28)
    expected = float(np.mean(np.abs(y - f))) / q
    assert mase(y, f, train) == pytest.approx(expected)  # season 7 by default
    # and the seasonal naive forecast of the training set itself scores MASE 1 in-sample
    assert mase(train[7:], train[:-7], train) == pytest.approx(1.0)


def test_interval_measures_by_hand() -> None:
    # 80% interval [2, 8], α = 0.2 so the penalty is 2/α = 10 per unit outside
    actual = [5.0, 1.0, 12.0, 2.0]
    lo, hi = [2.0] * 4, [8.0] * 4
    # inside (5), below by 1, above by 4, on the lower bound (counts as inside)
    assert coverage(actual, lo, hi) == pytest.approx(2 / 4)
    # Winkler: 6, 6 + 10·1, 6 + 10·4, 6  →  (6 + 16 + 46 + 6) / 4
    assert winkler(actual, lo, hi, 80) == pytest.approx(74 / 4)
    # a 95% interval penalises the same misses harder: 2/0.05 = 40
    assert winkler(actual, lo, hi, 95) == pytest.approx((6 + 46 + 166 + 6) / 4)


def test_score_bundles_the_measures() -> None:
    s = score(ACTUAL, FORECAST, train=TRAIN, season=2)
    assert s.n == 4
    assert s.mae == pytest.approx(10.0)
    assert s.mase == pytest.approx(2.5)
    assert s.rmsse == pytest.approx(math.sqrt(150 / 18))
    assert math.isnan(s.coverage)
    assert math.isnan(s.winkler)
    assert s.level is None
    assert s.notes == ()
    lo = [f - 15 for f in FORECAST]
    hi = [f + 15 for f in FORECAST]
    # |e| = 10, 10, 20, 0: one miss, 5 below the bound; width 30 each; α = 0.2
    s = score(ACTUAL, FORECAST, train=TRAIN, season=2, lo=lo, hi=hi, level=80)
    assert s.coverage == pytest.approx(3 / 4)
    assert s.winkler == pytest.approx((30 * 4 + 10 * 5) / 4)
    assert s.level == 80
    assert s.as_dict()["mae"] == s.mae
    # polars Series are accepted as well
    assert score(pl.Series(ACTUAL), pl.Series(FORECAST), train=pl.Series(TRAIN), season=2) == (
        score(ACTUAL, FORECAST, train=TRAIN, season=2)
    )


def test_zero_actuals_make_mape_nan_with_the_reason() -> None:
    actual = [0.0, 50.0, 0.0]
    forecast = [0.0, 40.0, 10.0]
    assert math.isnan(mape(actual, forecast))
    # sMAPE stays defined: 0/0 (no show, none forecast) counts 0; 20/90; 20/10 = 2
    assert smape(actual, forecast) == pytest.approx((0 + 20 / 90 + 2) / 3)
    s = score(actual, forecast, train=TRAIN, season=2)
    assert math.isnan(s.mape)
    assert not math.isinf(s.mape)
    assert len(s.notes) == 1
    assert "MAPE" in s.notes[0]
    assert "2 天为 0" in s.notes[0]
    assert s.mae == pytest.approx(20 / 3)


def test_undefined_scale_is_nan_with_the_reason() -> None:
    flat = [1.0, 2.0, 1.0, 2.0, 1.0, 2.0]  # repeats every 2 days: seasonal naive error 0
    assert math.isnan(mase(ACTUAL, FORECAST, flat, season=2))
    s = score(ACTUAL, FORECAST, train=flat, season=2)
    assert math.isnan(s.mase)
    assert math.isnan(s.rmsse)
    assert any("MASE" in n and "为 0" in n for n in s.notes)
    short = score(ACTUAL, FORECAST, train=[1.0] * 7)  # 7 days, season 7: no difference
    assert math.isnan(short.mase)
    assert any("至少需要 8 天" in n for n in short.notes)


def test_seasonal_naive_by_hand() -> None:
    # T = 6, m = 2; ŷ_{T+h} = y_{T+h−m(k+1)}, k = ⌊(h−1)/m⌋ (1-based positions)
    # h=1: k=0, y_5 = 12; h=2: y_6 = 22; h=3: k=1, y_5 = 12; h=4: y_6 = 22; h=5: k=2, y_5 = 12
    out = seasonal_naive(TRAIN, 5, season=2, levels=(80,))
    assert out.mean.tolist() == [12.0, 22.0, 12.0, 22.0, 12.0]
    # σ̂ = sqrt(mean of the squared seasonal residuals) = sqrt((16 + 36 + 4 + 16) / 4) = sqrt(18)
    assert out.sigma == pytest.approx(math.sqrt(18.0))
    # half-width z_{0.9} · σ̂ · sqrt(k+1), z_{0.9} = 1.2815515655446004
    z = 1.2815515655446004
    widths = [z * math.sqrt(18.0) * math.sqrt(k + 1) for k in (0, 0, 1, 1, 2)]
    assert out.hi[80] - out.mean == pytest.approx(widths)
    assert out.mean - out.lo[80] == pytest.approx(widths)
    frame = out.frame()
    assert frame.columns == ["step", "mean", "lo_80", "hi_80"]
    assert frame["step"].to_list() == [1, 2, 3, 4, 5]


def test_seasonal_naive_repeats_the_last_week() -> None:
    history = np.arange(1.0, 15.0)  # two weeks: 1..14
    out = seasonal_naive(pl.Series(history), 10, levels=())
    # last week is 8..14; day 8 of the horizon starts the week again
    assert out.mean.tolist() == [8, 9, 10, 11, 12, 13, 14, 8, 9, 10]
    assert out.lo == {}
    assert out.frame().columns == ["step", "mean"]
    one_week = seasonal_naive(history[:7], 3)
    assert one_week.mean.tolist() == [1, 2, 3]
    assert math.isnan(one_week.sigma)
    assert np.isnan(one_week.lo[95]).all()


def test_seasonal_naive_intervals_cover_on_their_own_model() -> None:
    """On a seasonal random walk (y_t = y_{t−7} + ε, the model the §5.5 intervals assume) the 80%
    interval covers about 80% in the first week of the horizon and in the second (where the
    sqrt(k+1) growth matters: without it the second week would cover only about 63%)."""
    rng = np.random.default_rng(20260605)
    hits = np.zeros((2, 7))
    runs = 1500
    for _ in range(runs):
        eps = rng.normal(0.0, 10.0, 8 * 7 + 14)
        y = np.empty_like(eps)
        y[:7] = 100 + eps[:7]
        for t in range(7, y.size):
            y[t] = y[t - 7] + eps[t]
        history, future = y[:56], y[56:]
        out = seasonal_naive(history, 14, levels=(80,))
        inside = (future >= out.lo[80]) & (future <= out.hi[80])
        hits += inside.reshape(2, 7)
    first_week, second_week = hits[0].sum() / (7 * runs), hits[1].sum() / (7 * runs)
    assert first_week == pytest.approx(0.80, abs=0.03)
    assert second_week == pytest.approx(0.80, abs=0.03)


def test_rolling_origins_by_hand() -> None:
    # n = 20, horizon 3, step 2: the newest test window is days 17..19 (0-based, end 20);
    # each earlier origin 2 days before: train ends at 17, 15, 13
    folds = rolling_origins(20, horizon=3, folds=3, step=2, min_train=5)
    assert [(f.fold, f.train_end, f.test_end) for f in folds] == [
        (0, 13, 16),
        (1, 15, 18),
        (2, 17, 20),
    ]
    assert folds[0].train == slice(0, 13)
    assert folds[0].test == slice(13, 16)
    series = np.arange(20)
    assert series[folds[-1].test].tolist() == [17, 18, 19]
    # default step = horizon (windows touch, no overlap); default min_train = max(7, 14) = 14;
    # 2 folds of 7 days need 14 + 7 + 7 = 28 days: the first origin trains on exactly 14
    folds = rolling_origins(28, horizon=7, folds=2)
    assert folds == (Fold(0, 14, 21), Fold(1, 21, 28))


def test_rolling_origins_too_short_says_how_many_days() -> None:
    with pytest.raises(LivekitError) as caught:
        rolling_origins(27, horizon=7, folds=2)
    message = str(caught.value)
    assert "27 天" in message
    assert "至少 28 天" in message
    assert "\n" not in message
    # 6 folds of 28 days with at least 56 days of training: 56 + 28 + 5·28 = 224
    with pytest.raises(LivekitError, match="至少 224 天"):
        rolling_origins(200, horizon=28, folds=6, min_train=56)
    for kwargs in ({"horizon": 0, "folds": 1}, {"horizon": 7, "folds": 0}):
        with pytest.raises(LivekitError, match="正整数"):
            rolling_origins(100, **kwargs)
    with pytest.raises(LivekitError, match="step"):
        rolling_origins(100, horizon=7, folds=2, step=0)


MISTAKES: list[Callable[[], object]] = [
    lambda: mae([1.0, 2.0], [1.0]),
    lambda: mae([1.0, math.nan], [1.0, 2.0]),
    lambda: mae([], []),
    lambda: mae(pl.Series([1.0, None]), [1.0, 2.0]),
    lambda: coverage([1.0], [2.0], [0.0]),
    lambda: winkler([1.0], [0.0], [2.0], 100),
    lambda: score([1.0], [1.0], train=TRAIN, lo=[0.0]),
    lambda: score([1.0], [1.0], train=TRAIN, lo=[0.0], hi=[2.0]),
    lambda: seasonal_naive([1.0, 2.0], 3),
    lambda: seasonal_naive(TRAIN, 0, season=2),
    lambda: mase([1.0], [1.0], TRAIN, season=0),
]


@pytest.mark.parametrize("case", MISTAKES)
def test_user_mistakes_are_one_chinese_line(case: Callable[[], object]) -> None:
    with pytest.raises(LivekitError) as caught:
        case()
    text = str(caught.value)
    assert text
    assert "\n" not in text
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text)

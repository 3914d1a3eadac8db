"""Indicators against TA-Lib (float64) and NumPy, and streaming against whole-array.

Inputs are float32; references run in float64 on the same float32 values. Agreement is
1e-5 relative after warm-up, and NaN exactly where TA-Lib has NaN. For outputs that cross
zero (MACD line, signal, histogram; order-flow imbalance) a pointwise relative error is
meaningless at the crossings, so the tolerance there is 1e-5 of the series' RMS.
"""

from __future__ import annotations

import functools
import inspect

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import talib
from conftest_data import Bars, f64, market_bars, random_walk
from hypothesis import given, settings
from hypothesis import strategies as st
from jax import lax
from talib import abstract as talib_abstract

import qtgjax.indicators as ind
from qtgjax.indicators import numerics

RTOL = 1e-5
CAPACITY = 12  # ring-buffer length shared by the streaming property tests


def rms(a) -> float:
    a = f64(a)
    return float(np.sqrt(np.nanmean(np.square(a))))


def assert_matches(ours, ref, *, scale: float = 0.0, rtol: float = RTOL) -> None:
    """Same NaN positions, and ``|ours - ref| <= rtol * (|ref| + scale)``.

    ``scale`` is 0 except for series that cross zero, where it is their RMS.
    """
    ours, ref = f64(ours), f64(ref)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg="warm-up NaN mask")
    valid = ~np.isnan(ref)
    assert valid.any(), "nothing to compare"
    np.testing.assert_allclose(ours[valid], ref[valid], rtol=rtol, atol=rtol * scale)


def assert_outputs_match(ours, ref, *, crosses_zero: bool = False, rtol: float = RTOL) -> None:
    """:func:`assert_matches` for one output or a tuple of outputs.

    For multi-output indicators that cross zero (MACD) the scale of every output is the
    RMS of the first (the MACD line): the histogram with ``signalperiod=1`` is 0.
    """
    multi = isinstance(ref, tuple)
    ours_t, ref_t = (ours, ref) if multi else ((ours,), (ref,))
    assert len(ours_t) == len(ref_t)
    scale = rms(ref_t[0]) if crosses_zero else 0.0
    for o, r in zip(ours_t, ref_t, strict=True):
        assert_matches(o, r, scale=scale, rtol=rtol)


def per_series(fn, *arrays):
    """Apply a 1-D reference ``fn`` to every series of ``[..., T]`` arrays; stack outputs."""
    batch = arrays[0].shape[:-1]
    rows = [
        fn(*(f64(a).reshape(-1, a.shape[-1])[i] for a in arrays))
        for i in range(int(np.prod(batch)))
    ]
    if isinstance(rows[0], tuple):
        return tuple(np.stack(col).reshape(*batch, -1) for col in zip(*rows, strict=True))
    return np.stack(rows).reshape(*batch, -1)


# name -> (ours(bars, **kw), talib(bars as float64 1-D, **kw), outputs crossing zero)
INDICATORS = {
    "sma": (lambda b, **k: ind.sma(b.close, **k), lambda b, **k: talib.SMA(b.close, **k), False),
    "ema": (lambda b, **k: ind.ema(b.close, **k), lambda b, **k: talib.EMA(b.close, **k), False),
    "rsi": (lambda b, **k: ind.rsi(b.close, **k), lambda b, **k: talib.RSI(b.close, **k), False),
    "macd": (lambda b, **k: ind.macd(b.close, **k), lambda b, **k: talib.MACD(b.close, **k), True),
    "bollinger": (
        lambda b, **k: ind.bollinger(b.close, **k),
        lambda b, **k: talib.BBANDS(b.close, **k),
        False,
    ),
    "atr": (
        lambda b, **k: ind.atr(b.high, b.low, b.close, **k),
        lambda b, **k: talib.ATR(b.high, b.low, b.close, **k),
        False,
    ),
    "trange": (
        lambda b, **k: ind.trange(b.high, b.low, b.close),
        lambda b, **k: talib.TRANGE(b.high, b.low, b.close),
        False,
    ),
}

CASES = [
    ("sma", {"timeperiod": 1}),
    ("sma", {"timeperiod": 30}),
    ("sma", {"timeperiod": 200}),
    ("ema", {"timeperiod": 1}),
    ("ema", {"timeperiod": 30}),
    ("ema", {"timeperiod": 1000}),
    ("rsi", {"timeperiod": 2}),
    ("rsi", {"timeperiod": 14}),
    ("macd", {"fastperiod": 12, "slowperiod": 26, "signalperiod": 9}),
    ("macd", {"fastperiod": 26, "slowperiod": 12, "signalperiod": 9}),
    ("macd", {"fastperiod": 2, "slowperiod": 3, "signalperiod": 1}),
    ("bollinger", {"timeperiod": 5, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 0}),
    ("bollinger", {"timeperiod": 20, "nbdevup": 2.5, "nbdevdn": 1.5, "matype": 0}),
    ("bollinger", {"timeperiod": 20, "nbdevup": 2.0, "nbdevdn": 2.0, "matype": 1}),
    ("atr", {"timeperiod": 1}),
    ("atr", {"timeperiod": 14}),
    ("trange", {}),
]


def _compare(name: str, bars: Bars, kwargs: dict) -> None:
    ours_fn, ref_fn, crosses_zero = INDICATORS[name]
    ours = ours_fn(bars, **kwargs)
    ref = per_series(lambda *cols: ref_fn(Bars(*cols), **kwargs), *bars)
    assert all(o.dtype == jnp.float32 for o in jax.tree.leaves(ours))
    assert_outputs_match(ours, ref, crosses_zero=crosses_zero)


@pytest.mark.parametrize(("name", "kwargs"), CASES, ids=lambda v: str(v))
def test_matches_talib_on_sp500_and_random_walks(name, kwargs):
    """One call on [S&P 500, walk, walk] equals TA-Lib run on each series."""
    _compare(name, market_bars(), kwargs)


@pytest.mark.parametrize(
    ("ours", "name"),
    [
        (ind.sma, "SMA"),
        (ind.ema, "EMA"),
        (ind.rsi, "RSI"),
        (ind.macd, "MACD"),
        (ind.bollinger, "BBANDS"),
        (ind.atr, "ATR"),
    ],
)
def test_parameter_names_and_defaults_follow_talib(ours, name):
    ours_params = inspect.signature(ours).parameters
    for key, default in talib_abstract.Function(name).parameters.items():
        assert ours_params[key].default == default, key


def test_vmap_and_jit_agree_with_batched_call():
    close = market_bars().close
    batched = ind.ema(close, 30)
    mapped = jax.jit(jax.vmap(lambda x: ind.ema(x, 30)))(close)
    np.testing.assert_allclose(np.asarray(mapped), np.asarray(batched), rtol=1e-6, atol=0)
    np.testing.assert_array_equal(np.isnan(mapped), np.isnan(batched))


@pytest.mark.parametrize(
    ("ours", "ref"),
    [
        (lambda b: ind.ema(b.close, 30), lambda b: talib.EMA(b.close, 30)),
        (lambda b: ind.rsi(b.close, 14), lambda b: talib.RSI(b.close, 14)),
        (lambda b: ind.macd(b.close)[0], lambda b: talib.MACD(b.close)[0]),
        (
            lambda b: ind.atr(b.high, b.low, b.close, 14),
            lambda b: talib.ATR(b.high, b.low, b.close, 14),
        ),
        (lambda b: ind.bollinger(b.close, 20)[0], lambda b: talib.BBANDS(b.close, 20)[0]),
    ],
)
def test_series_shorter_than_warmup_is_all_nan(ours, ref):
    bars = random_walk((), 14, seed=3)
    out = np.asarray(ours(bars))
    assert out.shape == (14,)
    assert np.isnan(out).all() and np.isnan(ref(Bars(*map(f64, bars)))).all()


@pytest.mark.parametrize(
    "call",
    [
        lambda x: ind.sma(x, 0),
        lambda x: ind.ema(x, 0),
        lambda x: ind.rsi(x, 1),
        lambda x: ind.bollinger(x, 1),
        lambda x: ind.bollinger(x, 5, matype=2),
        lambda x: ind.macd(x, 1, 26, 9),
        lambda x: ind.macd(x, 12, 26, 0),
        lambda x: ind.atr(x, x, x, 0),
        lambda x: ind.realized_vol(x, 0),
        lambda x: ind.ema(x, 2.5),
        lambda x: ind.sma_init(0),
        lambda x: ind.ema_init(0),
        lambda x: ind.rsi_init(1),
        lambda x: ind.macd_init(1, 26, 9),
        lambda x: ind.bollinger_init(25, capacity=20),
        lambda x: ind.atr_init(0),
        lambda x: ind.vwap_init(0),
    ],
)
def test_out_of_range_parameters_are_refused(call):
    with pytest.raises(ValueError):
        call(jnp.ones(50))


def test_traced_window_needs_a_static_capacity():
    with pytest.raises(TypeError, match="capacity"):
        jax.vmap(ind.sma_init)(jnp.array([3, 5]))


def test_compensated_primitives_are_exact():
    """TwoProduct is exact in float32; double-float division is good to 2**-44."""
    rng = np.random.default_rng(12)
    a = (rng.standard_normal(10_000) * 10.0 ** rng.integers(-8, 8, 10_000)).astype(np.float32)
    b = (rng.standard_normal(10_000) * 10.0 ** rng.integers(-8, 8, 10_000)).astype(np.float32)
    p, e = jax.jit(numerics.two_prod)(a, b)
    np.testing.assert_array_equal(f64(p) + f64(e), f64(a) * f64(b))
    n = rng.integers(1, 5000, 10_000).astype(np.float32)
    hi, lo = jax.jit(numerics.df_div)(a, a * np.float32(2.0**-30), n)
    exact = (f64(a) + f64(a * np.float32(2.0**-30))) / f64(n)
    np.testing.assert_allclose(f64(hi) + f64(lo), exact, rtol=2.0**-44, atol=0)


# ---------------------------------------------------------------- no TA-Lib reference


def numpy_vwap(price, volume, timeperiod=None):
    notional = price * volume
    if timeperiod is None:
        return np.cumsum(notional) / np.cumsum(volume)
    kernel = np.ones(timeperiod)
    num = np.convolve(notional, kernel)[: len(price)]
    den = np.convolve(volume, kernel)[: len(price)]
    out = num / den
    out[: timeperiod - 1] = np.nan
    return out


def numpy_realized_vol(close, timeperiod, annualization=1.0):
    r = np.log(close[1:] / close[:-1])
    out = np.full(len(close), np.nan)
    for t in range(timeperiod, len(close)):
        out[t] = np.sqrt(annualization * np.mean(r[t - timeperiod : t] ** 2))
    return out


def numpy_ofi(bid_price, bid_size, ask_price, ask_size, timeperiod=1):
    e = np.zeros(len(bid_price))
    for t in range(1, len(bid_price)):
        e[t] = (
            (bid_size[t] if bid_price[t] >= bid_price[t - 1] else 0.0)
            - (bid_size[t - 1] if bid_price[t] <= bid_price[t - 1] else 0.0)
            - (ask_size[t] if ask_price[t] <= ask_price[t - 1] else 0.0)
            + (ask_size[t - 1] if ask_price[t] >= ask_price[t - 1] else 0.0)
        )
    out = np.full(len(e), np.nan)
    for t in range(timeperiod, len(e)):
        out[t] = e[t - timeperiod + 1 : t + 1].sum()
    return out


def random_quotes(shape, n, seed=0):
    """Best quotes on an integer tick grid (so unchanged prices are common)."""
    rng = np.random.default_rng(seed)
    mid = 1000 + np.cumsum(rng.integers(-1, 2, (*shape, n)), axis=-1)
    spread = rng.integers(1, 3, (*shape, n))
    bid = mid - spread // 2 - 1
    ask = bid + spread
    sizes = rng.integers(1, 500, (2, *shape, n))
    return tuple(np.asarray(a, np.float32) for a in (bid, sizes[0], ask, sizes[1]))


@pytest.mark.parametrize("timeperiod", [None, 1, 20])
def test_vwap_matches_numpy(timeperiod):
    bars = market_bars()
    ours = ind.vwap(bars.close, bars.volume, timeperiod)
    ref = per_series(lambda p, v: numpy_vwap(p, v, timeperiod), bars.close, bars.volume)
    assert_matches(ours, ref)


def test_vwap_is_nan_until_volume_trades():
    out = np.asarray(ind.vwap(jnp.array([10.0, 11.0, 12.0]), jnp.array([0.0, 2.0, 2.0])))
    assert np.isnan(out[0]) and out[1] == 11.0 and out[2] == 11.5


@pytest.mark.parametrize(("timeperiod", "annualization"), [(1, 1.0), (20, 252.0)])
def test_realized_vol_matches_numpy(timeperiod, annualization):
    close = market_bars().close
    ours = ind.realized_vol(close, timeperiod, annualization)
    ref = per_series(lambda c: numpy_realized_vol(c, timeperiod, annualization), close)
    assert_matches(ours, ref)


@pytest.mark.parametrize("timeperiod", [1, 10])
def test_ofi_matches_numpy(timeperiod):
    quotes = random_quotes((3,), 400, seed=4)
    ours = ind.ofi(*quotes, timeperiod=timeperiod)
    ref = per_series(lambda *q: numpy_ofi(*q, timeperiod=timeperiod), *quotes)
    assert_matches(ours, ref, scale=rms(ref))


def test_ofi_signs_by_hand():
    # Cont-Kukanov-Stoikov imbalance of each update, worked out by hand:
    bid = jnp.array([100.0, 101.0, 101.0, 100.0, 100.0])
    bsz = jnp.array([10.0, 5.0, 8.0, 7.0, 7.0])
    ask = jnp.array([102.0, 102.0, 101.5, 101.5, 103.0])
    asz = jnp.array([4.0, 6.0, 3.0, 3.0, 9.0])
    out = np.asarray(ind.ofi(bid, bsz, ask, asz))
    # t=1: bid up (+5); ask same (-6 + 4)            -> 3
    # t=2: bid same (+8 - 5); ask down (-3)          -> 0
    # t=3: bid down (-8); ask same (-3 + 3)          -> -8
    # t=4: bid same (+7 - 7); ask up (+3)            -> 3
    np.testing.assert_array_equal(out, [np.nan, 3.0, 0.0, -8.0, 3.0])


# ---------------------------------------------------------------- streaming


@functools.partial(jax.jit, static_argnums=0)
def run_stream(update, state, xs):
    """Scan ``update`` over the last axis of ``xs`` (an array or a tuple of arrays)."""
    moved = jax.tree.map(lambda a: jnp.moveaxis(a, -1, 0), xs)
    state, out = lax.scan(update, state, moved)
    return state, jax.tree.map(lambda a: jnp.moveaxis(a, 0, -1), out)


STREAMS = {
    "sma": (
        lambda s: ind.sma_init(30, s),
        ind.sma_update,
        lambda b: b.close,
        lambda b: ind.sma(b.close, 30),
    ),
    "ema": (
        lambda s: ind.ema_init(30, s),
        ind.ema_update,
        lambda b: b.close,
        lambda b: ind.ema(b.close, 30),
    ),
    "ema_long": (
        lambda s: ind.ema_init(1000, s),
        ind.ema_update,
        lambda b: b.close,
        lambda b: ind.ema(b.close, 1000),
    ),
    "rsi": (
        lambda s: ind.rsi_init(14, s),
        ind.rsi_update,
        lambda b: b.close,
        lambda b: ind.rsi(b.close, 14),
    ),
    "macd": (
        lambda s: ind.macd_init(12, 26, 9, s),
        ind.macd_update,
        lambda b: b.close,
        lambda b: ind.macd(b.close, 12, 26, 9),
    ),
    "bollinger": (
        lambda s: ind.bollinger_init(20, 2.5, 1.5, s),
        ind.bollinger_update,
        lambda b: b.close,
        lambda b: ind.bollinger(b.close, 20, 2.5, 1.5),
    ),
    "atr": (
        lambda s: ind.atr_init(14, s),
        ind.atr_update,
        lambda b: (b.high, b.low, b.close),
        lambda b: ind.atr(b.high, b.low, b.close, 14),
    ),
    "realized_vol": (
        lambda s: ind.realized_vol_init(20, 252.0, s),
        ind.realized_vol_update,
        lambda b: b.close,
        lambda b: ind.realized_vol(b.close, 20, 252.0),
    ),
    "vwap": (
        lambda s: ind.vwap_init(None, s),
        ind.vwap_update,
        lambda b: (b.close, b.volume),
        lambda b: ind.vwap(b.close, b.volume),
    ),
    "vwap_rolling": (
        lambda s: ind.vwap_init(20, s),
        ind.vwap_update,
        lambda b: (b.close, b.volume),
        lambda b: ind.vwap(b.close, b.volume, 20),
    ),
}


@pytest.mark.parametrize("name", sorted(STREAMS))
def test_streaming_reproduces_whole_array(name):
    init, update, inputs, whole = STREAMS[name]
    crosses_zero = name == "macd"
    bars = market_bars()
    _, out = run_stream(update, init(bars.close.shape[:-1]), inputs(bars))
    assert_outputs_match(out, whole(bars), crosses_zero=crosses_zero)


def test_streaming_ofi_reproduces_whole_array():
    quotes = random_quotes((2,), 500, seed=6)
    _, out = run_stream(ind.ofi_update, ind.ofi_init(10, (2,)), quotes)
    ref = ind.ofi(*quotes, timeperiod=10)
    assert_matches(out, ref, scale=rms(ref))


def test_streaming_state_has_fixed_size_and_resumes():
    """Scanning in three chunks equals one scan: the state carries everything."""
    close = market_bars().close
    state = ind.bollinger_init(20, 2.5, 1.5, close.shape[:-1])
    _, whole = run_stream(ind.bollinger_update, state, close)
    outs = []
    for chunk in np.split(close, 3, axis=-1):
        new, out = run_stream(ind.bollinger_update, state, chunk)
        assert jax.tree.map(jnp.shape, new) == jax.tree.map(jnp.shape, state)
        state = new
        outs.append(out)
    for i, w in enumerate(whole):
        np.testing.assert_array_equal(np.asarray(w), np.concatenate([o[i] for o in outs], -1))


def test_streaming_per_series_periods_with_vmap():
    """States built with vmap over periods (shared capacity) match TA-Lib for each period."""
    close = random_walk((3,), 300, seed=8).close
    periods = jnp.array([3, 7, 16])
    cases = [
        (lambda p: ind.sma_init(p, capacity=16), ind.sma_update, talib.SMA),
        (lambda p: ind.rsi_init(p), ind.rsi_update, talib.RSI),
    ]
    for init, update, reference in cases:
        states = jax.vmap(init)(periods)
        _, out = jax.vmap(lambda s, x, u=update: run_stream(u, s, x))(states, close)
        for i, p in enumerate(periods.tolist()):
            got = jax.tree.map(lambda a, i=i: a[i], out)
            assert_outputs_match(got, reference(f64(close[i]), p))


def test_streaming_windows_do_not_drift_over_long_runs():
    """100k ticks of a random walk that wanders over two orders of magnitude.

    Bands 1000 std wide make the comparison a test of the std itself, not only the mean.
    """
    n, p = 100_000, 20
    close = random_walk((), n, seed=9, vol=0.02).close
    assert close.max() / close.min() > 100
    state = ind.bollinger_init(p, 1000.0, 1000.0)
    _, (upper, middle, lower) = run_stream(ind.bollinger_update, state, close)
    _, sma_out = run_stream(ind.sma_update, ind.sma_init(p), close)
    _, rv = run_stream(ind.realized_vol_update, ind.realized_vol_init(p), close)
    tail = np.lib.stride_tricks.sliding_window_view(f64(close), p)[-2000:]
    mean, std = tail.mean(-1), tail.std(-1)
    np.testing.assert_allclose(np.asarray(middle)[-2000:], mean, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(sma_out)[-2000:], mean, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(upper)[-2000:], mean + 1000.0 * std, rtol=RTOL)
    np.testing.assert_allclose(np.asarray(lower)[-2000:], mean - 1000.0 * std, rtol=RTOL)
    rv_ref = numpy_realized_vol(f64(close[-2100:]), p)[-2000:]
    np.testing.assert_allclose(np.asarray(rv)[-2000:], rv_ref, rtol=RTOL)


def test_streaming_bollinger_after_the_variance_collapses():
    """A jump, then a flat window: std exactly 0, then a tiny std, as in two-pass TA-Lib."""
    x = np.r_[np.full(10, 100.0), np.full(30, 105.66)].astype(np.float32)
    x[25] = np.float32(105.6601)
    ref = talib.BBANDS(f64(x), 3, 1000.0, 1000.0)
    state = ind.bollinger_init(3, 1000.0, 1000.0, capacity=CAPACITY)
    _, got = run_stream(ind.bollinger_update, state, x)
    assert_outputs_match(got, ref)
    assert np.asarray(got[0])[15] == np.asarray(got[1])[15]  # flat window: std exactly 0


# ---------------------------------------------------------------- property tests

_prices = st.lists(
    st.floats(-0.0625, 0.0625, allow_nan=False, width=32), min_size=40, max_size=40
).map(lambda r: (100.0 * np.exp(np.cumsum(r))).astype(np.float32))


@settings(max_examples=40, deadline=None)
@given(
    close=_prices,
    p=st.integers(2, CAPACITY),
    q=st.integers(2, CAPACITY),
    s=st.integers(1, 6),
)
def test_streaming_matches_talib_for_any_periods(close, p, q, s):
    """Random short series and periods (one compiled scan: periods are state leaves)."""
    x = f64(close)
    hi = (close * 1.01).astype(np.float32)
    lo = (close * 0.99).astype(np.float32)
    _, got = run_stream(ind.sma_update, ind.sma_init(p, capacity=CAPACITY), close)
    assert_matches(got, talib.SMA(x, p))
    _, got = run_stream(ind.ema_update, ind.ema_init(p), close)
    assert_matches(got, talib.EMA(x, p))
    _, got = run_stream(ind.rsi_update, ind.rsi_init(p), close)
    assert_matches(got, talib.RSI(x, p))
    _, got = run_stream(ind.atr_update, ind.atr_init(p), (hi, lo, close))
    assert_matches(got, talib.ATR(f64(hi), f64(lo), x, p))
    state = ind.bollinger_init(p, 2.0, 1.0, capacity=CAPACITY)
    _, got = run_stream(ind.bollinger_update, state, close)
    assert_outputs_match(got, talib.BBANDS(x, p, 2.0, 1.0))
    _, got = run_stream(ind.macd_update, ind.macd_init(p, q, s), close)
    assert_outputs_match(got, talib.MACD(x, p, q, s), crosses_zero=True)


@settings(max_examples=15, deadline=None)
@given(close=_prices)
def test_whole_array_matches_talib_on_random_series(close):
    x, p = f64(close), 3
    assert_matches(ind.ema(close, p), talib.EMA(x, p))
    assert_matches(ind.rsi(close, p), talib.RSI(x, p))
    assert_outputs_match(ind.bollinger(close, p), talib.BBANDS(x, p))
    assert_outputs_match(
        ind.macd(close, p, p + 4, p), talib.MACD(x, p, p + 4, p), crosses_zero=True
    )

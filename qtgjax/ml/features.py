"""The canonical ML feature set: streamed in the tick (O(1) per tick), and offline from
``ticks.parquet`` by the same functions.

After every auction :func:`update_features` reads the tick's record (close, volume, taker
flow, best quotes, depth, fundamental, news) and the market's streaming indicators
(:mod:`qtgjax.sim.signals`, the :mod:`qtgjax.indicators` streams) and stores
float32[S, F] in ``FeatureState.value``; agents see it next tick as ``MarketView.features``.
:func:`offline_features` scans the same two updates over a ticks table, so the features an
agent saw at tick t equal the offline row of tick t.

Warm-up: a feature whose inputs are not there yet takes its *neutral* value (what it
equals in a quiet, balanced market), never NaN. Columns, in order (:data:`FEATURES`):

========================  ===================================  ==============  =======
name                      definition                           unit            neutral
========================  ===================================  ==============  =======
ret_1, ret_5, ret_20      log(close / close h ticks before)    log return      0
realized_vol              sqrt(mean of 20 squared 1-tick       log return /    0
                          log returns)                         tick
rsi                       Wilder RSI (market.indicators.rsi)   0..100          50
macd_hist                 (MACD - signal) / close              fraction        0
bollinger_b               (close - lower) / (upper - lower)    band widths     0.5
atr                       Wilder ATR / close                   fraction        0
spread                    (best ask - best bid) / mid          fraction        0
imbalance                 (bid lots - ask lots) / (sum)        -1..1           0
volume_z                  (volume - EMA mean) / EMA sd,        sd              0
                          EMA over 20 ticks, before this tick
taker_flow                signed taker lots / volume           -1..1           0
fundamental_gap           log(fundamental / close)             log ratio       (always)
news                      log-dividend jump of the tick        log ratio       0
position (agent)          own position / max_position          -1..1           0
========================  ===================================  ==============  =======

``position`` is the agent's own: families append it (:func:`agent_features`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax import indicators as ind
from qtgjax.market.types import Indicators
from qtgjax.tree import pytree

RETURN_HORIZONS = (1, 5, 20)
VOL_WINDOW = 20
VOLUME_EMA = 20
MARKET_FEATURES = (
    *(f"ret_{h}" for h in RETURN_HORIZONS),
    "realized_vol",
    "rsi",
    "macd_hist",
    "bollinger_b",
    "atr",
    "spread",
    "imbalance",
    "volume_z",
    "taker_flow",
    "fundamental_gap",
    "news",
)
FEATURES = (*MARKET_FEATURES, "position")
NEUTRAL = {name: 0.0 for name in FEATURES} | {"rsi": 50.0, "bollinger_b": 0.5}


@pytree
class FeatureInputs:
    """One tick's inputs per symbol (the TickRecord fields of the same names).

    Attributes:
        close: int32[S] ticks. volume: int32[S] lots. taker_flow: int32[S] lots.
        best_bid, best_ask: int32[S] ticks (0 = side empty).
        bid_depth, ask_depth: int32[S] lots. fundamental: float32[S] ticks.
        news: float32[S] log-dividend jump.
    """

    close: jnp.ndarray
    volume: jnp.ndarray
    taker_flow: jnp.ndarray
    best_bid: jnp.ndarray
    best_ask: jnp.ndarray
    bid_depth: jnp.ndarray
    ask_depth: jnp.ndarray
    fundamental: jnp.ndarray
    news: jnp.ndarray


@pytree
class FeatureState:
    """Attributes:
    closes: float32[H, S] ring of the last H = max(RETURN_HORIZONS) + 1 closes, ticks.
    count: int32[] closes pushed into the ring.
    vol: realised-volatility stream state (:mod:`qtgjax.indicators`).
    volume_mean, volume_var: float32[S] EMA mean / variance of the volume, lots.
    value: float32[S, len(MARKET_FEATURES)] the features after the latest tick.
    """

    closes: jnp.ndarray
    count: jnp.ndarray
    vol: object
    volume_mean: jnp.ndarray
    volume_var: jnp.ndarray
    value: jnp.ndarray


def init_features(price) -> FeatureState:
    """Before the first auction: the initial price is the only close; all neutral."""
    p = jnp.asarray(price).astype(jnp.float32)
    n_hist = max(RETURN_HORIZONS) + 1
    vol, _ = ind.realized_vol_update(ind.realized_vol_init(VOL_WINDOW, shape=p.shape), p)
    neutral = jnp.asarray([NEUTRAL[n] for n in MARKET_FEATURES], jnp.float32)
    zeros = jnp.zeros_like(p)
    return FeatureState(
        closes=jnp.zeros((n_hist, *p.shape), jnp.float32).at[0].set(p),
        count=jnp.int32(1),
        vol=vol,
        volume_mean=zeros,
        volume_var=zeros,
        value=jnp.broadcast_to(neutral, (*p.shape, len(MARKET_FEATURES))),
    )


def _finite(x, neutral: float) -> jnp.ndarray:
    return jnp.where(jnp.isfinite(x), x, neutral).astype(jnp.float32)


def update_features(st: FeatureState, x: FeatureInputs, indic: Indicators) -> FeatureState:
    """Push one tick (its record ``x`` and the indicators after its close)."""
    price = x.close.astype(jnp.float32)
    n_hist = st.closes.shape[0]
    closes = st.closes.at[st.count % n_hist].set(price)
    count = st.count + 1
    rets = []
    for h in RETURN_HORIZONS:
        before = closes[(count - 1 - h) % n_hist]
        rets.append(jnp.where(count > h, jnp.log(price / before), 0.0))
    vol, rv = ind.realized_vol_update(st.vol, price)
    volume = x.volume.astype(jnp.float32)
    a = 2.0 / (VOLUME_EMA + 1.0)
    seen = count - 1  # volumes seen including this one
    sd = jnp.sqrt(st.volume_var)
    z = jnp.where((seen > VOLUME_EMA) & (sd > 0), (volume - st.volume_mean) / sd, 0.0)
    first = seen == 1
    dev = volume - st.volume_mean
    mean = jnp.where(first, volume, st.volume_mean + a * dev)
    var = jnp.where(first, 0.0, (1.0 - a) * (st.volume_var + a * dev * dev))
    band = indic.bb_upper - indic.bb_lower
    pct_b = jnp.where(band > 0, (price - indic.bb_lower) / jnp.where(band > 0, band, 1.0), 0.5)
    both = (x.best_bid > 0) & (x.best_ask > 0)
    mid = 0.5 * (x.best_bid + x.best_ask).astype(jnp.float32)
    spread = jnp.where(both, (x.best_ask - x.best_bid) / jnp.where(both, mid, 1.0), 0.0)
    depth = (x.bid_depth + x.ask_depth).astype(jnp.float32)
    imbalance = jnp.where(depth > 0, (x.bid_depth - x.ask_depth) / jnp.maximum(depth, 1.0), 0.0)
    flow = jnp.where(volume > 0, x.taker_flow / jnp.maximum(volume, 1.0), 0.0)
    cols = [
        *rets,
        _finite(rv, 0.0),
        _finite(indic.rsi, 50.0),
        _finite((indic.macd - indic.macd_signal) / price, 0.0),
        _finite(pct_b, 0.5),
        _finite(indic.atr / price, 0.0),
        spread,
        imbalance,
        _finite(z, 0.0),
        flow,
        jnp.log(x.fundamental / price),
        x.news,
    ]
    value = jnp.stack([c.astype(jnp.float32) for c in cols], axis=-1)
    return FeatureState(closes, count, vol, mean, var, value)


def feature_inputs(record) -> FeatureInputs:
    """The inputs of :func:`update_features` from a tick's ``TickRecord``."""
    return FeatureInputs(**{f: getattr(record, f) for f in FeatureInputs.__dataclass_fields__})


def agent_features(market, position, max_position) -> jnp.ndarray:
    """float32[N, S, F] the features of every (agent, symbol): the symbol's market
    features [S, F - 1] and the agent's position / max_position [N, S]."""
    own = (position / jnp.maximum(max_position, 1)).astype(jnp.float32)[..., None]
    return jnp.concatenate([jnp.broadcast_to(market, (*own.shape[:2], market.shape[-1])), own],
                           axis=-1)


def _offline_scan(open0, inputs: FeatureInputs, ind_params, history: int):
    from qtgjax.sim.signals import init_indicators, update_indicators

    st0 = (init_indicators(open0, ind_params, history), init_features(open0))

    def step(carry, x):
        ind_state, feat = carry
        ind_state = update_indicators(ind_state, x.close, ind_params)
        feat = update_features(feat, x, ind_state.view)
        return (ind_state, feat), feat.value

    _, values = jax.lax.scan(step, st0, inputs)
    return jnp.concatenate([st0[1].value[None], values[:-1]])  # row t: seen at tick t


_offline = jax.jit(_offline_scan, static_argnames=("history",))


def features_of(open0, inputs: FeatureInputs, ind_params, history: int) -> np.ndarray:
    """float32[T, S, len(MARKET_FEATURES)] of T ticks' inputs (each field [T, S]) from the
    price before the first (``open0`` int32[S] ticks): row t is what agents saw at the
    start of tick t. The scan behind :func:`offline_features` and historical bars
    (:mod:`qtgjax.ml.history`)."""
    return np.asarray(_offline(open0, inputs, ind_params, history))


def offline_features(ticks, tick_size: float, ind_params, history: int) -> np.ndarray:
    """float32[T, S, len(MARKET_FEATURES)] for one scenario of a ``ticks.parquet`` table
    (a Polars frame): row t is what agents saw at the start of tick t.

    ``ind_params``/``history``: the run's ``market.indicators`` and ``market.history``
    (:func:`qtgjax.config.build.build` gives both).
    """
    t = ticks.sort("symbol", "tick")
    n_s = t["symbol"].n_unique()

    def grid(name, kind):
        v = t[name].fill_null(0.0).to_numpy().astype(np.float64).reshape(n_s, -1).T
        if kind == "price":
            return jnp.asarray(np.rint(v / tick_size).astype(np.int32))
        if kind == "int":
            return jnp.asarray(v.astype(np.int32))
        return jnp.asarray((v / tick_size if kind == "ticks" else v).astype(np.float32))

    inputs = FeatureInputs(
        close=grid("close", "price"), volume=grid("volume", "int"),
        taker_flow=grid("taker_flow", "int"), best_bid=grid("best_bid", "price"),
        best_ask=grid("best_ask", "price"), bid_depth=grid("bid_depth", "int"),
        ask_depth=grid("ask_depth", "int"), fundamental=grid("fundamental", "ticks"),
        news=grid("news", "float"),
    )
    return features_of(grid("open", "price")[0], inputs, ind_params, history)

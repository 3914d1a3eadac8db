"""A smoothed batch auction whose temperature -> 0 gives back the exact auction.

The exact auction (:mod:`qtgjax.market.auction`) is a chain of step functions, max, argmax
and integer rounding: its derivative w.r.t. order prices and sizes is zero or undefined.
Here every step is replaced by a smooth counterpart. For one book of ``n`` orders with
real limit levels ``x`` and real sizes ``q`` on a grid of ``K`` levels:

* Soft curves: buy ``i`` reaches level ``l`` with weight ``sigmoid((x_i - l + 1/2) / T)``
  and is strictly better than it with ``sigmoid((x_i - l - 1/2) / T)`` (mirrored for
  sells); ``D(l)``, ``S(l)`` and their strictly-better parts are the weighted sums of ``q``.
  On integer levels and ``T -> 0`` these are the exact step functions.
* Clearing weights: the score of level ``l`` is ``min(D, S)`` minus nested penalties for
  the exact tie-breaks, in lots:
  ``a * (min(viol, 1) + b * (|D - S| + c * (|l - ref| + d * l / K) / K) / Q)`` (``a..d``
  = ``config``'s filter, imbalance, reference and lowest weights; ``|l - ref|`` is
  smoothed at 0 over ``temperature``), where
  ``viol`` is the consistency-filter violation (strictly better lots beyond the best
  volume) and ``Q`` the larger side's total. With ``a, b, c, d`` in (0, 1/2], on integer
  books these penalties keep the exact lexicographic order (volume, filter, imbalance,
  reference, lowest). ``softmax(score / volume_temperature)`` weights the levels; the soft
  clearing price is the expected level.
* Fills: at each level, strictly better orders fill fully, the orders at the level are
  rationed pro-rata so that each side trades ``min(D, S)`` (scaled down if the filter is
  violated), and the fills are averaged over levels with the clearing weights. Buy and
  sell fills (and cash) therefore balance exactly.

What is relaxed versus the exact auction: lots and levels are real numbers, fills are
expectations (fractional pro-rata, no integer remainders), and time priority is ignored
(the relaxed market has no resting book). The tie-breaks are penalties of about 1e-4 lots
(reference) and 1e-6 lots (lowest) on a 100-lot book, so they decide only at temperatures
of that order; at the market's working temperatures exact ties split the weight.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from qtgjax.diff.types import SmoothConfig, SoftAuctionResult


class Curves(NamedTuple):
    """Soft per-order reach matrices and per-level curves of one book.

    Attributes:
        reach: float[n, K] order i's limit is at or better than level l.
        full: float[n, K] order i's limit is strictly better than level l.
        demand, supply: float[K] lots reaching each level, D(l) and S(l).
        demand_better, supply_better: float[K] lots strictly better than each level.
        total: float[] the larger side's total lots (at least 1).
        levels: float[K] 0, 1, ..., K - 1.
    """

    reach: jnp.ndarray
    full: jnp.ndarray
    demand: jnp.ndarray
    supply: jnp.ndarray
    demand_better: jnp.ndarray
    supply_better: jnp.ndarray
    total: jnp.ndarray
    levels: jnp.ndarray


def soft_curves(x, qty, is_buy, n_levels: int, temperature) -> Curves:
    """Soft demand and supply on the grid.

    Args:
        x: float[n] limit level of each order (real). qty: float[n] lots >= 0.
        is_buy: bool[n]. n_levels: K (static). temperature: float sigmoid width, levels.
    """
    levels = jnp.arange(n_levels, dtype=x.dtype)
    distance = jnp.where(is_buy[:, None], x[:, None] - levels, levels - x[:, None])
    reach = jax.nn.sigmoid((distance + 0.5) / temperature)
    full = jax.nn.sigmoid((distance - 0.5) / temperature)
    buy_qty = jnp.where(is_buy, qty, 0.0)
    sell_qty = jnp.where(is_buy, 0.0, qty)
    total = jnp.maximum(jnp.maximum(buy_qty.sum(), sell_qty.sum()), 1.0)
    return Curves(
        reach,
        full,
        buy_qty @ reach,
        sell_qty @ reach,
        buy_qty @ full,
        sell_qty @ full,
        total,
        levels,
    )


def clearing_score(c: Curves, ref_level, config: SmoothConfig):
    """float[K] score per level in lots (see the module docstring); larger is better."""
    n_levels = c.levels.shape[0]
    executed = jnp.minimum(c.demand, c.supply)
    best = jnp.max(executed)
    violation = jax.nn.relu(c.demand_better - best) + jax.nn.relu(c.supply_better - best)
    ref = jnp.clip(jnp.asarray(ref_level, c.levels.dtype), 0, n_levels - 1)
    distance = _smooth_abs(c.levels - ref, config.temperature)
    tail = distance + config.lowest_weight * c.levels / n_levels
    inner = jnp.abs(c.demand - c.supply) + config.reference_weight * tail / n_levels
    penalty = config.imbalance_weight * inner / c.total
    return executed - config.filter_weight * (jnp.minimum(violation, 1.0) + penalty)


def _smooth_abs(z, width):
    """``sqrt(z^2 + width^2) - width``: |z| without the kink at 0 (-> |z| as width -> 0)."""
    return jnp.sqrt(z**2 + width**2) - width


def _safe_ratio(num, den, floor):
    """``num / den`` where ``den > floor``, else 0, with finite gradients everywhere."""
    ok = den > floor
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 0.0)


def side_rationing(better, at_or_better, executed):
    """How one side trades if the book clears at each level (float[K] each).

    Args:
        better, at_or_better: float[K] this side's strictly-better and reaching lots.
        executed: float[K] lots each side trades at each level.

    Returns:
        (ration, scale): an order of this side fills ``scale * (full + ration * (reach -
        full))`` of its lots at level l, where ``reach`` / ``full`` are its soft "at or
        better" / "strictly better" weights: strictly better lots fill, the lots at the
        level share what is left pro-rata, and ``scale`` (<= 1) cuts all fills back when
        the strictly better lots alone exceed ``executed``. Summed over the side's orders
        the fills equal ``executed``.
    """
    at_level = at_or_better - better
    ration = jnp.clip(_safe_ratio(executed - better, at_level, 1e-12), 0.0, 1.0)
    scale = jnp.minimum(_safe_ratio(executed, better + ration * at_level, 1e-6), 1.0)
    return ration, scale


def expected_fills(c: Curves, qty, is_buy, executed, weights):
    """(filled, notional) float[n]: fills and fill * level averaged over the clearing
    weights, as two [n, K] x [K, 4] products (no [n, K] fill matrix is formed)."""
    r_buy, s_buy = side_rationing(c.demand_better, c.demand, executed)
    r_sell, s_sell = side_rationing(c.supply_better, c.supply, executed)
    w_full = jnp.stack([weights * s_buy * (1 - r_buy), weights * s_sell * (1 - r_sell)], -1)
    w_reach = jnp.stack([weights * s_buy * r_buy, weights * s_sell * r_sell], -1)
    level_col = c.levels[:, None]
    per_full = c.full @ jnp.concatenate([w_full, w_full * level_col], -1)  # [n, 4]
    per_reach = c.reach @ jnp.concatenate([w_reach, w_reach * level_col], -1)
    both = per_full + per_reach  # buy fill, sell fill, buy notional, sell notional
    filled = qty * jnp.where(is_buy, both[:, 0], both[:, 1])
    notional = qty * jnp.where(is_buy, both[:, 2], both[:, 3])
    return filled, notional


def smooth_clear(x, qty, is_buy, ref_level, config: SmoothConfig, n_levels: int, half_width=None):
    """Clear one book with the smoothed auction.

    Args:
        x: float[n] limit level of each order on the grid [0, K) (real; a buy above the
            grid should be passed as K - 1 and a sell below it as 0, as the engine does).
        qty: float[n] lots >= 0 (0 = no order).
        is_buy: bool[n] side.
        ref_level: float[] reference level of the distance tie-break (usually the last
            price), clipped to the grid.
        config: temperatures and tie-break weights.
        n_levels: K (static).
        half_width: optional float[] levels; a level farther than this from
            ``ref_level`` loses about ``Q`` lots of score per level beyond (``Q`` = the
            larger side's total; a softplus of width ``temperature``), so it is never
            chosen, and the window of candidate levels moves smoothly with ``ref_level``
            (the grid's own edges do not).

    Returns:
        :class:`SoftAuctionResult`. As both temperatures -> 0 on an integer book, ``price``
        and ``volume`` tend to the exact clearing level and volume and ``filled`` to the
        exact fills up to their integer pro-rata remainders (< 1 lot per order).

    Example:
        >>> import jax.numpy as jnp
        >>> from qtgjax.diff import smooth_clear, smooth_config
        >>> r = smooth_clear(jnp.array([5., 4., 3., 4.]), jnp.array([10., 5., 8., 4.]),
        ...     jnp.array([True, True, False, False]), 0.0, smooth_config(1e-3), 8)
        >>> round(float(r.price), 3), round(float(r.volume), 3)
        (4.0, 12.0)
    """
    c = soft_curves(x, qty, is_buy, n_levels, config.temperature)
    score = clearing_score(c, ref_level, config)
    if half_width is not None:
        beyond = (jnp.abs(c.levels - ref_level) - half_width) / config.temperature
        score = score - c.total * config.temperature * jax.nn.softplus(beyond)
    weights = jax.nn.softmax((score - jnp.max(score)) / config.volume_temperature)
    executed = jnp.minimum(c.demand, c.supply)
    filled, notional = expected_fills(c, qty, is_buy, executed, weights)
    return SoftAuctionResult(
        price=weights @ c.levels,
        volume=weights @ executed,
        filled=filled,
        notional=notional,
        weights=weights,
    )

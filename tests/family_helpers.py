"""Shared helpers to drive one family by hand: a controlled market view and accounts."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from qtgjax import load_config
from qtgjax.agents.registry import get_family
from qtgjax.agents.types import FamilySpec
from qtgjax.config.build import build_family
from qtgjax.market import money
from qtgjax.market.types import Accounts, Indicators, MarketView, Orders


def family_setup(kind: str, n_agents: int = 8, n_symbols: int = 2, **param_overrides):
    """(family, spec, params) from ``conf/agents/<kind>.yaml`` with params overridden."""
    cfg = load_config([f"+agents@families.probe={kind}"])["families"]["probe"]
    cfg = {**cfg, "n_agents": n_agents, "params": {**cfg["params"], **param_overrides}}
    spec, _, params = build_family("probe", cfg, n_symbols, 128)
    return get_family(kind), spec, params


def view(price=(1000, 500), **fields) -> MarketView:
    """A market view at ``price`` (ticks); indicators default to a flat market."""
    p = jnp.asarray(price, jnp.int32)
    f = p.astype(jnp.float32)
    zeros = jnp.zeros_like(f)
    indicators = dict(
        sma_fast=f,
        sma_slow=f,
        rsi=jnp.full_like(f, 50.0),
        macd=zeros,
        macd_signal=zeros,
        bb_mid=f,
        bb_upper=f + 10,
        bb_lower=f - 10,
        range_high=f + 5,
        range_low=f - 5,
        atr=zeros + 1,
        pair_z=zeros,
        ready=jnp.bool_(True),
    )
    indicators.update({k: jnp.asarray(v, jnp.float32) for k, v in fields.pop("ind", {}).items()})
    base = dict(
        tick=jnp.int32(100),
        last_price=p,
        best_bid=p - 1,
        best_ask=p + 1,
        anchor=p,
        fundamental=f,
        ema_fast=f,
        ema_slow=f,
        volatility=zeros + 1e-6,
        news=zeros,
        volume=jnp.zeros_like(p),
        sector=jnp.zeros_like(p),
        indicators=Indicators(**indicators),
    )
    base.update({k: jnp.asarray(v) for k, v in fields.items()})
    return MarketView(**base)


def accounts(spec: FamilySpec, n_slots: int, position=0, cash=10_000_000) -> Accounts:
    n, s = spec.n_agents, spec.n_symbols
    return Accounts(
        cash=money.from_int(jnp.full((n,), cash, jnp.int32)),
        position=jnp.broadcast_to(jnp.asarray(position, jnp.int32), (n, s)),
        external=money.zeros((n,)),
        orders=Orders.empty(n, s, n_slots),
    )


def act(family, spec, params, acct, market_view, extra, seed=0):
    """One call of the family's act: (intent, new extra)."""
    return family.act(spec, params, extra, acct, market_view, jax.random.key(seed))


def run_ticks(family, spec, params, views, position=0, seed=0):
    """Feed a sequence of views; the position follows each intent as if fully filled."""
    extra = family.init_extra(spec, params, jax.random.key(seed))
    acct = accounts(spec, family.n_slots(spec), position)
    intents = []
    for i, v in enumerate(views):
        intent, extra = act(family, spec, params, acct, v, extra, seed + i + 1)
        signed = jnp.where(intent.is_buy, intent.qty, -intent.qty).sum(-1)
        acct = acct.replace(position=acct.position + jnp.where(intent.replace[..., 0], signed, 0))
        intents.append(intent)
    return intents, extra, acct

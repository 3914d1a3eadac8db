"""The market an environment runs on, and the plumbing between the env and its learners.

The default env market is the engine's default market cut to one symbol and about 1,150
agents (background pool, 800 noise, 150 fundamental, 150 momentum, 20 market makers,
20 Avellaneda-Stoikov makers, the exchange's fee account) plus the ``learner`` family.
Dividends (and with them borrow costs) are switched off (``dividend_period`` = 1e9) so
that a learner's cash changes only by its trades and fees; override
``fundamentals.dividend_period`` to bring them back (they then count in P&L).
"""

from __future__ import annotations

from collections.abc import Sequence

import jax

from qtgjax.agents.families.learner import set_pending
from qtgjax.agents.registry import get_family
from qtgjax.api import load_config
from qtgjax.config.build import Built, build
from qtgjax.market.types import Accounts, OrderIntent
from qtgjax.sim.tick import step as tick_step
from qtgjax.sim.types import SimParams, SimState, SimStatic

DEFAULT_MARKET: tuple[str, ...] = (
    "market.symbols=1",
    "market.initial_price=[5000]",
    "market.sectors=[0]",
    "market.levels=64",
    "market.recentre=16",
    "families.noise.n_agents=800",
    "families.fundamental.n_agents=150",
    "families.momentum.n_agents=150",
    "families.market_maker.n_agents=20",
    "+agents@families.avellaneda_stoikov=avellaneda_stoikov",
    "fundamentals.dividend_period=1000000000",
)


def build_market(
    n_learners: int, overrides: Sequence[str] = (), config_name: str = "config"
) -> Built:
    """Validated static shapes and params of the env market with ``n_learners`` learners;
    ``overrides`` are Hydra ``key=value`` strings applied after :data:`DEFAULT_MARKET`;
    ``~agents@families.NAME`` removes a family (and the defaults' settings of it).
    ``config_name`` is the market config the overrides apply to (``conf/NAME.yaml``):
    ``venues`` gives the three-venue market of ``qtgjax-run --config-name venues`` (its
    venues, latency profiles and arbitrage families) cut to the env market's one symbol."""
    cfg = load_config(
        [
            *_without_removed(overrides),
            "+agents@families.learner=learner",
            f"families.learner.n_agents={n_learners}",
        ],
        config_name=config_name,
    )
    return build(cfg)


def _without_removed(overrides: Sequence[str]) -> list[str]:
    """DEFAULT_MARKET + overrides, minus the settings of families that the overrides
    remove (``~agents@families.NAME``), which Hydra would refuse."""
    removed = {o.split("@", 1)[1] for o in overrides if o.startswith("~agents@")}

    def family(line: str) -> str:
        key = line.split("=", 1)[0].lstrip("+~")
        key = key.split("@", 1)[1] if "@" in key else key
        return ".".join(key.split(".")[:2])

    added = {family(d) for d in DEFAULT_MARKET if d.startswith("+agents@")}
    kept = [d for d in DEFAULT_MARKET if family(d) not in removed]
    return kept + [o for o in overrides if not (o.startswith("~") and family(o) in added)]


def learner_index(static: SimStatic) -> int:
    """Index of the (one) family an env drives (``Family.env_driven``) in the market."""
    driven = [i for i, f in enumerate(static.families) if get_family(f.kind).env_driven]
    if len(driven) != 1:
        kinds = [f.kind for f in static.families]
        raise ValueError(
            f"an env market needs exactly one env-driven (learner) family, got kinds {kinds}"
        )
    return driven[0]


def learner_accounts(sim: SimState, index: int) -> Accounts:
    """The learners' accounts: cash Money[L], position int32[L, S], resting orders as the
    books hold them, [L, S, V * 2] (slot ``v * 2 + o`` is slot ``o`` on venue ``v``)."""
    return sim.accounts[index]


def with_intent(sim: SimState, index: int, intent: OrderIntent, venue=None) -> SimState:
    """The market state with the learners' orders [L, S, 2] pending for the next tick, each
    on its ``venue`` (int32[L, S, 2], -1 = the learner family's route; None: all routed)."""
    extras = list(sim.extras)
    extras[index] = set_pending(extras[index], intent, venue)
    return sim.replace(extras=tuple(extras))


def run_ticks(static: SimStatic, params: SimParams, sim: SimState, key, n_ticks: int):
    """``n_ticks`` ticks of the market with the learners idle (``lax.scan``)."""
    keys = jax.random.split(key, n_ticks)
    return jax.lax.scan(lambda s, k: (tick_step(static, params, s, k)[0], None), sim, keys)[0]

"""A trained RL policy as a backtest strategy: ``strategy=policy policy.path=DIR``.

The policy (:func:`qtgjax.train.load_policy`) acts on bars exactly as it acted in its
environment (:class:`qtgjax.env.MarketEnv`): each bar its task (``execution``,
``market_making``, ``trading``) builds the observation from the bar's
:class:`~qtgjax.market.types.MarketView` and the column's account
(:func:`qtgjax.env.features.build_obs`, the env's own features), the policy maps it to an
action (:func:`qtgjax.train.policy.act`) and the task turns the action into orders
(``task.intent``), which the bar fill model fills. The task's episode state lives in the
family's state, so it is part of the backtest's scan carry: at the next bar the task
scores the step (``task.update`` with the accounts before and after, the env's
transition) and starts a new episode where that one ended (the env's auto-reset).

Before a column's indicators are ready the policy places nothing (the env's ``warmup``
ticks); its first episode starts on the first ready bar. Task numbers (``horizon``,
``position_limit``, ``target``...) are the env's as the policy was trained, overridable
with ``params.NAME`` and sweepable with ``grid.NAME``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.agents.families.learner import LEARNER_SLOTS
from qtgjax.agents.types import AccountParams, Family, array_param
from qtgjax.backtest.engine import bar_view
from qtgjax.backtest.strategies import POLICY
from qtgjax.config.build import ConfigError
from qtgjax.env.features import build_obs
from qtgjax.env.tasks.base import Task
from qtgjax.market.types import Accounts, Indicators, MarketView, OrderIntent
from qtgjax.sim.rollout import init_accounts
from qtgjax.train.adapter import AgentLayout
from qtgjax.train.policy import act as policy_act
from qtgjax.tree import pytree


@pytree
class PolicyParams:
    """One column's policy and task numbers.

    Attributes:
        network: actor-critic parameters (:mod:`qtgjax.train.networks`), float32 arrays.
        obs_stats: :class:`~qtgjax.train.types.ObsStats` observation moments float32[F].
        task: the task's ``Params`` (its numbers: horizon, limits, ...).
    """

    network: Any = array_param()
    obs_stats: Any = array_param()
    task: Any = array_param()


@pytree
class PolicyState:
    """The task's episode as the scan carries it (N = 1 agent per column).

    Attributes:
        task: the task's episode state (e.g. :class:`~qtgjax.env.tasks.trading.TradingState`).
        t: int32[] bars done in the current episode.
        started: bool[] the first episode has begun (the indicators were ready).
        before: :class:`~qtgjax.market.types.Accounts` at the last decision (the task's
            ``update`` compares them with the accounts now).
        action: int32[N, A] the last action.
    """

    task: Any
    t: jnp.ndarray
    started: jnp.ndarray
    before: Accounts
    action: jnp.ndarray


def empty_view(n_symbols: int) -> MarketView:
    """A bar's view of zeros (its shapes; :func:`~qtgjax.backtest.engine.bar_view`)."""
    i = jnp.zeros((n_symbols,), jnp.int32)
    f = jnp.zeros((n_symbols,), jnp.float32)
    names = [x.name for x in fields(Indicators) if x.name != "ready"]
    ind = Indicators(**dict.fromkeys(names, f), ready=jnp.bool_(False))
    return bar_view(jnp.int32(0), i, i, dict.fromkeys(("ema_fast", "ema_slow", "volatility"), f),
                    ind, 0.0)


def empty_accounts(spec) -> Accounts:
    """Accounts of zeros with the learner's order slots (their shapes)."""
    zero_i, zero_f = jnp.int32(0), jnp.float32(0.0)
    return init_accounts(spec, AccountParams(zero_i, zero_i, zero_i, zero_f, zero_f, zero_f),
                         LEARNER_SLOTS)


def tree_where(cond, new, old):
    return jax.tree.map(lambda a, b: jnp.where(cond, a, b), new, old)


@dataclass(frozen=True)
class PolicyTrader(Family):
    """A trained policy trading one agent per column (see the module docstring).

    Static (hashable, one compile per policy architecture and task):

    Attributes:
        task: the env's task with one learner and the column's symbols.
        layout: the policy's :class:`~qtgjax.train.adapter.AgentLayout` (one learner).
        activation: hidden activation of its networks.
        normalize: whether observations are standardised with ``obs_stats``.
        deterministic: act with the distribution's mode (else sample with the bar's key).
    """

    task: Task
    layout: AgentLayout
    activation: str
    normalize: bool
    deterministic: bool = True

    kind: ClassVar[str] = POLICY
    Params: ClassVar[type] = PolicyParams

    def n_slots(self, spec):
        return LEARNER_SLOTS

    def init_extra(self, spec, params, key):
        acct = empty_accounts(spec)
        shape = jax.eval_shape(self.task.start, key, acct, empty_view(spec.n_symbols),
                               params.task)
        return PolicyState(
            task=jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shape),
            t=jnp.int32(0),
            started=jnp.bool_(False),
            before=acct,
            action=jnp.zeros((spec.n_agents, self.layout.spec.size), jnp.int32),
        )

    def act(self, spec, params, extra: PolicyState, accounts, view, key):
        task, tp = self.task, params.task
        k_start, k_act = jax.random.split(key)
        # the env's transition: the last decision's step is scored now that its fills are in
        ts, _, done, _ = task.update(extra.task, extra.before, accounts, view, extra.t + 1, tp)
        begin = ~extra.started | done  # the env's auto-reset: a new episode on this bar
        ts = tree_where(begin, task.start(k_start, accounts, view, tp), ts)
        t = jnp.where(begin, 0, extra.t + 1)
        obs = build_obs(view, task.symbols, task.features(ts, accounts, view, t, tp))
        action = policy_act(params.network, params.obs_stats, k_act, obs[0], self.layout,
                            self.activation, self.normalize, self.deterministic)
        action = jnp.asarray(action, jnp.int32).reshape(spec.n_agents, -1)
        intent = task.intent(action, ts, accounts, view, t, tp)
        ready = view.indicators.ready
        intent = OrderIntent(intent.price, jnp.where(ready, intent.qty, 0), intent.is_buy,
                             intent.replace | ~ready)
        state = PolicyState(
            task=tree_where(ready, ts, extra.task),
            t=jnp.where(ready, t, extra.t),
            started=extra.started | ready,
            before=accounts,
            action=jnp.where(ready, action, 0),
        )
        return intent, state


@dataclass(frozen=True)
class LoadedPolicy:
    """A saved policy made ready for bars.

    Attributes:
        family: the :class:`PolicyTrader`.
        network, obs_stats: the chosen seed's parameters and moments.
        task_params: the env's task numbers (the ones it was trained with).
        task_names: the task's parameter names (what ``params``/``grid`` may set).
        source: the policy folder (for messages).
    """

    family: PolicyTrader
    network: Any
    obs_stats: Any
    task_params: Any
    task_names: tuple[str, ...]
    source: str

    def params(self, values: dict) -> PolicyParams:
        """The params of one grid point: task numbers replaced by ``values`` (name -> number)."""
        numbers = {}
        for name, value in values.items():
            old = getattr(self.task_params, name)
            try:
                x = np.broadcast_to(np.asarray(value, old.dtype), old.shape)
            except (TypeError, ValueError) as err:
                raise ConfigError(f"params.{name}: {value!r} is not a number for the "
                                  f"{self.family.task.name} task's {name}") from err
            if not np.all(np.isfinite(x)):
                raise ConfigError(f"params.{name}: {value!r} is not finite")
            numbers[name] = jnp.asarray(x)
        return PolicyParams(self.network, self.obs_stats, self.task_params.replace(**numbers))


def load_bar_policy(cfg: dict, n_symbols: int) -> LoadedPolicy:
    """The policy of ``cfg["policy"]`` (``path``, ``seed``, ``learner``, ``deterministic``)
    for columns of ``n_symbols`` symbols; ConfigError naming the key when it cannot trade
    them (no such folder, seed or learner, another number of symbols)."""
    from qtgjax.env import make
    from qtgjax.train import load_policy

    pc = dict(cfg.get("policy") or {})
    path = pc.get("path")
    if not path or not (Path(path) / "policy.json").is_file():
        raise ConfigError(f"policy.path: {path!r} is not a folder with a saved policy "
                          "(policy.json and params.npz, as qtgjax-train writes them)")
    try:
        policy = load_policy(path, seed=int(pc.get("seed") or 0),
                             learner=int(pc.get("learner") or 0))
    except ValueError as err:
        raise ConfigError(f"policy: {err}") from err
    options = dict(policy.env_overrides)
    options["n_learners"] = 1
    try:
        env, env_params = make(policy.task, **options)
    except (KeyError, ValueError) as err:
        raise ConfigError(f"policy: cannot rebuild its env {policy.task!r}: {err}") from err
    if env.obs_dim != policy.layout.obs_dim:
        raise ConfigError(f"policy.path: {path}: the policy observes {policy.layout.obs_dim} "
                          f"features but its task {policy.task!r} gives {env.obs_dim}")
    if env.task.n_symbols != n_symbols:
        fix = ("portfolio=false" if env.task.n_symbols == 1 else
               f"portfolio=true with {env.task.n_symbols} symbols")
        raise ConfigError(f"policy.path: {path}: the policy trades {env.task.n_symbols} "
                          f"symbol(s) at once but a column here has {n_symbols}; use {fix}")
    family = PolicyTrader(env.task, policy.layout, policy.activation, policy.normalize,
                          bool(pc.get("deterministic", True)))
    return LoadedPolicy(family, policy.params, policy.obs_stats, env_params.task,
                        env.task.param_names(), str(path))


def policy_account(cfg: dict) -> AccountParams:
    """One agent per column with the backtest's cash and position limit, no fees of its own
    (the fill model charges them)."""
    return AccountParams(cash=jnp.int32(cfg["cash"]), position=jnp.int32(0),
                         max_position=jnp.int32(cfg["max_position"]),
                         maker_bps=jnp.float32(0.0), taker_bps=jnp.float32(0.0),
                         borrow_bps=jnp.float32(0.0))

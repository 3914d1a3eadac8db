"""A gymnax-style functional environment over the full simulated market.

The learners are the agents of the market's ``learner`` family: each step writes their
orders into that family's state and runs one real tick (:func:`qtgjax.sim.tick.step`), so
their orders meet every other family's in the same batch auction, pay the same fees and
are settled exactly.

**Auto-reset.** ``reset`` builds a fresh market and runs ``warmup`` ticks (a
``lax.scan``) so that every indicator is ready. ``step`` never rebuilds the market: when
an episode ends, a new task episode starts on the running market (arrival price, target,
side, start cash and position are taken afresh; the learners keep their accounts and the
market goes on). Under ``vmap`` a branch is a select that computes both sides, so a
market re-initialisation plus warm-up inside ``step`` would cost a warm-up every step;
starting a task episode costs a few scalar ops.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.env import spaces
from qtgjax.env.features import MARKET_FEATURES, OBS_CLIP, build_obs
from qtgjax.env.market import learner_accounts, learner_index, run_ticks, with_intent
from qtgjax.env.tasks.base import Task
from qtgjax.env.types import EnvParams, EnvState
from qtgjax.sim.rollout import init_state
from qtgjax.sim.tick import observe
from qtgjax.sim.tick import step as tick_step
from qtgjax.sim.types import SimStatic


class MarketEnv:
    """One task on one market (static shapes live here; numbers in :class:`EnvParams`).

    ``reset(key, params) -> (obs, state)``;
    ``step(key, state, action, params) -> (obs, state, reward, done, info)``.
    With ``n_learners`` = 1: obs float32[F], action int32[A], reward float32[];
    with L > 1: obs float32[L, F], action int32[L, A], reward float32[L]. ``done`` is
    bool[] (the learners' episodes run in step). Observation, action, reward, termination
    and task metrics: see the task's class docstring (``env.task``).

    ``info`` (the same keys and dtypes every step; episode values are 0 except where
    ``done``): ``returned_episode`` bool[] (= done), ``episode_return`` float32[L]
    (sum of the episode's rewards), ``episode_length`` int32[] (ticks), ``tick`` int32[]
    (market ticks since reset, warm-up included), and the task's metrics (float32[L]).
    [L] is dropped when L = 1.

    Attributes:
        static: the market's :class:`~qtgjax.sim.types.SimStatic` (learner family included).
        task: the task (static sizes and the task's pure functions).
        warmup: W, ticks run by ``reset`` before the first episode.
        learner: index of the learner family in ``static.families``.
        default_params: the params :func:`qtgjax.env.make` returned (gymnax convention).

    Every observation starts with the market features of the observed symbols (16 per
    symbol, :data:`qtgjax.env.features.MARKET_FEATURES`, from the same
    :func:`qtgjax.sim.tick.observe` view the families trade on): spread, last / EMA fast /
    EMA slow vs mid (all in units of 10 ticks), fundamental vs mid (percent), volatility
    (per-tick log-return sd x 1e3), news (log-dividend jump x 100), log1p(volume) / 5,
    RSI / 50 - 1, MACD histogram / 10 ticks, Bollinger %B - 0.5, range high / low vs mid,
    ATR, pair z-score / 3, SMA fast - slow; then the task's features. All float32, NaN -> 0,
    clipped to [-10, 10].
    """

    def __init__(self, static: SimStatic, task: Task, warmup: int, default_params=None):
        self.static, self.task, self.warmup = static, task, int(warmup)
        self.learner = learner_index(static)
        self.default_params = default_params

    @property
    def name(self) -> str:
        return self.task.name

    @property
    def n_learners(self) -> int:
        return self.task.n_learners

    @property
    def obs_dim(self) -> int:
        return len(self.task.symbols) * len(MARKET_FEATURES) + self.task.n_features

    def _lead(self) -> tuple[int, ...]:
        return () if self.n_learners == 1 else (self.n_learners,)

    def observation_space(self, params: EnvParams | None = None) -> spaces.Box:
        return spaces.Box(-OBS_CLIP, OBS_CLIP, (*self._lead(), self.obs_dim))

    def action_space(self, params: EnvParams | None = None) -> spaces.MultiDiscrete:
        nvec = np.asarray(self.task.action_nvec, np.int32)
        return spaces.MultiDiscrete(np.broadcast_to(nvec, (*self._lead(), nvec.size)))

    def _squeeze(self, x):
        return x[0] if self.n_learners == 1 else x

    def reset(self, key, params: EnvParams):
        """A fresh market run for ``warmup`` ticks, then a new episode: (obs, state)."""
        k_init, k_warm, k_task = jax.random.split(key, 3)
        sim = init_state(self.static, params.sim, k_init)
        sim = run_ticks(self.static, params.sim, sim, k_warm, self.warmup)
        zeros = jnp.zeros((self.n_learners,), jnp.float32)
        state = EnvState(sim=sim, task=None, t=jnp.int32(0), episode_return=zeros)
        state = self.reset_episode(k_task, state, params)
        return self.get_obs(state, params), state

    def get_obs(self, state: EnvState, params: EnvParams):
        """float32[F] (or [L, F]) observation of the learners in ``state``."""
        view = observe(state.sim, params.sim)
        acct = learner_accounts(state.sim, self.learner)
        feats = self.task.features(state.task, acct, view, state.t, params.task)
        return self._squeeze(build_obs(view, self.task.symbols, feats))

    def transition(self, key, state: EnvState, action, params: EnvParams):
        """One tick with the learners' actions, without auto-reset:
        (state, reward float32[L], done bool[], info) -- ``step`` without the reset."""
        action = jnp.asarray(action, jnp.int32).reshape(self.n_learners, -1)
        view = observe(state.sim, params.sim)
        before = learner_accounts(state.sim, self.learner)
        intent = self.task.intent(action, state.task, before, view, state.t, params.task)
        venue = self.task.order_venues(action) if self.static.n_venues > 1 else None
        sim = with_intent(state.sim, self.learner, intent, venue)
        sim, _ = tick_step(self.static, params.sim, sim, key)
        after = learner_accounts(sim, self.learner)
        view = observe(sim, params.sim)
        t = state.t + 1
        ts, reward, done, metrics = self.task.update(
            state.task, before, after, view, t, params.task
        )
        episode_return = state.episode_return + reward
        info = {
            "returned_episode": done,
            "episode_return": self._squeeze(jnp.where(done, episode_return, 0.0)),
            "episode_length": jnp.where(done, t, 0),
            "tick": sim.tick,
        }
        for name, dtype in self.task.metrics.items():
            info[name] = self._squeeze(jnp.where(done, metrics[name], 0).astype(dtype))
        state = EnvState(sim=sim, task=ts, t=t, episode_return=episode_return)
        return state, reward, done, info

    def reset_episode(self, key, state: EnvState, params: EnvParams) -> EnvState:
        """A new task episode on the running market (the auto-reset; no market re-init)."""
        view = observe(state.sim, params.sim)
        acct = learner_accounts(state.sim, self.learner)
        ts = self.task.start(key, acct, view, params.task)
        zeros = jnp.zeros_like(state.episode_return)
        return EnvState(sim=state.sim, task=ts, t=jnp.zeros_like(state.t), episode_return=zeros)

    def step(self, key, state: EnvState, action, params: EnvParams):
        """One tick with the learners' actions; when the episode ends, the returned obs and
        state are those of a new task episode on the running market (auto-reset)."""
        k_tick, k_task = jax.random.split(key)
        state, reward, done, info = self.transition(k_tick, state, action, params)
        fresh = self.reset_episode(k_task, state, params)
        state = jax.tree.map(lambda new, old: jnp.where(done, new, old), fresh, state)
        return self.get_obs(state, params), state, self._squeeze(reward), done, info

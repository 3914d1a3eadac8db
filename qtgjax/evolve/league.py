"""An RL league: independent PPO learners trained against each other in one market, rated.

``L`` learners share one market env (``n_learners=L``) with one network and optimiser
each (``ppo.shared_policy=false``): every learner's P&L depends on what the others do.
Training runs in rounds (:func:`qtgjax.train.ppo.make_train_parts`, resumed between
rounds, the learning-rate schedule spanning the whole league). After every round:

* the current learners join the *pool* as frozen members ``r<round>.l<learner>`` (with
  the observation moments they were trained with);
* an evaluation round plays ``matches`` episodes: each match seats L members of the pool
  (the current learners in a rotating subset of seats, earlier snapshots in the others,
  all deterministic), every match with its own held-out key;
* each match is a free-for-all ranked by episode return: TrueSkill (``trueskill``, the
  library's multiplayer ``rate``) and Elo (every pair of seats a game, K = ``elo_k``)
  update every seated member's rating.

``league.parquet`` has one row per (round, member) in the pool after that round's
evaluation: ``round``, ``member``, ``origin_round``, ``learner``, ``current`` (bool),
``env_steps``, ``matches``, ``mean_return``, ``trueskill_mu``, ``trueskill_sigma``,
``trueskill`` (mu - 3 sigma, the conservative rating), ``elo``, ``rank`` (by ``trueskill``).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import polars as pl

from qtgjax.config.build import ConfigError
from qtgjax.train import distributions as dist
from qtgjax.train.adapter import agent_layout, env_actions
from qtgjax.train.evaluate import episode_limit
from qtgjax.train.networks import apply_actor_critic, normalize_obs
from qtgjax.train.ppo import make_train_parts
from qtgjax.train.tasks import make_task_env, task_names, task_spec
from qtgjax.train.types import PPOConfig


@dataclass(frozen=True)
class LeagueSpec:
    """Attributes:
    task: a ``qtgjax.env`` task (``market_making``, ``trading``, ``execution``).
    env: ``qtgjax.env.make`` overrides (``n_learners`` is set from ``learners``).
    learners: L >= 2 independent learners in one market.
    rounds: training rounds, each followed by an evaluation round.
    updates_per_round: PPO updates per learner per round.
    matches: episodes per evaluation round.
    seed: training seed; match m of round r is reset with key(eval_seed + r * matches + m).
    eval_seed: base seed of the evaluation episodes (never used for training).
    elo_k: Elo K-factor per pairwise game.
    ppo: PPO settings (``shared_policy`` is forced False, ``total_timesteps`` follows).
    """

    task: str = "market_making"
    env: dict = field(default_factory=dict)
    learners: int = 3
    rounds: int = 3
    updates_per_round: int = 2
    matches: int = 8
    seed: int = 0
    eval_seed: int = 2_000_003
    elo_k: float = 16.0
    ppo: PPOConfig = field(default_factory=PPOConfig)


def league_ppo(spec: LeagueSpec) -> PPOConfig:
    total = spec.rounds * spec.updates_per_round * spec.ppo.batch_size
    return replace(spec.ppo, shared_policy=False, num_seeds=1, total_timesteps=total)


def check_spec(spec: LeagueSpec) -> None:
    if spec.task not in task_names():
        raise ConfigError(f"league.task: {spec.task!r} is not one of {task_names()}")
    for name, low in (("learners", 2), ("rounds", 1), ("updates_per_round", 1), ("matches", 1)):
        if getattr(spec, name) < low:
            raise ConfigError(f"league.{name}: {getattr(spec, name)} must be at least {low}")
    if "n_learners" in spec.env:
        raise ConfigError("league.env.n_learners: set league.learners instead")


def lineup_act(params, stats, key, obs, layout, activation: str, normalize: bool):
    """Deterministic actions of one env whose L seats hold different members: ``params``
    and ``stats`` (observation moments) carry a leading seat axis ``[L]``."""
    rows = obs.reshape(layout.learners, layout.obs_dim).astype(jnp.float32)

    def seat(p, s, x):
        x = normalize_obs(s, x[None], normalize)
        out, _ = apply_actor_critic(p, x, activation)
        return dist.mode(layout.spec, out)[0]

    raw = jax.vmap(seat)(params, stats, rows)
    return env_actions(raw, layout)[0]


def play_matches(env, env_params, layout, ppo: PPOConfig, params, stats, keys, steps):
    """Episode returns float32[M, L] of M matches, match m seating ``params[m]`` [M, L, ...]."""

    def one(p, s, key):
        k_reset, k_run = jax.random.split(key)
        obs, state = env.reset(k_reset, env_params)

        def body(carry, k):
            obs, state, ret, finished = carry
            action = lineup_act(p, s, k, obs, layout, ppo.activation, ppo.normalize_obs)
            obs, state, reward, done, _ = env.step(k, state, action, env_params)
            ret = ret + jnp.where(finished, 0.0, reward)
            return (obs, state, ret, finished | done), None

        ret0 = jnp.zeros((layout.learners,), jnp.float32)
        (_, _, ret, _), _ = jax.lax.scan(
            body, (obs, state, ret0, jnp.bool_(False)), jax.random.split(k_run, steps)
        )
        return ret

    return jax.vmap(one)(params, stats, keys)


class Ratings:
    """TrueSkill and Elo ratings of the pool's members."""

    def __init__(self, elo_k: float):
        import trueskill

        self.ts = trueskill.TrueSkill(draw_probability=0.0)
        self.skill: dict[str, object] = {}
        self.elo: dict[str, float] = {}
        self.k = elo_k

    def add(self, member: str) -> None:
        self.skill[member] = self.ts.create_rating()
        self.elo[member] = 1500.0

    def match(self, seated: list[str], returns: np.ndarray) -> None:
        """One free-for-all: higher episode return ranks higher (ties share a rank)."""
        order = -np.asarray(returns, np.float64)
        ranks = [int(np.sum(order < o)) for o in order]
        rated = self.ts.rate([(self.skill[m],) for m in seated], ranks=ranks)
        elo = dict(self.elo)
        for i, j in itertools.combinations(range(len(seated)), 2):
            a, b = seated[i], seated[j]
            expected = 1.0 / (1.0 + 10 ** ((self.elo[b] - self.elo[a]) / 400.0))
            score = 1.0 if returns[i] > returns[j] else 0.5 if returns[i] == returns[j] else 0.0
            elo[a] += self.k * (score - expected)
            elo[b] -= self.k * (score - expected)
        self.elo = elo
        for m, (r,) in zip(seated, rated, strict=True):
            self.skill[m] = r


def lineups(pool: list[str], current: list[str], n_matches: int, rng) -> list[list[str]]:
    """Seats of each match: the current learners, except that in every match but each
    (L+1)-th one a rotating seat goes to a random snapshot of an earlier round (none in
    round 0)."""
    seats = len(current)
    past = [m for m in pool if m not in current]
    out = []
    for m in range(n_matches):
        seated = list(current)
        if past and m % (seats + 1):
            seated[(m - 1) % seats] = past[int(rng.integers(len(past)))]
        out.append(seated)
    return out


def seat_members(current, past, use_past):
    """Per match and seat, the current learner's tree or the seated snapshot's:
    ``current`` [L, ...], ``past`` [M, ...] (one snapshot per match), ``use_past`` bool[M, L]."""

    def pick(c, p):
        mask = use_past.reshape(use_past.shape + (1,) * (c.ndim - 1))
        return jnp.where(mask, p[:, None], c[None])

    return jax.tree.map(pick, current, past)


@dataclass(frozen=True)
class LeagueResult:
    table: pl.DataFrame
    matches: pl.DataFrame
    timing: dict


def run_league(spec: LeagueSpec, folder: str | Path | None = None) -> LeagueResult:
    """Train and rate the league; writes ``league.parquet`` and ``matches.parquet`` to
    ``folder`` when given."""
    check_spec(spec)
    env, env_params = make_task_env(spec.task, {**spec.env, "n_learners": spec.learners})
    layout = agent_layout(env, env_params)
    ppo = league_ppo(spec)
    init_runner, update = make_train_parts(ppo, env, env_params, task_spec(spec.task).metrics)

    steps = episode_limit(env_params, None)
    n_l, n_m = spec.learners, spec.matches

    def round_fn(runner, past_params, past_stats, use_past, keys):
        """One training round, then its evaluation matches: one compiled call per league."""
        runner = jax.lax.scan(update, runner, None, spec.updates_per_round)[0]
        stats_l = jax.tree.map(lambda x: jnp.broadcast_to(x, (n_l, *x.shape)), runner.obs_stats)
        params = seat_members(runner.train.params, past_params, use_past)
        stats = seat_members(stats_l, past_stats, use_past)
        return runner, play_matches(env, env_params, layout, ppo, params, stats, keys, steps)

    round_fn = jax.jit(round_fn)
    runner = jax.jit(init_runner)(jax.random.key(spec.seed))
    ratings = Ratings(spec.elo_k)
    members: dict[str, tuple] = {}  # name -> (params, obs_stats, origin round, learner)
    rows, match_rows = [], []
    played: dict[str, list[float]] = {}
    rng = np.random.default_rng(spec.seed)
    started = time.perf_counter()
    for r in range(spec.rounds):
        current = [f"r{r}.l{lrn}" for lrn in range(n_l)]
        seats = lineups([*members, *current], current, n_m, rng)
        use_past = np.array([[m not in current for m in s] for s in seats])
        past = [next((m for m in s if m not in current), None) for s in seats]
        # a match without a snapshot seats learner 0's current tree as a placeholder
        fill = (jax.tree.map(lambda x: x[0], runner.train.params), runner.obs_stats)
        snap = [members[m][:2] if m is not None else fill for m in past]
        past_params = _stack([p for p, _ in snap])
        past_stats = _stack([s for _, s in snap])
        base = spec.eval_seed + r * n_m
        keys = jax.vmap(jax.random.key)(jnp.arange(base, base + n_m))
        runner, returns = round_fn(runner, past_params, past_stats, jnp.asarray(use_past), keys)
        returns = np.asarray(returns, np.float64)
        for lrn, name in enumerate(current):
            p = jax.tree.map(lambda x, lrn=lrn: x[lrn], runner.train.params)
            members[name] = (p, runner.obs_stats, r, lrn)
            ratings.add(name)
            played[name] = []
        for m, seated in enumerate(seats):
            ratings.match(seated, returns[m])
            for seat, member in enumerate(seated):
                played[member].append(returns[m, seat])
                match_rows.append(
                    {
                        "round": r,
                        "match": m,
                        "seed": base + m,
                        "seat": seat,
                        "member": member,
                        "episode_return": float(returns[m, seat]),
                    }
                )
        for name, (_, _, origin, lrn) in members.items():
            skill = ratings.skill[name]
            rows.append(
                {
                    "round": r,
                    "member": name,
                    "origin_round": origin,
                    "learner": lrn,
                    "current": origin == r,
                    "env_steps": (origin + 1) * spec.updates_per_round * ppo.batch_size,
                    "matches": len(played[name]),
                    "mean_return": float(np.mean(played[name])) if played[name] else None,
                    "trueskill_mu": float(skill.mu),
                    "trueskill_sigma": float(skill.sigma),
                    "trueskill": float(skill.mu - 3 * skill.sigma),
                    "elo": float(ratings.elo[name]),
                }
            )
    table = pl.DataFrame(rows).with_columns(
        pl.col("trueskill")
        .rank("ordinal", descending=True)
        .over("round")
        .cast(pl.Int64)
        .alias("rank")
    )
    matches = pl.DataFrame(match_rows)
    timing = {"seconds": time.perf_counter() - started}
    if folder is not None:
        from qtgjax.io.atomic import write_parquet

        write_parquet(table, Path(folder) / "league.parquet")
        write_parquet(matches, Path(folder) / "matches.parquet")
    return LeagueResult(table, matches, timing)


def _stack(trees):
    return jax.tree.map(lambda *xs: jnp.stack(xs), *trees)


def league_spec(cfg: Mapping) -> LeagueSpec:
    """A :class:`LeagueSpec` from a plain mapping (``ppo`` as keyword overrides)."""
    cfg = dict(cfg)
    ppo = {k: tuple(v) if isinstance(v, list) else v for k, v in (cfg.pop("ppo", {}) or {}).items()}
    env = {k: tuple(v) if isinstance(v, list) else v for k, v in (cfg.pop("env", {}) or {}).items()}
    try:
        ppo = PPOConfig(**ppo)
    except TypeError as err:
        raise ConfigError(f"league.ppo: {err}") from err
    cfg["env"] = env
    return LeagueSpec(**cfg, ppo=ppo)

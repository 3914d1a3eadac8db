"""PPO in JAX, PureJaxRL style: ``make_train(config, env, params)`` returns a pure
``train(key)`` whose whole loop (rollouts, GAE, epochs, minibatches) is ``lax.scan``s, so
``jax.jit(jax.vmap(train))(keys)`` trains one independent agent per key in one compiled call.
With ``shared_policy=False`` each of an env's L learners has its own parameters and optimiser
state (leading ``[L]`` axis); acting and the epochs ``vmap`` over that axis, so every learner
learns from its own rows, rewards and advantages only.

Units: rewards and returns are the env's (``reward_scale`` only scales what the learner sees);
``UpdateMetrics`` report raw episode returns and the task's ``info`` metrics at episode ends.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qtgjax.train import distributions as dist
from qtgjax.train.adapter import agent_layout, from_learners, make_vec_env, to_learners
from qtgjax.train.networks import (
    apply_actor_critic,
    init_actor_critic,
    init_obs_stats,
    log_std_of,
    normalize_obs,
    update_obs_stats,
)
from qtgjax.train.types import PPOConfig, RunnerState, TrainState, Transition, UpdateMetrics


def make_optimizer(config: PPOConfig) -> optax.GradientTransformation:
    """Adam behind a global-norm clip; the rate falls linearly to 0 over the updates."""
    steps_per_update = config.num_minibatches * config.update_epochs

    def schedule(count):
        done = (count // steps_per_update).astype(jnp.float32)
        return config.lr * (1.0 - done / config.num_updates)

    lr = schedule if config.anneal_lr else config.lr
    return optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))


def make_train(
    config: PPOConfig,
    env,
    env_params,
    metric_keys: tuple[str, ...] = (),
    progress: Callable[[np.ndarray], None] | None = None,
) -> Callable[[jax.Array], tuple[RunnerState, UpdateMetrics]]:
    """Build ``train(key) -> (final RunnerState, UpdateMetrics stacked over updates)``:
    ``config.num_updates`` updates from a fresh runner (see :func:`make_train_parts`)."""
    init_runner, update = make_train_parts(config, env, env_params, metric_keys, progress)

    def train(key: jax.Array) -> tuple[RunnerState, UpdateMetrics]:
        return jax.lax.scan(update, init_runner(key), None, config.num_updates)

    return train


def make_train_parts(
    config: PPOConfig,
    env,
    env_params,
    metric_keys: tuple[str, ...] = (),
    progress: Callable[[np.ndarray], None] | None = None,
):
    """The two pieces of training: ``init_runner(key) -> RunnerState`` (fresh networks,
    optimiser and envs) and ``update(runner, _) -> (runner, UpdateMetrics)`` (one rollout
    and its epochs, a ``lax.scan`` body), so training can stop and resume between updates
    (the RL league trains in rounds). The learning-rate schedule spans
    ``config.num_updates`` updates counted by the optimiser state.

    Args:
        config: PPO hyper-parameters (static).
        env: gymnax-style env with auto-reset (``reset``, ``step``, spaces).
        env_params: its params pytree (closed over: a constant of the compiled loop).
        metric_keys: ``info`` keys to average over finished episodes.
        progress: host function called once per update (per seed under vmap) with the
            update's mean episode return (NaN if none ended), via ``jax.debug.callback``.
    """
    layout = agent_layout(env, env_params)
    spec, obs_dim = layout.spec, layout.obs_dim
    optimizer = make_optimizer(config)
    E, L, act, shared = config.num_envs, layout.learners, config.activation, config.shared_policy
    N = E * L
    batch_rows = N * config.num_steps
    policy_rows = batch_rows if shared else batch_rows // L
    vec_reset, vec_step = make_vec_env(env, env_params, layout)

    def _init_one(key):
        return init_actor_critic(key, obs_dim, spec, config.hidden, config.init_log_std)

    def _init_params(key):
        """One actor-critic, or ``[L]`` of them (own init key each) for separate policies."""
        return _init_one(key) if shared else jax.vmap(_init_one)(jax.random.split(key, L))

    def _sample_rows(params, obs, key):
        """One policy on its rows: normalised obs ``[R, D]`` -> (raw action ``[R, A]``,
        log_prob ``[R]``, value ``[R]``)."""
        out, value = apply_actor_critic(params, obs, act)
        raw = dist.sample(spec, key, out, log_std_of(params))
        return raw, dist.log_prob(spec, out, log_std_of(params), raw), value

    def _sample(params, obs, key):
        """Every row's action, log_prob and value ``[N, ...]`` (each learner's own policy)."""
        if shared:
            return _sample_rows(params, obs, key)
        per = jax.vmap(_sample_rows)(params, to_learners(obs, L), jax.random.split(key, L))
        return jax.tree.map(from_learners, per)

    def _value_rows(params, obs):
        return apply_actor_critic(params, obs, act)[1]

    def _value(params, obs):
        """Values ``[N]`` of normalised obs ``[N, D]`` (each learner's own critic)."""
        if shared:
            return _value_rows(params, obs)
        return from_learners(jax.vmap(_value_rows)(params, to_learners(obs, L)))

    def _env_step(runner: RunnerState, _):
        key, k_act, k_step = jax.random.split(runner.key, 3)
        obs = normalize_obs(runner.obs_stats, runner.last_obs, config.normalize_obs)
        raw, logp, value = _sample(runner.train.params, obs, k_act)
        step_keys = jax.random.split(k_step, E)
        next_obs, env_state, reward, done, info = vec_step(step_keys, runner.env_state, raw)
        ep_return = runner.episode_return + reward
        stats = runner.obs_stats
        if config.normalize_obs:
            stats = update_obs_stats(stats, next_obs)
        transition = Transition(
            obs=obs,
            raw_action=raw,
            log_prob=logp,
            value=value,
            reward=reward * config.reward_scale,
            done=done,
            finished_return=jnp.where(done, ep_return, 0.0),
            metrics={k: info[k].astype(jnp.float32) for k in metric_keys},
        )
        runner = runner._replace(
            env_state=env_state,
            last_obs=next_obs,
            obs_stats=stats,
            episode_return=jnp.where(done, 0.0, ep_return),
            key=key,
        )
        return runner, transition

    def _calculate_gae(traj: Transition, last_value: jax.Array):
        """Advantages and value targets, float32 ``[T, N]`` each (N = E * L rows)."""

        def _step(carry, t):
            gae, next_value = carry
            reward, value, done = t
            live = 1.0 - done.astype(jnp.float32)
            delta = reward + config.gamma * next_value * live - value
            gae = delta + config.gamma * config.gae_lambda * live * gae
            return (gae, value), gae

        init = (jnp.zeros_like(last_value), last_value)
        _, adv = jax.lax.scan(_step, init, (traj.reward, traj.value, traj.done), reverse=True)
        return adv, adv + traj.value

    def _loss(params, batch):
        obs, raw, old_logp, old_value, adv, target = batch
        out, value = apply_actor_critic(params, obs, act)
        log_std = log_std_of(params)
        logp = dist.log_prob(spec, out, log_std, raw)
        v_clip = old_value + jnp.clip(value - old_value, -config.clip_eps, config.clip_eps)
        v_loss = 0.5 * jnp.mean(jnp.maximum((value - target) ** 2, (v_clip - target) ** 2))
        ratio = jnp.exp(logp - old_logp)
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        clipped = jnp.clip(ratio, 1.0 - config.clip_eps, 1.0 + config.clip_eps)
        pi_loss = -jnp.mean(jnp.minimum(ratio * adv, clipped * adv))
        ent = jnp.mean(dist.entropy(spec, out, log_std))
        total = pi_loss + config.vf_coef * v_loss - config.ent_coef * ent
        return total, jnp.stack([pi_loss, v_loss, ent])

    def _update_minibatch(train: TrainState, batch):
        grads, losses = jax.grad(_loss, has_aux=True)(train.params, batch)
        updates, opt_state = optimizer.update(grads, train.opt_state, train.params)
        return TrainState(optax.apply_updates(train.params, updates), opt_state), losses

    def _update_epoch(carry, _):
        train, batch, key = carry
        key, k_perm = jax.random.split(key)
        perm = jax.random.permutation(k_perm, policy_rows)
        shuffled = jax.tree.map(lambda x: jnp.take(x, perm, axis=0), batch)
        minibatches = jax.tree.map(
            lambda x: x.reshape((config.num_minibatches, -1) + x.shape[1:]), shuffled
        )
        train, losses = jax.lax.scan(_update_minibatch, train, minibatches)
        return (train, batch, key), losses

    def _run_epochs(train: TrainState, batch, key):
        """All epochs of one policy on its rows ``[R, ...]``: (train, losses ``[U, M, 3]``)."""
        (train, _, _), losses = jax.lax.scan(
            _update_epoch, (train, batch, key), None, config.update_epochs
        )
        return train, losses

    def _update_policies(train: TrainState, fields, key):
        """Rollout fields ``[T, N, ...]`` -> updated train state (each learner on its rows)."""
        batch = jax.tree.map(lambda x: x.reshape((batch_rows,) + x.shape[2:]), fields)
        if shared:
            return _run_epochs(train, batch, key)
        batch = jax.tree.map(lambda x: to_learners(x, L), batch)
        return jax.vmap(_run_epochs)(train, batch, jax.random.split(key, L))

    def _update_step(runner: RunnerState, _):
        runner, traj = jax.lax.scan(_env_step, runner, None, config.num_steps)
        last_obs = normalize_obs(runner.obs_stats, runner.last_obs, config.normalize_obs)
        adv, target = _calculate_gae(traj, _value(runner.train.params, last_obs))
        fields = (traj.obs, traj.raw_action, traj.log_prob, traj.value, adv, target)
        key, k_epochs = jax.random.split(runner.key)
        train, losses = _update_policies(runner.train, fields, k_epochs)
        metrics = _update_metrics(traj, losses)
        if progress is not None:
            mean_return = jnp.where(
                metrics.episodes > 0, metrics.return_sum / jnp.maximum(metrics.episodes, 1), jnp.nan
            )
            jax.debug.callback(progress, mean_return)
        return runner._replace(train=train, key=key), metrics

    def init_runner(key: jax.Array) -> RunnerState:
        key, k_net, k_reset = jax.random.split(key, 3)
        params = _init_params(k_net)
        opt_state = optimizer.init(params) if shared else jax.vmap(optimizer.init)(params)
        obs, env_state = vec_reset(jax.random.split(k_reset, E))
        stats = init_obs_stats(obs_dim)
        if config.normalize_obs:
            stats = update_obs_stats(stats, obs)
        runner = RunnerState(
            train=TrainState(params, opt_state),
            env_state=env_state,
            last_obs=obs,
            obs_stats=stats,
            episode_return=jnp.zeros((N,), jnp.float32),
            key=key,
        )
        return runner

    return init_runner, _update_step


def _update_metrics(traj: Transition, losses: jax.Array) -> UpdateMetrics:
    """Sums over the episodes that ended during one rollout ``[T, N]``; loss means over
    every (learner,) epoch and minibatch."""
    done = traj.done
    return UpdateMetrics(
        episodes=jnp.sum(done, dtype=jnp.int32),
        return_sum=jnp.sum(traj.finished_return),
        metric_sums={k: jnp.sum(jnp.where(done, v, 0.0)) for k, v in traj.metrics.items()},
        loss=jnp.mean(losses.reshape(-1, losses.shape[-1]), axis=0),
    )

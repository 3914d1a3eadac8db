"""PPO in JAX, PureJaxRL style: ``make_train(config, env, params)`` returns a pure
``train(key)`` whose whole loop (rollouts, GAE, epochs, minibatches) is ``lax.scan``s, so
``jax.jit(jax.vmap(train))(keys)`` trains one independent agent per key in one compiled call.

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
from qtgjax.train.adapter import agent_layout, make_vec_env
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
    """Build ``train(key) -> (final RunnerState, UpdateMetrics stacked over updates)``.

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
    E, act = config.num_envs, config.activation
    N = E * layout.learners
    batch_rows = N * config.num_steps
    vec_reset, vec_step = make_vec_env(env, env_params, layout)

    def _policy(params, stats, raw_obs):
        obs = normalize_obs(stats, raw_obs, config.normalize_obs)
        out, value = apply_actor_critic(params, obs, act)
        return obs, out, value

    def _env_step(runner: RunnerState, _):
        key, k_act, k_step = jax.random.split(runner.key, 3)
        params = runner.train.params
        obs, out, value = _policy(params, runner.obs_stats, runner.last_obs)
        raw = dist.sample(spec, k_act, out, log_std_of(params))
        logp = dist.log_prob(spec, out, log_std_of(params), raw)
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
        perm = jax.random.permutation(k_perm, batch_rows)
        shuffled = jax.tree.map(lambda x: jnp.take(x, perm, axis=0), batch)
        minibatches = jax.tree.map(
            lambda x: x.reshape((config.num_minibatches, -1) + x.shape[1:]), shuffled
        )
        train, losses = jax.lax.scan(_update_minibatch, train, minibatches)
        return (train, batch, key), losses

    def _update_step(runner: RunnerState, _):
        runner, traj = jax.lax.scan(_env_step, runner, None, config.num_steps)
        _, _, last_value = _policy(runner.train.params, runner.obs_stats, runner.last_obs)
        adv, target = _calculate_gae(traj, last_value)
        fields = (traj.obs, traj.raw_action, traj.log_prob, traj.value, adv, target)
        batch = jax.tree.map(lambda x: x.reshape((batch_rows,) + x.shape[2:]), fields)
        key, k_epochs = jax.random.split(runner.key)
        (train, _, _), losses = jax.lax.scan(
            _update_epoch, (runner.train, batch, k_epochs), None, config.update_epochs
        )
        metrics = _update_metrics(traj, losses)
        if progress is not None:
            mean_return = jnp.where(
                metrics.episodes > 0, metrics.return_sum / jnp.maximum(metrics.episodes, 1), jnp.nan
            )
            jax.debug.callback(progress, mean_return)
        return runner._replace(train=train, key=key), metrics

    def train(key: jax.Array) -> tuple[RunnerState, UpdateMetrics]:
        key, k_net, k_reset = jax.random.split(key, 3)
        params = init_actor_critic(k_net, obs_dim, spec, config.hidden, config.init_log_std)
        obs, env_state = vec_reset(jax.random.split(k_reset, E))
        stats = init_obs_stats(obs_dim)
        if config.normalize_obs:
            stats = update_obs_stats(stats, obs)
        runner = RunnerState(
            train=TrainState(params, optimizer.init(params)),
            env_state=env_state,
            last_obs=obs,
            obs_stats=stats,
            episode_return=jnp.zeros((N,), jnp.float32),
            key=key,
        )
        return jax.lax.scan(_update_step, runner, None, config.num_updates)

    return train


def _update_metrics(traj: Transition, losses: jax.Array) -> UpdateMetrics:
    """Sums over the episodes that ended during one rollout ``[T, E]``."""
    done = traj.done
    return UpdateMetrics(
        episodes=jnp.sum(done, dtype=jnp.int32),
        return_sum=jnp.sum(traj.finished_return),
        metric_sums={k: jnp.sum(jnp.where(done, v, 0.0)) for k, v in traj.metrics.items()},
        loss=jnp.mean(losses, axis=(0, 1)),
    )

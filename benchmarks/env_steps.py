"""Environment steps per second: many vmapped envs, each a full market, one jitted call.

Usage (from the repository root)::

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/env_steps.py --envs 1024 --steps 50
    .venv/bin/python benchmarks/env_steps.py --task market_making --policy avellaneda_stoikov

Resets ``envs`` markets (each runs its warm-up), then times ``steps`` env steps of every
env with a baseline policy inside one ``jit(scan(vmap(step)))``: ``compile_s`` is the
compile time of that call, ``wall_s`` the median of ``--repeats`` timed runs after it, and
``env_steps_per_s = envs * steps / wall_s``. Prints one JSON line (envs, agents, steps,
wall_s, compile_s, env_steps_per_s, device, task, policy, reset_s).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import jax

import qtgjax.env as qenv
from qtgjax.env import baselines


def measure(task: str, policy_name: str, n_envs: int, n_steps: int, repeats: int) -> dict:
    env, params = qenv.make(task)
    policy = jax.vmap(baselines.get(env, policy_name), in_axes=(0, 0, 0, None))
    step = jax.vmap(env.step, in_axes=(0, 0, 0, None))

    def run(obs, state, key):
        def body(carry, k):
            obs, state = carry
            keys = jax.random.split(k, n_envs)
            action = policy(keys, obs, state, params)
            obs, state, reward, done, info = step(keys, state, action, params)
            return (obs, state), reward.mean()

        (obs, state), rewards = jax.lax.scan(body, (obs, state), jax.random.split(key, n_steps))
        return obs, state, rewards

    keys = jax.random.split(jax.random.key(0), n_envs)
    start = time.perf_counter()
    obs, state = jax.block_until_ready(jax.jit(jax.vmap(env.reset, (0, None)))(keys, params))
    reset_s = time.perf_counter() - start
    start = time.perf_counter()
    compiled = jax.jit(run).lower(obs, state, jax.random.key(1)).compile()
    compile_s = time.perf_counter() - start
    walls = []
    for r in range(repeats):
        start = time.perf_counter()
        obs, state, _ = jax.block_until_ready(compiled(obs, state, jax.random.key(2 + r)))
        walls.append(time.perf_counter() - start)
    wall = statistics.median(walls)
    return {
        "task": task,
        "policy": policy_name,
        "envs": n_envs,
        "agents": sum(f.n_agents for f in env.static.families),
        "steps": n_steps,
        "wall_s": round(wall, 3),
        "compile_s": round(compile_s, 2),
        "reset_s": round(reset_s, 2),
        "env_steps_per_s": round(n_envs * n_steps / wall, 1),
        "device": str(jax.devices()[0].device_kind),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--task", default="execution")
    parser.add_argument("--policy", default=None, help="baseline name (default: the first)")
    parser.add_argument("--envs", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    policy = args.policy or next(n for n in baselines.names(args.task) if n != "random")
    print(json.dumps(measure(args.task, policy, args.envs, args.steps, args.repeats)), flush=True)


if __name__ == "__main__":
    main()

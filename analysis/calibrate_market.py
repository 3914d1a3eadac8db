"""Recover market parameters from simulated statistics by gradient descent (issue #6).

Simulates the relaxed, differentiable market (:mod:`qtgjax.diff`) with known parameters
(noise-trader aggressiveness, news intensity), takes the statistics of those "observed"
paths (mean squared and mean absolute tick return, mean volume, pooled over scenarios),
then fits the parameters from a different start with optax Adam, simulating one fixed set
of scenario keys that differs from the observed ones (common random numbers: the loss is a
smooth function of the parameters). Prints true, start and recovered values.

    python -m analysis.calibrate_market --steps 150 --seed 0
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.diff import (
    STAT_NAMES,
    MarketStatic,
    default_params,
    default_relaxation,
    fit,
    moment_loss,
    simulated_stats,
    with_values,
)

NAMES = ("agents.noise.aggression", "market.news_rate")


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m analysis.calibrate_market", description=__doc__)
    p.add_argument("--steps", type=int, default=150, help="Adam steps")
    p.add_argument("--seed", type=int, default=0, help="seed of the observed scenarios")
    p.add_argument("--scenarios", type=int, default=128, help="scenarios per statistic")
    p.add_argument("--ticks", type=int, default=200, help="ticks per scenario")
    p.add_argument("--lr", type=float, default=0.05, help="Adam learning rate (log space)")
    p.add_argument("--true", type=float, nargs=2, default=(2.0, 0.02), metavar=("AGGR", "RATE"))
    p.add_argument("--start", type=float, nargs=2, default=(4.0, 0.05), metavar=("AGGR", "RATE"))
    return p.parse_args(argv)


def row(label: str, values) -> str:
    cells = "".join(f"{float(v):>14.5g}" for v in values)
    return f"{label:<12}{cells}"


def main(argv=None) -> dict:
    args = parse_args(argv)
    static = MarketStatic(n_ticks=args.ticks)
    relax = default_relaxation()
    base = default_params()
    true, start = jnp.asarray(args.true), jnp.asarray(args.start)
    observed_keys = jax.random.split(jax.random.key(args.seed), args.scenarios)
    sim_keys = jax.random.split(jax.random.key(args.seed + 10_000), args.scenarios)
    t0 = time.perf_counter()
    target = simulated_stats(static, relax, with_values(base, NAMES, true), observed_keys)
    loss = moment_loss(static, relax, base, NAMES, sim_keys, target)
    result = fit(loss, start, args.steps, args.lr)
    recovered = np.asarray(result.values)
    elapsed = time.perf_counter() - t0
    fitted = simulated_stats(static, relax, with_values(base, NAMES, result.values), sim_keys)
    print(
        f"relaxed market: {args.scenarios} scenarios x {args.ticks} ticks, "
        f"{args.steps} Adam steps (lr {args.lr}), seed {args.seed}"
    )
    print(row("parameter", []) + "".join(f"{n.split('.')[-1]:>14}" for n in NAMES))
    for label, values in (("true", true), ("start", start), ("recovered", recovered)):
        print(row(label, values))
    print(row("rel. error", np.abs(recovered / np.asarray(true) - 1.0)))
    print(row("statistic", []) + "".join(f"{n:>14}" for n in STAT_NAMES))
    print(row("observed", target))
    print(row("fitted", fitted))
    print(f"loss {float(result.loss):.3g} (start {float(result.losses[0]):.3g}); {elapsed:.1f} s")
    return {"true": np.asarray(true), "recovered": recovered, "seconds": elapsed}


if __name__ == "__main__":
    main()

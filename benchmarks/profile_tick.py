"""Time each stage of the tick on its own (a timing ablation), vmapped over B scenarios.

Usage (from the repository root)::

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/profile_tick.py \
        --workload kineticsim --scenarios 4096 --agents 256 --warmup-ticks 20

Each stage is jitted on its own with its real inputs (taken from a state after
``--warmup-ticks`` ticks) and timed over ``--repeats`` calls; the whole step is timed the
same way. Prints one JSON line per stage: milliseconds per tick (wall and process CPU) and
nanoseconds per agent-tick. Stages fused in the whole step can cost less there than alone
(and XLA may duplicate work across them, see PROFILE.md), so the whole step is the truth.
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import jax.numpy as jnp

from qtgjax.bench.workloads import load_workload, sim_config
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.sim import book
from qtgjax.sim.fundamentals import step_fundamentals
from qtgjax.sim.rollout import init_state
from qtgjax.sim.tick import (
    act_all,
    clear_book,
    observe,
    record_tick,
    settle_all,
    step,
    taker_flow,
    update_market,
)


def prepare(static, params, state, key):
    """Every intermediate of one tick (the inputs of each stage), for one scenario."""
    view = observe(state, params)
    orders, _, _ = act_all(static, params, state, view, key)
    cleared = clear_book(orders, state.market.anchor, state.market.last_price, static)
    kept = tuple(o.replace(qty=q) for o, q in zip(orders, cleared.kept, strict=True))
    mark = jnp.where(cleared.price > 0, cleared.price, state.market.last_price)
    accounts, flows = settle_all(
        static, params, state, kept, cleared.fills, cleared.price, state.fundamentals, mark
    )
    return dict(orders=orders, kept=kept, cleared=cleared, accounts=accounts, flows=flows)


def stages(static):
    """(name, function of (params, state, key, inputs) -> outputs) for each stage."""
    k, n_ages, n_symbols = static.n_levels, static.n_ages, static.n_symbols

    def act(params, state, key, x):
        return act_all(static, params, state, observe(state, params), key)

    def clear(params, state, key, x):
        return clear_book(x["orders"], state.market.anchor, state.market.last_price, static)

    def grid_and_totals(params, state, key, x):
        grid = tuple(book.on_grid(o, state.market.anchor, k, n_ages) for o in x["orders"])
        return book.book_totals(grid, n_symbols, k)

    def settle(params, state, key, x):
        c = x["cleared"]
        mark = jnp.where(c.price > 0, c.price, state.market.last_price)
        return settle_all(
            static, params, state, x["kept"], c.fills, c.price, state.fundamentals, mark
        )

    def fundamentals(params, state, key, x):
        return step_fundamentals(state.fundamentals, params.fundamentals, key)

    def update(params, state, key, x):
        c = x["cleared"]
        dropped = c.dropped[:, None]
        return update_market(state.market, params, c.price, c.volume, c.residual, dropped, static)

    def record(params, state, key, x):
        c, after = x["cleared"], state.replace(accounts=x["accounts"])
        flow = taker_flow(x["kept"], c.fills)
        return record_tick(state.market, after, c, flow, c.fills, x["flows"], static)

    def whole(params, state, key, x):
        return step(static, params, state, key)

    return [
        ("act", act),
        ("clear", clear),
        ("  grid + level totals", grid_and_totals),
        ("settle", settle),
        ("fundamentals", fundamentals),
        ("update_market", update),
        ("record", record),
        ("whole step", whole),
    ]


def time_call(fn, args, repeats: int) -> tuple[float, float]:
    """Median wall and process-CPU seconds of ``fn(*args)`` over ``repeats`` calls."""
    jax.block_until_ready(fn(*args))
    walls, cpus = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        jax.block_until_ready(fn(*args))
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    walls.sort()
    cpus.sort()
    return walls[len(walls) // 2], cpus[len(cpus) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workload", default="kineticsim")
    ap.add_argument("--scenarios", type=int, default=4096)
    ap.add_argument("--agents", type=int, default=256)
    ap.add_argument("--levels", type=int, default=None)
    ap.add_argument("--symbols", type=int, default=None)
    ap.add_argument("--warmup-ticks", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--only", default=None, help="comma-separated stage names to time")
    a = ap.parse_args()
    cfg = sim_config(
        load_workload(a.workload),
        scenarios=a.scenarios,
        agents=a.agents,
        ticks=a.warmup_ticks,
        levels=a.levels,
        symbols=a.symbols,
    )
    built = build(cfg)
    static = built.static
    params = scenario_params(built.params, a.scenarios)
    keys = scenario_keys(0, a.scenarios)

    @jax.jit
    def warm(params, keys):
        def one(p, k):
            s = init_state(static, p, k)
            ks = jax.random.split(k, a.warmup_ticks)
            return jax.lax.scan(lambda s, k: (step(static, p, s, k)[0], None), s, ks)[0]

        return jax.vmap(one)(params, keys)

    state = jax.block_until_ready(warm(params, keys))
    tick_keys = jax.vmap(lambda k: jax.random.fold_in(k, 99))(keys)
    inputs = jax.jit(jax.vmap(lambda p, s, k: prepare(static, p, s, k)))(params, state, tick_keys)
    wanted = set(a.only.split(",")) if a.only else None
    agents = a.agents * a.scenarios
    for name, fn in stages(static):
        if wanted and name not in wanted:
            continue
        jitted = jax.jit(jax.vmap(fn))
        wall, cpu = time_call(jitted, (params, state, tick_keys, inputs), a.repeats)
        print(
            json.dumps(
                {
                    "stage": name,
                    "ms_per_tick": round(wall * 1e3, 3),
                    "cpu_ms_per_tick": round(cpu * 1e3, 3),
                    "ns_per_agent_tick": round(wall * 1e9 / agents, 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()

"""Benchmarks of qtgjax-evolve (JSON lines on stdout).

    .venv/bin/python benchmarks/evolve.py throughput --population 256 --scenarios 16
    .venv/bin/python benchmarks/evolve.py search --budget 120 --strategies cma_es,random

``throughput``: one generation of P candidates x S scenarios (one ``jit(vmap)`` per chunk)
after compiling, timed ``--repeats`` times; reports candidates x scenarios per second and
agent-ticks per second (rows x ticks x agents in the market / s).

``search``: each strategy runs generations until ``--budget`` seconds of wall clock have
passed (compilation excluded: the evaluation is compiled before the clocks start, and every
strategy shares it); then the best candidate of each is judged on the held-out scenarios.
Strategies are run alternately, ``--rounds`` times each with different search seeds, so a
load change on a shared machine hits all of them alike.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

SMALL_MARKET = [  # the tests' small market (conftest.SMALL): 2 symbols, 68 agents + candidates
    "ticks=100",
    "market.symbols=2",
    "market.initial_price=[1000,500]",
    "market.sectors=[0,0]",
    "market.levels=32",
    "market.recentre=8",
    "families.noise.n_agents=40",
    "families.fundamental.n_agents=12",
    "families.momentum.n_agents=12",
    "families.market_maker.n_agents=4",
    "families.market_maker.params.spread_jitter=2.0",
    "families.noise.params.p_active=0.3",
    "families.fundamental.params.p_active=0.3",
    "families.momentum.params.p_active=0.3",
    "fundamentals.news_rate=0.01",
    "fundamentals.news_size=0.03",
    "fundamentals.dividend_period=20",
]


def base_config(args) -> dict:
    from qtgjax.api import load_config

    cfg = load_config([], "evolve")
    cfg["progress"] = False
    cfg["compilation_cache"] = None
    if args.market == "small":
        cfg["market"] = "config"
        cfg["market_overrides"] = [*SMALL_MARKET, f"ticks={args.ticks}"]
        cfg["target"].pop("latency", None)  # the small market has no latency rings
        cfg["scenarios"]["regimes"] = {"fundamentals.news_rate": {"loguniform": [0.002, 0.03]}}
        cfg["genome"]["params"]["half_spread"]["high"] = 6.0
        cfg["genome"]["params"]["spread_jitter"]["high"] = 3.0
    else:
        cfg["market"] = args.market
        keep = [o for o in cfg["market_overrides"] if not o.startswith("ticks=")]
        cfg["market_overrides"] = [f"ticks={args.ticks}", *keep]  # keeps the latency rings
    return cfg


def machine() -> dict:
    import jax

    return {
        "device": str(jax.devices()[0]),
        "cpus": os.cpu_count(),
        "load_1min": os.getloadavg()[0],
        "date": time.strftime("%Y-%m-%d"),
    }


def throughput(args) -> None:
    from qtgjax.evolve import evolve_spec
    from qtgjax.evolve.setup import Evaluator, prepare

    cfg = base_config(args)
    cfg["search"]["population"] = args.population
    cfg["scenarios"]["train"]["n"] = args.scenarios
    cfg["chunk_size"] = args.chunk
    setup = prepare(evolve_spec(cfg))
    agents = sum(f.n_agents for f in setup.built.static.families)
    rng = np.random.default_rng(0)
    with Evaluator(setup) as evaluate:
        x = rng.normal(size=(args.population, setup.genome.dim)).astype(np.float32)
        t0 = time.perf_counter()
        evaluate((x, setup.train))
        first = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            x = rng.normal(size=x.shape).astype(np.float32)
            t0 = time.perf_counter()
            evaluate((x, setup.train))
            times.append(time.perf_counter() - t0)
    wall = float(np.median(times))
    rows = args.population * args.scenarios
    print(
        json.dumps(
            {
                "benchmark": "evolve_throughput",
                "market": args.market,
                "population": args.population,
                "scenarios": args.scenarios,
                "ticks": setup.problem.n_ticks,
                "agents": agents,
                "rows_per_call": evaluate.chunk(),
                "first_s": first,
                "wall_s": wall,
                "candidate_scenarios_per_s": rows / wall,
                "candidates_per_s": args.population / wall,
                "agent_ticks_per_s": rows * setup.problem.n_ticks * agents / wall,
                **machine(),
            }
        ),
        flush=True,
    )


def search(args) -> None:
    from qtgjax.evolve import evolve_spec
    from qtgjax.evolve.fitness import objectives, scalarise
    from qtgjax.evolve.search import Searcher
    from qtgjax.evolve.setup import Evaluator, prepare

    cfg = base_config(args)
    cfg["search"]["population"] = args.population
    spec = evolve_spec(cfg)
    setup = prepare(spec)
    strategies = args.strategies.split(",")
    q = spec.robust_quantile

    def fitness(rows, n, sset):
        o = objectives(rows, n, sset.size, setup.tick_size, q)
        return scalarise(o, spec.weights), o

    with Evaluator(setup) as evaluate:
        mean0 = setup.genome.encode(setup.defaults)
        evaluate((np.tile(mean0, (args.population, 1)), setup.train))  # compile
        default_out = evaluate((mean0[None], setup.holdout))[0]
        default_fit, default_obj = fitness(default_out, 1, setup.holdout)
        for rnd in range(args.rounds):
            for name in strategies:
                s = spec.search.__class__(**{**spec.search.__dict__, "strategy": name, "seed": rnd})
                searcher = Searcher(s, setup.genome, mean0)
                best_x, best_f, gens = None, -np.inf, 0
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < args.budget:
                    x = searcher.ask()
                    (out,) = evaluate((x, setup.train))
                    f, _ = fitness(out, len(x), setup.train)
                    searcher.tell(x, f)
                    gens += 1
                    if f.max() > best_f:
                        best_f, best_x = float(f.max()), x[int(np.argmax(f))]
                elapsed = time.perf_counter() - t0
                (held,) = evaluate((best_x[None], setup.holdout))
                oos_fit, oos_obj = fitness(held, 1, setup.holdout)
                print(
                    json.dumps(
                        {
                            "benchmark": "evolve_search",
                            "strategy": name,
                            "round": rnd,
                            "market": args.market,
                            "population": args.population,
                            "budget_s": args.budget,
                            "elapsed_s": elapsed,
                            "generations": gens,
                            "candidates": gens * args.population,
                            "best_is_fitness": best_f,
                            "best_oos_fitness": float(oos_fit[0]),
                            "best_oos_sharpe": float(oos_obj["sharpe"][0]),
                            "default_oos_fitness": float(default_fit[0]),
                            "default_oos_sharpe": float(default_obj["sharpe"][0]),
                            "best_params": setup.genome.values(best_x[None])[0],
                            **machine(),
                        }
                    ),
                    flush=True,
                )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=("throughput", "search"))
    parser.add_argument(
        "--market", default="small", help="small (the tests' market) or a conf name"
    )
    parser.add_argument("--ticks", type=int, default=100)
    parser.add_argument(
        "--population", type=int, default=None, help="256 (throughput), 16 (search)"
    )
    parser.add_argument("--scenarios", type=int, default=16)
    parser.add_argument("--chunk", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--strategies", default="cma_es,random")
    args = parser.parse_args()
    if args.what == "throughput":
        args.population = args.population or 256
        throughput(args)
    else:
        args.population = args.population or 16
        search(args)


if __name__ == "__main__":
    main()

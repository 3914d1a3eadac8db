"""What a tree ensemble costs in the market, and which evaluation layout is fastest.

Usage (from the repository root; needs the ``ml`` extra for LightGBM)::

    JAX_PLATFORMS=cpu .venv/bin/python benchmarks/ml_models.py [--agents 10000] \
        [--trees 100] [--depth 8] [--ticks 30] [--reps 3] [--out FILE.jsonl]

1. A LightGBM regressor of ``--trees`` trees of depth ``--depth`` (255 leaves at depth 8),
   fitted on random canonical features, compiled with :func:`qtgjax.ml.compile_model`.
2. Layouts: ``predict`` of ``--agents`` rows under jit for the gather, perfect-tree and
   GEMM layouts (:mod:`qtgjax.ml.layouts`), median seconds per call.
3. In the market: one symbol, ``--agents`` ``model`` agents plus the default market's
   families, ``--ticks`` ticks; the same run with the ensemble and with a linear model of
   the same inputs (no trees), alternated ``--reps`` times; agent-ticks per second of the
   whole market (every agent of every family) and of the model agents.

One JSON line per measurement (stdout, and ``--out``), then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import jax
import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def fitted_models(trees: int, depth: int, folder: Path):
    import lightgbm as lgb
    from sklearn.linear_model import Ridge

    from qtgjax.ml import compile_model
    from qtgjax.ml.features import FEATURES
    from qtgjax.ml.io import save_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40_000, len(FEATURES))).astype(np.float32) * 0.01
    y = np.sin(X @ rng.normal(size=len(FEATURES)) * 50) + 0.1 * rng.normal(size=len(X))
    ens = lgb.LGBMRegressor(n_estimators=trees, max_depth=depth, num_leaves=2**depth - 1,
                            min_child_samples=5, verbose=-1, random_state=0).fit(X, y)
    cm = compile_model(ens).replace(feature_names=FEATURES)
    lin = compile_model(Ridge().fit(X, y)).replace(feature_names=FEATURES)
    save_model(cm, folder / "ensemble.npz")
    save_model(lin, folder / "linear.npz")
    return cm, X


def time_call(fn, *args, reps: int) -> float:
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        jax.block_until_ready(fn(*args))
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def layouts(cm, X, n_rows: int, reps: int) -> list[dict]:
    from qtgjax.ml.layouts import LAYOUTS, with_layout

    x = np.resize(X, (n_rows, X.shape[1]))
    ref = np.asarray(cm.predict(x))
    rows = []
    for name in LAYOUTS:
        model = with_layout(cm, name)
        fn = jax.jit(lambda m, v: m.predict(v))
        assert np.allclose(np.asarray(fn(model, x)), ref, atol=1e-5), name
        s = time_call(fn, model, x, reps=max(reps, 5))
        rows.append({"bench": "layout", "layout": name, "rows": n_rows,
                     "seconds": s, "rows_per_s": n_rows / s})
    return rows


def market(model_file: Path, agents: int, ticks: int):
    from qtgjax import load_config
    from qtgjax.config.build import build, scenario_keys, scenario_params
    from qtgjax.sim.rollout import rollout

    cfg = load_config(["scenarios=1", f"ticks={ticks}", "market.symbols=1",
                       "market.initial_price=[10000]", "market.sectors=[0]",
                       "+agents@families.model=model", f"families.model.n_agents={agents}",
                       f"families.model.params.model={model_file}"])
    built = build(cfg)
    params = scenario_params(built.params, 1)
    keys = scenario_keys(0, 1)
    n_all = sum(f.n_agents for f in built.static.families)

    def run():
        return rollout(built.static, params, keys, ticks).final.tick

    return run, n_all


def in_market(folder: Path, agents: int, ticks: int, reps: int) -> list[dict]:
    runs = {v: market(folder / f"{v}.npz", agents, ticks) for v in ("ensemble", "linear")}
    for run, _ in runs.values():
        jax.block_until_ready(run())  # compile both first
    times = {v: [] for v in runs}
    for _ in range(reps):
        for v, (run, _) in runs.items():
            t0 = time.perf_counter()
            jax.block_until_ready(run())
            times[v].append(time.perf_counter() - t0)
    rows = []
    for v, (_, n_all) in runs.items():
        s = statistics.median(times[v])
        rows.append({"bench": "market", "model": v, "model_agents": agents, "agents": n_all,
                     "ticks": ticks, "seconds": s, "ticks_per_s": ticks / s,
                     "agent_ticks_per_s": n_all * ticks / s,
                     "model_agent_ticks_per_s": agents * ticks / s})
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=10_000)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--depth", type=int, default=8)
    ap.add_argument("--ticks", type=int, default=30)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", default=None)
    a = ap.parse_args(argv)
    import os

    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        cm, X = fitted_models(a.trees, a.depth, folder)
        meta = {"trees": a.trees, "depth": cm.trees.depth, "nodes": int(cm.trees.feature.shape[1]),
                "device": str(jax.devices()[0]), "load_1min": load}
        rows = layouts(cm, X, a.agents, a.reps) + in_market(folder, a.agents, a.ticks, a.reps)
    out = open(a.out, "a") if a.out else None  # noqa: SIM115
    for r in rows:
        line = json.dumps({**meta, **r})
        print(line)
        if out:
            out.write(line + "\n")
    if out:
        out.close()
    print(f"\n{a.trees} trees of depth {cm.trees.depth}, load {load:.1f}\n")
    print("| layout | rows | ms per predict | rows/s |\n|---|---:|---:|---:|")
    for r in rows[:3]:
        print(f"| {r['layout']} | {r['rows']} | {r['seconds'] * 1e3:.1f} | {r['rows_per_s']:.3g} |")
    print("\n| model agents run | agents (all) | ticks/s | agent-ticks/s | model agent-ticks/s |")
    print("|---|---:|---:|---:|---:|")
    for r in rows[3:]:
        print(f"| {r['model']} | {r['agents']} | {r['ticks_per_s']:.2f} | "
              f"{r['agent_ticks_per_s']:.3g} | {r['model_agent_ticks_per_s']:.3g} |")


if __name__ == "__main__":
    sys.exit(main())

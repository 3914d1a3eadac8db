"""qtgjax vs vectorbt on the same SMA-crossover grid, alternated in one process (CPU).

1,000 (fast, slow) pairs x the 5,031 S&P 500 days (``arch``), fills at the close, no costs,
long-only, fixed size. Both sides compute the moving averages, the signals, the portfolio
and every fill, and give the final equity; the script checks that the final equities agree
and prints one JSON line per timed repeat plus a summary line.

    .venv/bin/python benchmarks/backtest_vs_vectorbt.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

FAST = [int(x) for x in np.arange(5, 45)]  # 40 fast windows
SLOW = [int(x) for x in np.arange(50, 250, 8)]  # 25 slow windows: 40 x 25 = 1,000 pairs
SMALL = [  # other indicators' windows short, so the warm-up is the slow SMA's
    "market.indicators.bollinger=2", "market.indicators.range=2", "market.indicators.rsi=2",
    "market.indicators.atr=2", "market.indicators.macd_fast=2", "market.indicators.macd_slow=3",
    "market.indicators.macd_signal=2",
]


def run_qtgjax():
    from qtgjax.backtest import backtest

    started = time.perf_counter()
    result = backtest(overrides=["data=sp500", f"grid.fast={FAST}", f"grid.slow={SLOW}",
                                 "fill=close", "costs=none", "record=summary", *SMALL])
    final = result._arrays()["equity"][:, -1]
    return time.perf_counter() - started, final, result


def run_vectorbt(ticks: np.ndarray, cash: float):
    import vectorbt as vbt

    started = time.perf_counter()
    pairs = [(f, s) for f in FAST for s in SLOW]
    fast = vbt.MA.run(ticks, window=[p[0] for p in pairs], per_column=False).ma.values
    slow = vbt.MA.run(ticks, window=[p[1] for p in pairs], per_column=False).ma.values
    ready = (np.arange(len(ticks)) >= np.array([p[1] for p in pairs])[:, None]).T
    entries, exits = ready & (fast > slow), ready & (fast < slow)
    pf = vbt.Portfolio.from_signals(ticks[:, None], entries, exits, size=10, init_cash=cash)
    final = np.asarray(pf.final_value())
    return time.perf_counter() - started, final


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    first_q, final_q, result = run_qtgjax()  # compiles
    ticks = np.rint(result.setup.bars[0].close / result.setup.tick_size).astype(np.float64)
    cash = float(result.setup.cash)
    first_v, final_v = run_vectorbt(ticks, cash)  # numba compiles
    err = float(np.max(np.abs(final_q - final_v) / np.abs(final_v)))
    print(json.dumps({"first_call_s": {"qtgjax": first_q, "vectorbt": first_v},
                      "max_rel_final_equity_diff": err}))
    times = {"qtgjax": [], "vectorbt": []}
    for i in range(args.repeats):
        tq, _, _ = run_qtgjax()
        tv, _ = run_vectorbt(ticks, cash)
        times["qtgjax"].append(tq)
        times["vectorbt"].append(tv)
        print(json.dumps({"repeat": i, "qtgjax_s": tq, "vectorbt_s": tv}))
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(json.dumps({
        "workload": "sma_grid_sp500", "pairs": len(FAST) * len(SLOW), "bars": len(ticks),
        "qtgjax_s": med["qtgjax"], "vectorbt_s": med["vectorbt"],
        "speedup": med["vectorbt"] / med["qtgjax"], "load_1min": os.getloadavg()[0],
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
    }))


if __name__ == "__main__":
    main()

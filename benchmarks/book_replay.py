"""Book replay throughput: the ob-analytics Bitstamp sample (30 min, 314,057 order events)
in the batch auction with 1,000 simulated agents (700 noise, 150 momentum, 150 market
makers), one JSON line per run: recorded events per second after compilation.

    .venv/bin/python benchmarks/book_replay.py --tick-ms 1000
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tick-ms", type=float, default=1000.0)
    parser.add_argument("--lot", type=float, default=0.001, help="BTC per lot")
    args = parser.parse_args()
    from qtgjax.backtest.book import book_replay
    from qtgjax.data import bitstamp_events

    ev = bitstamp_events()
    started = time.perf_counter()
    first = book_replay(ev, tick_ms=args.tick_ms, tick_size=5.0, lot_size=args.lot)
    compile_and_run = time.perf_counter() - started
    again = book_replay(ev, tick_ms=args.tick_ms, tick_size=5.0, lot_size=args.lot)
    s = again.schedule
    ticks = again.tables()["ticks"]
    agents = again.tables()["agents"]
    replay = agents.filter(agents["family"] == "replay").row(0, named=True)
    print(json.dumps({
        "workload": "bitstamp_replay", "events": s.events, "ops": s.ops, "slots": s.n_slots,
        "ticks": s.n_ticks, "tick_ms": args.tick_ms, "simulated_agents": 1000,
        "run_s": again.seconds, "first_call_s": compile_and_run,
        "events_per_s": s.events / again.seconds, "volume_lots": int(ticks["volume"].sum()),
        "replay_volume": replay["volume"], "skipped_flashed": s.skipped_flashed,
        "load_1min": os.getloadavg()[0], "same_first": bool(first.seconds > 0),
    }))


if __name__ == "__main__":
    main()

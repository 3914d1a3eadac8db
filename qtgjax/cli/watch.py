"""``qtgjax-watch``: watch a simulation live in the terminal, or replay a finished run.

    qtgjax-watch [--config-name NAME] [key=value ...]      # live, the same config as qtgjax-run
    qtgjax-watch --replay DIR                              # a qtgjax-run / qtgjax-watch folder

The live run is the run ``qtgjax-run`` with the same config and overrides would do (same
scenarios, same keys, same numbers), computed in compiled segments of ``--segment`` ticks;
when it completes, the same files are written into ``out=DIR`` (default
``outputs/DATE/TIME``). ``--headless`` runs the same segments without a UI (for the
benchmark of what watching costs).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="qtgjax-watch",
        description="Watch a qtgjax simulation live in the terminal (the config and key=value "
        "overrides of qtgjax-run), or replay a finished run folder with --replay DIR.",
    )
    parser.add_argument("overrides", nargs="*", help="key=value overrides, as for qtgjax-run")
    parser.add_argument("--config-name", "-cn", default="config", help="conf/NAME.yaml")
    parser.add_argument("--replay", metavar="DIR", help="replay a finished run folder")
    parser.add_argument("--segment", type=int, default=50, help="ticks per compiled segment")
    parser.add_argument("--refresh", type=float, default=1.0, help="seconds between redraws")
    parser.add_argument(
        "--speed", default=None, help="ticks per second, or max (default: max live, 100 replay)"
    )
    parser.add_argument("--scenario", type=int, default=0, help="scenario shown first")
    parser.add_argument("--no-write", action="store_true", help="do not write the results")
    parser.add_argument("--quit-at-end", action="store_true", help="exit when the run is done")
    parser.add_argument("--headless", action="store_true", help="run the segments without a UI")
    parser.add_argument("--stats", metavar="FILE", help="write timings as one JSON line")
    args = parser.parse_intermixed_args(argv)
    if args.segment < 1:
        parser.error(f"--segment: {args.segment} must be at least 1")
    if args.refresh <= 0:
        parser.error(f"--refresh: {args.refresh} must be positive")
    if args.speed is not None and args.speed != "max":
        try:
            args.speed = float(args.speed)
        except ValueError:
            parser.error(f"--speed: {args.speed!r} is neither a number nor max")
        if args.speed <= 0:
            parser.error(f"--speed: {args.speed} must be positive")
    if args.replay and args.overrides:
        parser.error("--replay takes no overrides (the run folder holds its config)")
    return args


def out_folder(cfg: dict) -> Path:
    """``out`` of the config, else ``outputs/DATE/TIME`` as qtgjax-run names it."""
    if cfg.get("out"):
        return Path(cfg["out"])
    now = datetime.now()
    return Path("outputs") / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")


def build_live(args):
    """(LiveRun, config, out folder) or an error message."""
    from qtgjax.api import load_config
    from qtgjax.config.build import ConfigError, build
    from qtgjax.views.live import LiveRun

    try:
        cfg = load_config(args.overrides, config_name=args.config_name)
        built = build(cfg)
    except ConfigError as err:
        return f"bad config: {err}"
    except Exception as err:  # Hydra's override / composition errors, one line
        return f"bad overrides: {str(err).splitlines()[0]}"
    return LiveRun(built, segment=args.segment, config=cfg), cfg, out_folder(cfg)


def headless(live, out: Path | None) -> dict:
    started = time.perf_counter()
    while live.step():
        pass
    wall = time.perf_counter() - started
    if out is not None:
        live.result().write(out)
    return {"wall_s": wall}


def stats_line(live, extra: dict) -> dict:
    static, run = live.built.static, live.built.run
    agents = sum(f.n_agents for f in static.families)
    rate = live.throughput()  # after the first (compiling) segment, wall time
    return {
        "ticks": live.done,
        "scenarios": run.scenarios,
        "agents": agents,
        "segment": live.segment,
        "segments": live.segments,
        "traces": live.traces,
        "compile_s": live.compile_s,
        "sim_s": live.sim_s,
        "ticks_per_s": rate,
        "agent_ticks_per_s": rate * agents * run.scenarios,
        **extra,
    }


def cli(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    from qtgjax.views.watch import Player, WatchApp

    speed = None if args.speed in (None, "max") else args.speed
    if args.replay:
        from qtgjax.analysis.load import ResultsError
        from qtgjax.views.tape import from_folder

        try:
            tape = from_folder(args.replay)
        except ResultsError as err:
            print(f"qtgjax-watch: {err}", file=sys.stderr)
            return 2
        speed = 100.0 if args.speed is None else speed
        player = Player(tape, speed=speed)
        app = WatchApp(
            player,
            args.refresh,
            args.scenario,
            None,
            args.quit_at_end,
            label=f"replay {args.replay}",
        )
        app.run()
        print(f"qtgjax-watch: replayed {args.replay} to tick {player.cursor}/{tape.ticks}")
        return 0

    built = build_live(args)
    if isinstance(built, str):
        print(f"qtgjax-watch: {built}", file=sys.stderr)
        return 2
    live, cfg, out = built
    if not 0 <= args.scenario < live.tape.scenarios:
        print(
            f"qtgjax-watch: --scenario: {args.scenario} is out of range "
            f"0..{live.tape.scenarios - 1}",
            file=sys.stderr,
        )
        return 2
    out = None if args.no_write else out
    if args.headless:
        stats = stats_line(live, {"view": False, **headless(live, out)})
    else:
        player = Player(live.tape, live=live, speed=speed)
        app = WatchApp(
            player,
            args.refresh,
            args.scenario,
            out,
            args.quit_at_end,
            label=args.config_name if args.config_name != "config" else "live",
        )
        started, ui_cpu = time.perf_counter(), time.thread_time()
        app.run()
        ui_cpu = time.thread_time() - ui_cpu  # the UI thread's CPU time (Textual, panels)
        app.stop_simulation()
        wall = time.perf_counter() - started
        extra = {"view": True, "wall_s": wall, "ui_cpu_s": ui_cpu, "redraws": app.redraws}
        stats = stats_line(live, {**extra, "refresh_s": args.refresh})
        if app.simulator is not None and app.simulator.error is not None:
            raise app.simulator.error
    if args.stats:
        Path(args.stats).write_text(json.dumps(stats) + "\n")
    rate = stats["agent_ticks_per_s"]
    print(
        f"qtgjax-watch: {live.done}/{live.n_ticks} ticks, {stats['segments']} segments of "
        f"{live.segment}, traced {live.traces}x, compile {live.compile_s or 0:.1f} s, "
        f"{rate / 1e6:.2f}M agent-ticks/s after compile"
    )
    if live.finished and out is not None:
        print(f"results: {out}")
    elif not live.finished:
        print(f"stopped at tick {live.done} of {live.n_ticks}: no results written")
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli())


if __name__ == "__main__":
    main()

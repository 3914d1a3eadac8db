"""``qtgjax-dash``: a browser dashboard (Bokeh server) over a run folder, a study folder or a
live run.

    qtgjax-dash results/demo                     # a qtgjax-run folder
    qtgjax-dash results/sweeps/market_quality    # a qtgjax-sweep study folder
    qtgjax-dash --live [--config-name NAME] [key=value ...]   # simulate while watching

Serves http://127.0.0.1:PORT/ until interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Sequence


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="qtgjax-dash",
        description="Serve a dashboard over a qtgjax-run folder, a qtgjax-sweep study folder, "
        "or (--live) a simulation run in segments with qtgjax-run's config and overrides.",
    )
    parser.add_argument("args", nargs="*", help="FOLDER, or with --live: key=value overrides")
    parser.add_argument("--live", action="store_true", help="simulate and watch live")
    parser.add_argument("--config-name", "-cn", default="config", help="conf/NAME.yaml (--live)")
    parser.add_argument("--segment", type=int, default=50, help="ticks per segment (--live)")
    parser.add_argument("--port", type=int, default=5006)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--refresh", type=float, default=1.0, help="seconds between live updates")
    args = parser.parse_intermixed_args(argv)
    if not args.live and len(args.args) != 1:
        parser.error("give one results folder (or --live with key=value overrides)")
    if args.refresh <= 0:
        parser.error(f"--refresh: {args.refresh} must be positive")
    return args


def live_source(args):
    """A Source over a LiveRun whose segments run in a background thread."""
    from qtgjax.cli.watch import build_live
    from qtgjax.views.dash_data import Source

    built = build_live(
        argparse.Namespace(overrides=args.args, config_name=args.config_name, segment=args.segment)
    )
    if isinstance(built, str):
        return built
    live, cfg, out = built

    def simulate() -> None:
        while live.step():
            pass
        live.result().write(out)
        print(f"qtgjax-dash: run finished; results: {out}", flush=True)

    threading.Thread(target=simulate, daemon=True, name="qtgjax-dash-sim").start()
    name = f"live {args.config_name} ({live.n_ticks} ticks)"
    return Source(
        "live",
        name,
        live.built.run.tick_size,
        frames=live.tape.frames,
        finished=lambda: live.finished,
    )


def cli(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    from bokeh.application import Application
    from bokeh.application.handlers.function import FunctionHandler
    from bokeh.server.server import Server

    from qtgjax.analysis.load import ResultsError
    from qtgjax.views.dash import make_document
    from qtgjax.views.dash_data import Source

    if args.live:
        source = live_source(args)
        if isinstance(source, str):
            print(f"qtgjax-dash: {source}", file=sys.stderr)
            return 2
        refresh = int(args.refresh * 1000)
    else:
        try:
            source = Source.folder(args.args[0])
        except ResultsError as err:
            print(f"qtgjax-dash: {err}", file=sys.stderr)
            return 2
        refresh = None
    app = Application(FunctionHandler(lambda doc: make_document(doc, source, refresh)))
    origins = [f"{host}:{args.port}" for host in (args.address, "localhost", "127.0.0.1")]
    server = Server(
        {"/": app}, port=args.port, address=args.address, allow_websocket_origin=origins
    )
    server.start()
    print(
        f"qtgjax-dash: serving http://{args.address}:{args.port}/ ({source.kind}: "
        f"{source.name}); Ctrl-C stops",
        flush=True,
    )
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(cli())


if __name__ == "__main__":
    main()

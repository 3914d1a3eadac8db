"""``qtgjax-watch``'s terminal UI (Textual): a live run or a replayed run folder.

A :class:`Player` decides which tick is on screen: a background thread runs the live
simulation segment by segment into the tape while the UI redraws every ``refresh`` seconds
at the player's cursor. Keys: space pauses and resumes (the simulation too), q quits, tab
switches symbol (a replayed run with several venues: the next (venue, symbol) book, every
symbol of venue 0, then of venue 1, ...), n switches scenario, + and - change the speed
(ticks per second, or max), s saves an SVG screenshot into the output folder.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Static

from qtgjax.views import panels
from qtgjax.views.live import LiveRun
from qtgjax.views.tape import Tape

SPEEDS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, None)  # None = max
REFRESH_S = 1.0  # default redraw interval, seconds


def speed_label(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g} ticks/s"


@dataclass
class Player:
    """The tick on screen, the speed and the pause state of one tape.

    Attributes:
        tape: what is shown.
        live: the simulation that fills the tape (None when replaying).
        speed: ticks per second, None = as fast as the simulation runs.
        cursor: ticks shown (the last shown tick is ``cursor - 1``).
    """

    tape: Tape
    live: LiveRun | None = None
    speed: float | None = None
    paused: bool = False
    cursor: int = 0
    _clock: float = field(default_factory=time.perf_counter)
    _carry: float = 0.0

    def advance(self) -> int:
        """Move the cursor for the time since the last call; returns the cursor."""
        now = time.perf_counter()
        elapsed, self._clock = now - self._clock, now
        if self.paused:
            return self.cursor
        if self.speed is None:
            self.cursor = self.tape.done
        else:
            self._carry += elapsed * self.speed
            step = int(self._carry)
            self._carry -= step
            self.cursor = min(self.tape.done, self.cursor + step)
        return self.cursor

    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self._clock = time.perf_counter()  # a pause is not time to catch up on

    def faster(self) -> None:
        self.speed = _shift(self.speed, +1)

    def slower(self) -> None:
        self.speed = _shift(self.speed, -1)

    def wants_more(self) -> bool:
        """Whether the simulation should run its next segment now: not paused, not done, and
        (at a limited speed) not more than two segments ahead of the screen."""
        live = self.live
        if live is None or self.paused or live.finished:
            return False
        return self.speed is None or self.tape.done - self.cursor < 2 * live.segment


def _shift(speed, direction: int):
    index = SPEEDS.index(speed) if speed in SPEEDS else len(SPEEDS) - 1
    return SPEEDS[max(0, min(len(SPEEDS) - 1, index + direction))]


class Simulator(threading.Thread):
    """Runs the live simulation's segments while the player wants more; on completion calls
    ``on_finish`` (which writes the results)."""

    def __init__(self, player: Player, on_finish=None):
        super().__init__(daemon=True, name="qtgjax-watch-sim")
        self.player, self.on_finish = player, on_finish
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        live = self.player.live
        try:
            while not self.stop.is_set() and not live.finished:
                if self.player.wants_more():
                    live.step()
                else:
                    self.stop.wait(0.01)
            if live.finished and self.on_finish is not None and not self.stop.is_set():
                self.on_finish()
        except BaseException as err:  # shown on screen and re-raised at exit
            self.error = err


CSS = """
#status { height: 1; background: $primary-background; color: $text; }
#message { height: 1; color: $text-muted; }
#top { height: 2fr; }
#bottom { height: 1fr; min-height: 14; }
#chart { width: 2fr; height: 100%; }
#ladder { width: 1fr; min-width: 34; height: 100%; }
#auctions, #league, #stats { width: 1fr; height: 100%; }
Static { overflow: hidden; }
"""


class WatchApp(App):
    """The terminal UI over a :class:`Player`."""

    CSS = CSS
    TITLE = "qtgjax-watch"
    BINDINGS = [
        Binding("space", "toggle_pause", "pause/resume"),
        Binding("q", "quit", "quit"),
        Binding("tab", "next_symbol", "symbol / venue", priority=True),
        Binding("n", "next_scenario", "scenario"),
        Binding("plus,equals_sign", "faster", "faster", key_display="+"),
        Binding("minus", "slower", "slower", key_display="-"),
        Binding("s", "save_svg", "screenshot"),
    ]

    def __init__(
        self,
        player: Player,
        refresh: float = REFRESH_S,
        scenario: int = 0,
        out: Path | None = None,
        quit_at_end: bool = False,
        label: str = "",
    ):
        super().__init__()
        self.player, self.refresh_s = player, refresh
        self.scenario, self.symbol = scenario, 0
        self.out, self.quit_at_end, self.label = out, quit_at_end, label
        self.message = ""
        self.redraws = 0
        self._drawn = None  # what the panels show: (cursor, scenario, symbol, chart size)
        self.simulator: Simulator | None = None
        self.finished_written = False

    def compose(self) -> ComposeResult:
        yield Static(id="status")
        with Vertical():
            with Horizontal(id="top"):
                yield Static(id="chart")
                yield Static(id="ladder")
            with Horizontal(id="bottom"):
                yield Static(id="auctions")
                yield Static(id="league")
                yield Static(id="stats")
        yield Static(id="message")
        yield Footer()

    def on_mount(self) -> None:
        if self.player.live is not None:
            self.simulator = Simulator(self.player, on_finish=self.finish)
            self.simulator.start()
        self.set_interval(self.refresh_s, self.redraw)
        self.call_after_refresh(self.redraw)  # once the panels have their sizes

    def finish(self) -> None:
        """Called by the simulator thread when the run is complete: write the results."""
        if self.out is not None:
            self.player.live.result().write(self.out)
            self.message = f"finished; results: {self.out}"
        else:
            self.message = "finished (results not written: --no-write)"
        self.finished_written = True

    def status_line(self) -> str:
        p, tape = self.player, self.player.tape
        state = "PAUSED" if p.paused else ("finished" if p.cursor >= tape.ticks else "running")
        parts = [
            f"qtgjax-watch {self.label}".strip(),
            f"tick {p.cursor}/{tape.ticks}",
            state,
            f"speed {speed_label(p.speed)}",
            f"scenario {self.scenario}/{tape.scenarios}",
            tape.book_label(self.symbol),
        ]
        live = p.live
        if live is not None:
            rate = live.throughput() if live.segments > 1 else 0.0
            parts.append(f"segment {live.segment} ticks, traces {live.traces}")
            if live.compile_s is not None:
                parts.append(f"compile {live.compile_s:.1f}s, {rate:,.0f} ticks/s")
            else:
                parts.append("compiling...")
        return " | ".join(parts)

    def redraw(self) -> None:
        """Redraw what changed: the status line, and the panels when the tick, symbol or
        scenario on screen moved (so a redraw between segments costs nothing when the
        simulation is slower than the refresh)."""
        p = self.player
        cursor = p.advance()
        self.query_one("#status", Static).update(self.status_line())
        sim = self.simulator
        if sim is not None and sim.error is not None:
            self.message = f"simulation failed: {sim.error!r}"
        self.query_one("#message", Static).update(self.message)
        chart = self.query_one("#chart", Static)
        key = (cursor, self.scenario, self.symbol, chart.size)
        if cursor == 0 or key == self._drawn:
            return
        self._drawn = key
        t, b, s = cursor - 1, self.scenario, self.symbol
        width, height = chart.size
        chart.update(panels.price_chart(p.tape, b, s, t, width, height))
        self.query_one("#ladder", Static).update(panels.ladder(p.tape, b, s, t))
        self.query_one("#auctions", Static).update(panels.auctions(p.tape, b, s, t))
        self.query_one("#league", Static).update(panels.league(p.tape, b, t))
        self.query_one("#stats", Static).update(panels.stats_table(p.tape, b, s, t))
        self.redraws += 1
        done = p.live is None or self.finished_written
        if self.quit_at_end and done and cursor >= p.tape.ticks:
            self.exit(0)

    def action_toggle_pause(self) -> None:
        self.player.toggle_pause()
        self.redraw()

    def action_next_symbol(self) -> None:
        self.symbol = (self.symbol + 1) % self.player.tape.symbols
        self.redraw()

    def action_next_scenario(self) -> None:
        self.scenario = (self.scenario + 1) % self.player.tape.scenarios
        self.redraw()

    def action_faster(self) -> None:
        self.player.faster()
        self.redraw()

    def action_slower(self) -> None:
        self.player.slower()
        self.redraw()

    def action_save_svg(self) -> None:
        folder = self.out or Path.cwd()
        folder.mkdir(parents=True, exist_ok=True)
        path = self.save_screenshot(filename="watch.svg", path=str(folder))
        self.message = f"screenshot: {path}"

    def stop_simulation(self) -> None:
        if self.simulator is not None:
            self.simulator.stop.set()
            self.simulator.join(timeout=30)

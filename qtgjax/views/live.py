"""A simulation run in compiled segments of N ticks, for the live views.

:class:`LiveRun` runs the same scenarios, with the same keys, as ``qtgjax-run`` with the same
config, but N ticks per call of one compiled function (:func:`run_segment`), so that a view
can redraw between segments. The segment function is traced and compiled once: every call
has the same shapes (the last segment of a run whose length is not a multiple of N runs its
spare ticks as no-ops, a ``lax.cond`` on an unbatched predicate); :attr:`LiveRun.traces`
counts the traces and every segment asserts it is still 1. When the run is complete,
:meth:`LiveRun.result` gives the :class:`~qtgjax.api.SimResult` that ``qtgjax-run`` would
have written, table for table.
"""

from __future__ import annotations

import time
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.api import SimResult
from qtgjax.config.build import Built, scenario_keys, scenario_params
from qtgjax.io.tables import family_wealth
from qtgjax.sim.chunk import CPU_COMPILER_OPTIONS
from qtgjax.sim.depth import DepthLevels, DepthSpec, scan_with_depth
from qtgjax.sim.rollout import Rollout, init_state
from qtgjax.sim.tick import step_book
from qtgjax.sim.types import SimStatic
from qtgjax.views.tape import Tape

LADDER = 10  # depth levels per side the views keep (more if record.depth asks for more)
TRACES = {"segment": 0}  # traces of run_segment in this process


def _segment(static: SimStatic, params, state, key_data, n_active, levels: int):
    """N ticks of B scenarios (the leading axis of params, state and key_data [B, N, 2]);
    ticks i >= n_active leave the state as it is. Returns (state, records, depth), the
    records and depth with axes (B, N, ...)."""
    TRACES["segment"] += 1
    spec = DepthSpec(levels=levels, every=1)

    def one(p, s, data):
        keys = jax.random.wrap_key_data(data)
        _, record0, book0 = jax.eval_shape(partial(step_book, static, p), s, keys[0])
        idle = (
            jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), record0),
            jax.tree.map(lambda x: jnp.zeros(x.shape, x.dtype), book0),
        )

        def tick_or_idle(state, key_and_i):
            key, i = key_and_i

            def tick(state):
                return step_book(static, p, state, key)

            def rest(state):
                return state, *idle

            return jax.lax.cond(i < n_active, tick, rest, state)

        ticks = jnp.arange(data.shape[0], dtype=jnp.int32)
        return scan_with_depth(tick_or_idle, s, (keys, ticks), spec, static.n_levels)

    return jax.vmap(one)(params, state, key_data)


_segment_cpu = jax.jit(
    _segment, static_argnames=("static", "levels"), compiler_options=CPU_COMPILER_OPTIONS
)
_segment_any = jax.jit(_segment, static_argnames=("static", "levels"))


def run_segment(static, params, state, key_data, n_active, levels: int):
    """The jitted :func:`_segment` with the device's compiler options."""
    fn = _segment_cpu if jax.devices()[0].platform == "cpu" else _segment_any
    return fn(static, params, state, key_data, n_active, levels=levels)


@partial(jax.jit, static_argnames=("n_ticks",))
def _tick_keys(keys, n_ticks: int):
    """The init keys [B] and the key data [B, T, 2] of every tick: ``split(key)`` then
    ``split(k_run, T)``, as :func:`qtgjax.sim.rollout.run_scenario` draws them."""

    def one(key):
        k_init, k_run = jax.random.split(key)
        return k_init, jax.random.key_data(jax.random.split(k_run, n_ticks))

    return jax.vmap(one)(keys)


@partial(jax.jit, static_argnames=("static",))
def _init(static, params, init_keys):
    return jax.vmap(partial(init_state, static))(params, init_keys)


class LiveRun:
    """B scenarios of a built config, run N ticks at a time into a :class:`Tape`.

    Args:
        built: the validated config (``qtgjax.config.build.build``).
        segment: N, ticks per compiled call.
        config: the resolved config (written with the results).
    """

    def __init__(self, built: Built, segment: int = 50, config: dict | None = None):
        self.built, self.config = built, config or {}
        static, run = built.static, built.run
        self.n_ticks = run.ticks
        self.segment = max(1, min(segment, run.ticks))
        self.levels = max(LADDER, static.depth.levels)
        self.levels = min(self.levels, static.n_levels)
        self.params = scenario_params(built.params, run.scenarios)
        keys = scenario_keys(run.seed, run.scenarios)
        init_keys, tick_keys = _tick_keys(keys, n_ticks=run.ticks)
        self.tick_keys = np.asarray(tick_keys)
        self.state = _init(static, self.params, init_keys)
        self.initial = jax.device_get(self.state)
        names = [f.name for f in static.families]
        self.tape = Tape.empty(
            run.scenarios, run.ticks, static.n_symbols, names, run.tick_size, self.levels
        )
        self.tape.kinds = tuple(f.kind for f in static.families)
        self.tape.n_agents = tuple(f.n_agents for f in static.families)
        self._records: list = []
        self._depth: list = []
        self.compile_s: float | None = None
        self.sim_s = 0.0  # seconds in segment calls after the first (compiled) one
        self.first_done_at: float | None = None  # perf_counter at the end of segment 1
        self.last_done_at: float | None = None  # ... and of the latest segment
        self.segments = 0
        self._traces0 = TRACES["segment"]

    @property
    def traces(self) -> int:
        """Times the segment function was traced for this run: 1 after its first segment
        (0 if an earlier run of the same shapes in this process traced it), never more."""
        return TRACES["segment"] - self._traces0

    @property
    def done(self) -> int:
        return self.tape.done

    @property
    def finished(self) -> bool:
        return self.tape.done >= self.n_ticks

    def step(self) -> int:
        """Run the next segment; returns the ticks it added (0 when the run is complete)."""
        start = self.tape.done
        if start >= self.n_ticks:
            return 0
        n = min(self.segment, self.n_ticks - start)
        data = np.zeros((self.tick_keys.shape[0], self.segment, 2), self.tick_keys.dtype)
        data[:, :n] = self.tick_keys[:, start : start + n]
        began = time.perf_counter()
        state, records, depth = run_segment(
            self.built.static, self.params, self.state, data, np.int32(n), self.levels
        )
        records, depth = jax.device_get((records, depth))
        seconds = time.perf_counter() - began
        if self.compile_s is None:
            self.compile_s = seconds
        else:
            self.sim_s += seconds
        if self.traces > 1:  # 0 when an earlier run in this process compiled it
            raise AssertionError(f"segment function traced {self.traces} times, expected 1")
        self.state = state
        records = jax.tree.map(lambda x: x[:, :n], records)
        depth = jax.tree.map(lambda x: x[:, :n], depth)
        self._records.append(records)
        self._depth.append(depth)
        self._fill_tape(start, n, records, depth)
        self.segments += 1
        self.last_done_at = time.perf_counter()
        if self.first_done_at is None:
            self.first_done_at = self.last_done_at
        return n

    def throughput(self) -> float:
        """Ticks per second of wall time after the first (compiling) segment, waits between
        segments included: what a view costs shows up here."""
        if self.segments < 2:
            return float("nan")
        ticks = self.done - min(self.segment, self.done)
        return ticks / (self.last_done_at - self.first_done_at)

    def _fill_tape(self, start: int, n: int, records, depth: DepthLevels) -> None:
        tape, size = self.tape, self.built.run.tick_size
        window = slice(start, start + n)
        price = {
            "close": records.close,
            "vwap": np.where(records.volume > 0, records.clear_price, np.nan),
            "best_bid": np.where(records.best_bid > 0, records.best_bid, np.nan),
            "best_ask": np.where(records.best_ask > 0, records.best_ask, np.nan),
            "fundamental": records.fundamental,
        }
        for name, values in price.items():
            tape.series[name][:, window] = np.asarray(values, np.float64) * size
        for name in ("volume", "taker_flow", "bid_depth", "ask_depth"):
            tape.series[name][:, window] = getattr(records, name)
        partial_run = Rollout(self.initial, None, records)
        wealth = family_wealth(partial_run)  # [B, n + 1, F]; index 0: the start
        n_agents = np.array([f.n_agents for f in self.built.static.families], np.float64)
        tape.pnl[:, window] = (wealth[:, 1:] - wealth[:, :1]) * size / n_agents
        tape.depth_price[:, window] = np.where(depth.lots > 0, depth.price * size, np.nan)
        tape.depth_lots[:, window] = depth.lots
        tape.depth_ticks[window] = True
        tape.done = start + n

    def result(self) -> SimResult:
        """The finished run as ``qtgjax.simulate`` returns it (the same tables)."""
        if not self.finished:
            raise RuntimeError(f"the run is at tick {self.done} of {self.n_ticks}")
        records = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *self._records)
        depth = None
        spec = self.built.static.depth
        if spec.levels:
            every = jax.tree.map(lambda *xs: np.concatenate(xs, axis=1), *self._depth)
            depth = jax.tree.map(lambda x: x[:, :: spec.every, :, :, : spec.levels], every)
        out = Rollout(self.initial, jax.device_get(self.state), records, depth)
        return SimResult(self.config, self.built, out)

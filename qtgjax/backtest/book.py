"""Book replay: recorded order events in the batch auction, with simulated agents alongside.

:func:`schedule` turns :class:`~qtgjax.data.OrderEvents` into the ``replay`` family's
params (:mod:`qtgjax.agents.families.replay`); :func:`book_replay` builds a simulated
market (``conf/config.yaml`` with overrides), adds the replay family and runs it with
the simulator's own rollout. Results are the simulator's tables (``ticks``, ``agents``,
``positions``; the replay family is one row of ``agents``).

What is approximated:
- **Event times are rounded down to ticks** of ``tick_ms``: all events of a tick meet in
  one batch auction at one clearing price (a sweep through several levels trades at the
  marginal level's price). Several events of one order within a tick become one: an
  order added and cancelled in the same tick never rests (it is skipped) unless it
  traded, in which case it enters that tick's auction as an incoming order.
- **Executions.** Where the feed has the aggressors' own orders (Bitstamp), they cross the
  book in the auction and the makers' recorded fills are not applied again; where only
  the resting side is recorded (LOBSTER), each execution sends an incoming marketable
  order of the other side for its size at its price, and the resting order is filled by
  the auction. Either way the auction decides who is filled: priority is price, then age
  class (``market.age_classes``), then pro-rata, so within a level it may not be the
  recorded order, and a later cancel of that order removes what is left of it in replay.
- **Cancels of orders already filled** by simulated agents cancel nothing; partial cancels
  re-enter the queue (their age restarts).
- **Hidden liquidity** is seen only when it trades (LOBSTER type 5): a one-auction pair of
  crossing orders at the trade price.
- **Orders placed before the file starts** rest in the initial book (LOBSTER's first
  orderbook row), each carved out of its level with the lots its later events account
  for (:func:`qtgjax.data.readers.match_resting`); without an initial book, or at a
  price the snapshot does not show, their events are skipped and counted.
- Orders off the price grid are parked in the family and shown when the grid reaches them.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.agents.families.replay import CANCEL, REDUCE, SET, TAKE, ReplayParams
from qtgjax.agents.types import AccountParams, FamilySpec
from qtgjax.api import load_config
from qtgjax.config.build import build, scenario_keys, scenario_params
from qtgjax.data.types import ADD, DELETE, EXECUTE, HIDDEN_EXECUTE, OrderEvents
from qtgjax.data.types import REDUCE as EV_REDUCE
from qtgjax.sim.chunk import simulate_chunked


@dataclass(frozen=True)
class Schedule:
    """A replay schedule and what was dropped.

    Attributes:
        params: :class:`ReplayParams` (host arrays as jnp).
        n_slots: agents the replay family needs.
        n_ticks: ticks covered.
        events: recorded events read; ops: events after merging per order and tick.
        skipped_unknown: events of orders never added; skipped_flashed: orders added and
            cancelled within one tick without trading.
        first_price: the first recorded mid (or trade) price, ticks.
    """

    params: ReplayParams
    n_slots: int
    n_ticks: int
    events: int
    ops: int
    skipped_unknown: int
    skipped_flashed: int
    first_price: int


def schedule(ev: OrderEvents, tick_ms: float, tick_size: float, lot_size: float,
             n_ticks: int | None = None) -> Schedule:
    """The replay family's schedule: one op per (order, tick), slots assigned greedily."""
    t0 = int(ev.time.min())
    tick = ((ev.time - t0) // int(round(tick_ms * 1e6))).astype(np.int64)
    ids = ev.order_id.astype(np.int64)
    kind = ev.kind.astype(np.int64)
    price = np.rint(ev.price / tick_size).astype(np.int64)
    lots = np.rint(ev.qty / lot_size).astype(np.int64)
    buy = ev.is_buy.astype(bool)
    if ev.initial is not None and len(ev.initial["price"]):
        k = len(ev.initial["price"])
        anonymous = -1 - np.arange(k)  # an initial book without ids: one order per entry
        ids = np.concatenate([ev.initial.get("order_id", anonymous), ids])
        tick = np.concatenate([np.zeros(k, np.int64), tick])
        kind = np.concatenate([np.full(k, ADD), kind])
        price = np.concatenate([np.rint(ev.initial["price"] / tick_size).astype(np.int64), price])
        lots = np.concatenate([np.rint(ev.initial["qty"] / lot_size).astype(np.int64), lots])
        buy = np.concatenate([ev.initial["is_buy"], buy])
    horizon = int(tick.max()) + 1 if n_ticks is None else int(n_ticks)
    keep = tick < horizon
    ids, tick, kind, price, lots, buy = (x[keep] for x in (ids, tick, kind, price, lots, buy))
    ops = []  # (tick, order key, op, price, lots, buy)
    added = {}
    unknown = flashed = 0
    next_key = [0]

    def new_key():
        next_key[0] += 1
        return ("taker", next_key[0])

    order = np.lexsort((np.arange(len(ids)), tick, ids))  # by order, then time
    i = 0
    n = len(ids)
    while i < n:
        j = i
        while j < n and ids[order[j]] == ids[order[i]] and tick[order[j]] == tick[order[i]]:
            j += 1
        rows = order[i:j]
        oid, t = int(ids[rows[0]]), int(tick[rows[0]])
        kinds = kind[rows]
        if not ev.aggressors:  # LOBSTER: executions are incoming orders of the other side
            for r in rows[kinds == EXECUTE]:
                ops.append((t, new_key(), TAKE, price[r], lots[r], not buy[r]))
            for r in rows[kinds == HIDDEN_EXECUTE]:
                ops.append((t, new_key(), TAKE, price[r], lots[r], bool(buy[r])))
                ops.append((t, new_key(), TAKE, price[r], lots[r], not buy[r]))
        has_add = (kinds == ADD).any()
        if has_add:
            r = rows[kinds == ADD][0]
            size = int(lots[r] - lots[rows[kinds == EV_REDUCE]].sum())
            gone = (kinds == DELETE).any()
            traded = ev.aggressors and (kinds == EXECUTE).any()
            if gone and not traded:
                flashed += 1
            elif size > 0:
                ops.append((t, ("order", oid), TAKE if gone else SET, price[r], size, bool(buy[r])))
                added[oid] = True
        elif oid not in added:
            unknown += int(((kinds == EV_REDUCE) | (kinds == DELETE)).sum())
        elif (kinds == DELETE).any():
            ops.append((t, ("order", oid), CANCEL, 0, 0, False))
        elif (kinds == EV_REDUCE).any():
            ops.append((t, ("order", oid), REDUCE, 0, int(lots[rows[kinds == EV_REDUCE]].sum()),
                        False))
        i = j
    ops.sort(key=lambda o: o[0])
    slots, n_slots = assign_slots(ops)
    m = len(ops)
    arr = {
        "tick": np.array([o[0] for o in ops], np.int64),
        "slot": np.array([slots[o[1]] for o in ops], np.int32),
        "op": np.array([o[2] for o in ops], np.int32),
        "price": np.clip(np.array([o[3] for o in ops], np.int64), 0, 2**30).astype(np.int32),
        "qty": np.clip(np.array([o[4] for o in ops], np.int64), 0, 2**30).astype(np.int32),
        "is_buy": np.array([o[5] for o in ops], bool),
    }
    start = np.searchsorted(arr["tick"], np.arange(horizon + 1)).astype(np.int32)
    window = int(max(1, np.diff(start).max(initial=1)))
    params = ReplayParams(
        start=jnp.asarray(start), slot=jnp.asarray(arr["slot"]),
        symbol=jnp.zeros(m, jnp.int32), op=jnp.asarray(arr["op"]),
        price=jnp.asarray(arr["price"]), qty=jnp.asarray(arr["qty"]),
        is_buy=jnp.asarray(arr["is_buy"]), window=jnp.arange(window, dtype=jnp.int32),
    )
    return Schedule(params, n_slots, horizon, len(ev.time), m, unknown, flashed,
                    first_mid(ev, tick_size))


def assign_slots(ops) -> tuple[dict, int]:
    """Order key -> slot: an order holds its slot from its first op's tick to one tick
    after its last (an incoming order: its tick and the next), then the slot is free."""
    first, last = {}, {}
    for t, key, op, *_ in ops:
        first.setdefault(key, t)
        last[key] = t + 1 if op == TAKE else (t if op == CANCEL else None)
    end = {k: (v if v is not None else 10**18) for k, v in last.items()}
    free: list[int] = []
    busy: list[tuple[int, int]] = []
    slots, n = {}, 0
    for key in sorted(first, key=lambda k: first[k]):
        t = first[key]
        while busy and busy[0][0] < t:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            s = heapq.heappop(free)
        else:
            s, n = n, n + 1
        slots[key] = s
        heapq.heappush(busy, (end[key], s))
    return slots, max(n, 1)


def first_mid(ev: OrderEvents, tick_size: float) -> int:
    """A starting price: the mid of the first best bid and ask added, else the first price."""
    add = ev.kind == ADD
    bids = ev.price[add & ev.is_buy]
    asks = ev.price[add & ~ev.is_buy]
    if ev.initial is not None and len(ev.initial["price"]):
        bids = np.concatenate([ev.initial["price"][ev.initial["is_buy"]], bids])
        asks = np.concatenate([ev.initial["price"][~ev.initial["is_buy"]], asks])
    if len(bids) and len(asks):
        window = min(len(bids), len(asks), 1000)
        bid, ask = np.max(bids[:window]), np.min(asks[:window])
        if ask > bid:
            return int(round((bid + ask) / 2 / tick_size))
    return int(round(ev.price[0] / tick_size))


DEFAULT_AGENTS = [  # 1,000 simulated agents beside the recorded flow
    "~agents@families.background", "~agents@families.fundamental",
    "families.noise.n_agents=700", "families.momentum.n_agents=150",
    "families.market_maker.n_agents=150",
]


@dataclass
class ReplayResult:
    """A finished book replay: the simulator's result plus the schedule and timing."""

    built: object
    out: object
    schedule: Schedule
    tick_size: float
    seconds: float

    def tables(self):
        from qtgjax.io.tables import all_tables

        return all_tables(self.built.static, self.out, self.tick_size)


def book_replay(ev: OrderEvents, tick_ms: float = 100.0, tick_size: float | None = None,
                lot_size: float = 1.0, overrides=(), agents=tuple(DEFAULT_AGENTS),
                n_ticks: int | None = None, seed: int = 0, levels: int = 256) -> ReplayResult:
    """Replay ``ev`` with simulated agents (``agents`` + ``overrides`` on conf/config.yaml;
    ``agents=()`` and ``overrides=["~agents@families.X", ...]`` choose them).

    The grid is centred on the first recorded mid; ``tick_size`` default: the smallest
    1/2/5 x 10^k that keeps the price at most 30,000 ticks.
    """
    from qtgjax.data.types import auto_tick_size

    if tick_size is None:
        tick_size = auto_tick_size(np.array([np.median(ev.price[ev.kind == ADD])]))
    sched = schedule(ev, tick_ms, tick_size, lot_size, n_ticks)
    cfg = load_config([
        "scenarios=1", f"ticks={sched.n_ticks}", f"seed={seed}", "market.symbols=1",
        f"market.initial_price=[{sched.first_price}]", "market.sectors=[0]",
        f"market.levels={levels}", f"market.tick_size={tick_size}",
        f"market.recentre={max(1, levels // 8)}",
        *agents, *overrides,
    ])
    built = build(cfg)
    static, params = built.static, built.params
    spec = FamilySpec("replay", "replay", sched.n_slots, static.n_symbols, static.n_levels)
    account = AccountParams(cash=jnp.int32(0), position=jnp.int32(0),
                            max_position=jnp.int32(2**30), maker_bps=jnp.float32(0),
                            taker_bps=jnp.float32(0), borrow_bps=jnp.float32(0))
    static = static.replace(families=(*static.families, spec))
    params = params.replace(accounts=(*params.accounts, account),
                            strategies=(*params.strategies, sched.params))
    built = built.__class__(static, params, built.run)
    keys = scenario_keys(seed, 1)
    batched = scenario_params(params, 1)
    started = time.perf_counter()
    out, _ = simulate_chunked(static, batched, keys, sched.n_ticks)
    jax.block_until_ready(out)
    return ReplayResult(built, out, sched, tick_size, time.perf_counter() - started)

"""Brute-force reference of the batch auction, in plain Python ints.

Written from the rules (DESIGN.md section 2 / the auction module docstring), not from the JAX
code: it loops over levels, sides, ages and orders literally. Clarity over speed. It does not
import qtgjax.

Rules:

* An order takes part iff ``0 <= level < n_levels`` and ``qty > 0``; others fill 0.
* ``D(l)`` = buy lots with level >= l, ``S(l)`` = sell lots with level <= l,
  ``exec(l) = min(D(l), S(l))``, ``V = max_l exec(l)``. ``V == 0``: no trade.
* Candidates: ``exec(l) == V`` and ``D(l) - buy_at(l) <= V`` and ``S(l) - sell_at(l) <= V``.
  Pick the smallest ``|D - S|``, then the smallest ``|l - ref|`` (ref 0 when None), then the
  lowest level.
* Allocation per side: price priority level by level, then age classes oldest (largest age)
  first, then cumulative-rounding pro-rata within a class in increasing order index.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RefResult:
    level: int
    volume: int
    filled: list[int]


def _as_ints(xs) -> list[int]:
    return [int(x) for x in xs]


def takes_part(level: int, qty: int, n_levels: int) -> bool:
    return 0 <= level < n_levels and qty > 0


def demand_supply(level, qty, is_buy, n_levels: int):
    """Lists D, S, buy_at, sell_at over the levels 0..n_levels-1, by direct summation."""
    level, qty = _as_ints(level), _as_ints(qty)
    is_buy = [bool(b) for b in is_buy]
    n = len(level)
    demand, supply, buy_at, sell_at = [], [], [], []
    for lvl in range(n_levels):
        d = s = b_at = s_at = 0
        for i in range(n):
            if not takes_part(level[i], qty[i], n_levels):
                continue
            if is_buy[i]:
                if level[i] >= lvl:
                    d += qty[i]
                if level[i] == lvl:
                    b_at += qty[i]
            else:
                if level[i] <= lvl:
                    s += qty[i]
                if level[i] == lvl:
                    s_at += qty[i]
        demand.append(d)
        supply.append(s)
        buy_at.append(b_at)
        sell_at.append(s_at)
    return demand, supply, buy_at, sell_at


def clearing(level, qty, is_buy, ref_level, n_levels: int) -> tuple[int, int]:
    """(clearing level, volume); (-1, 0) when nothing trades."""
    demand, supply, buy_at, sell_at = demand_supply(level, qty, is_buy, n_levels)
    executed = [min(demand[lvl], supply[lvl]) for lvl in range(n_levels)]
    volume = max(executed) if executed else 0
    if volume == 0:
        return -1, 0
    candidates = []
    for lvl in range(n_levels):
        if executed[lvl] != volume:
            continue
        strictly_better_buys = demand[lvl] - buy_at[lvl]
        strictly_better_sells = supply[lvl] - sell_at[lvl]
        if strictly_better_buys <= volume and strictly_better_sells <= volume:
            candidates.append(lvl)
    assert candidates, "no level satisfies the consistency filter (should be impossible)"
    ref = 0 if ref_level is None else int(ref_level)

    def key(lvl):
        return (abs(demand[lvl] - supply[lvl]), abs(lvl - ref), lvl)

    best = candidates[0]
    for lvl in candidates[1:]:
        if key(lvl) < key(best):
            best = lvl
    return best, volume


def prorata_class(qtys: list[int], received: int) -> list[int]:
    """Cumulative-rounding split of ``received`` lots over a class (orders in index order)."""
    volume = sum(qtys)
    assert 0 <= received <= volume and volume > 0
    out = []
    through = 0
    for q in qtys:
        before = through
        through += q
        out.append(received * through // volume - received * before // volume)
    return out


def allocate_side(level, qty, is_buy, age, n_levels: int, volume: int, buy_side: bool):
    """Fills for one side's orders given the lots the side trades (index -> fill dict)."""
    n = len(level)
    members = [
        i
        for i in range(n)
        if bool(is_buy[i]) == buy_side and takes_part(level[i], qty[i], n_levels)
    ]
    fills = {}
    remaining = volume
    # Price priority: buys best = highest level; sells best = lowest level.
    levels = sorted({level[i] for i in members}, reverse=buy_side)
    for lvl in levels:
        at_level = [i for i in members if level[i] == lvl]
        level_volume = sum(qty[i] for i in at_level)
        level_gets = min(remaining, level_volume)
        remaining -= level_gets
        # Time priority: oldest (largest age) class first.
        left = level_gets
        for a in sorted({age[i] for i in at_level}, reverse=True):
            cls = sorted(i for i in at_level if age[i] == a)
            class_volume = sum(qty[i] for i in cls)
            class_gets = min(left, class_volume)
            left -= class_gets
            for i, f in zip(cls, prorata_class([qty[i] for i in cls], class_gets), strict=True):
                fills[i] = f
        assert left == 0
    return fills


def allocate(level, qty, is_buy, age, n_levels: int, buy_volume: int, sell_volume: int):
    """Fills of every order when the buy side trades ``buy_volume`` lots and the sell side
    ``sell_volume`` (each at most its side's on-grid total)."""
    level, qty, age = _as_ints(level), _as_ints(qty), _as_ints(age)
    is_buy = [bool(b) for b in is_buy]
    filled = [0] * len(level)
    for buy_side, vol in ((True, buy_volume), (False, sell_volume)):
        for i, f in allocate_side(level, qty, is_buy, age, n_levels, vol, buy_side).items():
            filled[i] = f
    return filled


def clear_batch_auction(level, qty, is_buy, age=None, ref_level=None, *, n_levels: int):
    """Reference clearing of one book. Returns RefResult(level, volume, filled)."""
    level, qty = _as_ints(level), _as_ints(qty)
    is_buy = [bool(b) for b in is_buy]
    age = [0] * len(level) if age is None else _as_ints(age)
    clear_at, volume = clearing(level, qty, is_buy, ref_level, n_levels)
    if volume == 0:
        return RefResult(-1, 0, [0] * len(level))
    filled = allocate(level, qty, is_buy, age, n_levels, volume, volume)
    return RefResult(clear_at, volume, filled)


# --------------------------------------------------------------------------- order types
# The rules of qtgjax/market/order_types.py and qtgjax/sim/order_flow.py, on one book in
# levels (level = price - (anchor - n_levels // 2)), literally, with the plain auction above.

LIMIT, MARKET, IOC, FOK, POST_ONLY, STOP, STOP_LIMIT, PEG_MID, PEG_BEST, ICEBERG = range(10)
STOP_FIRED, STOP_LIMIT_FIRED = 10, 11
FOK_PASSES = 2


@dataclass(frozen=True)
class TypedResult:
    level: int  # clearing level of the last pass, -1 when nothing traded
    volume: int
    filled: list[int]
    rest: list[int]  # lots resting after the auction (0: filled, cancelled or dropped)
    shown: list[int]  # icebergs' shown lots after the auction (0 for other types)
    types: list[int]  # types after the stop triggers
    ages: list[int]  # ages in the auction (a triggered stop: 0)
    levels: list[int]  # limit levels in the auction (pegs re-priced, markets at the edges)
    shown_buy: list[int]  # market data: lots per level shown after the auction
    shown_sell: list[int]
    refilled: list[bool]  # icebergs shown again (they lose their time priority)


def _is_buy_level_on_grid(lvl: int, buy: bool, n_levels: int) -> bool:
    return lvl >= 0 if buy else lvl < n_levels


def _clip(lvl: int, n_levels: int) -> int:
    return min(max(lvl, 0), n_levels - 1)


def clear_typed_book(book: dict) -> TypedResult:
    """One typed book: keys level, qty, is_buy, age (capped at n_ages - 1 by the caller),
    order_type, stop (level), peg_offset, display, shown (lists); last, bid, ask (levels,
    None for an empty side), n_levels, n_ages (the auction caps ages at n_ages - 1)."""
    k = book["n_levels"]
    n = len(book["qty"])
    buy = [bool(b) for b in book["is_buy"]]
    qty = _as_ints(book["qty"])
    types, ages, levels = [], [], []
    last, bid, ask = book["last"], book["bid"], book["ask"]
    for i in range(n):
        t, age, lvl = book["order_type"][i], book["age"][i], book["level"][i]
        if t in (STOP, STOP_LIMIT) and qty[i] > 0:
            hit = last >= book["stop"][i] if buy[i] else last <= book["stop"][i]
            if hit:
                t, age = (STOP_FIRED if t == STOP else STOP_LIMIT_FIRED), 0
        if t in (PEG_MID, PEG_BEST):
            if t == PEG_MID:
                if bid is not None and ask is not None:
                    ref = (bid + ask) // 2 if buy[i] else -((-(bid + ask)) // 2)
                else:
                    ref = last
            else:
                side = bid if buy[i] else ask
                ref = last if side is None else side
            off = book["peg_offset"][i]
            lvl = ref - off if buy[i] else ref + off
        if t in (MARKET, STOP_FIRED):
            lvl = k - 1 if buy[i] else 0
        types.append(t)
        ages.append(age)
        levels.append(lvl)
    waiting = [
        t in (STOP, STOP_LIMIT) or (t == POST_ONLY and a == 0)
        for t, a in zip(types, ages, strict=True)
    ]
    offered = [0 if w else q for w, q in zip(waiting, qty, strict=True)]
    on = [_is_buy_level_on_grid(lv, b, k) for lv, b in zip(levels, buy, strict=True)]
    grid_levels = [_clip(lv, k) for lv in levels]
    ref_level = last

    capped = [min(a, book["n_ages"] - 1) for a in ages]

    def auction(lots):
        on_lots = [q if o else 0 for q, o in zip(lots, on, strict=True)]
        return clear_batch_auction(grid_levels, on_lots, buy, capped, ref_level, n_levels=k)

    fok = [types[i] == FOK and offered[i] > 0 for i in range(n)]
    alive = list(fok)

    def lots_of(alive_now):
        return [0 if (fok[i] and not alive_now[i]) else offered[i] for i in range(n)]

    result = auction(lots_of(alive))
    if any(fok):
        for _ in range(FOK_PASSES):
            alive = [alive[i] and result.filled[i] == offered[i] for i in range(n)]
            result = auction(lots_of(alive))
        if any(alive[i] and result.filled[i] < offered[i] for i in range(n)):
            alive = [False] * n
        result = auction(lots_of(alive))
    filled = result.filled
    # residual of the auction's book (true lots)
    res_buy, res_sell = [0] * k, [0] * k
    for i in range(n):
        left = (offered[i] if on[i] else 0) - filled[i]
        if (fok[i] and not alive[i]) or types[i] in (MARKET, IOC, FOK, STOP_FIRED):
            left = 0  # the rests of market / IOC / FOK orders are cancelled
        if left > 0:
            (res_buy if buy[i] else res_sell)[grid_levels[i]] += left
    traded = result.volume > 0
    asks = [lv for lv in range(k) if res_sell[lv] > 0]
    bids = [lv for lv in range(k) if res_buy[lv] > 0]
    fresh = [types[i] == POST_ONLY and ages[i] == 0 and qty[i] > 0 for i in range(n)]
    po_sells = [levels[i] for i in range(n) if fresh[i] and not buy[i]]
    po_buys = [levels[i] for i in range(n) if fresh[i] and buy[i]]
    rest, shown, refilled = [], [], []
    shown_buy, shown_sell = [0] * k, [0] * k
    for i in range(n):
        f = filled[i]
        off = (offered[i] > 0 or fresh[i]) and not on[i]
        cross = False
        if fresh[i] and not off:
            if buy[i]:
                bounds = asks + po_sells + ([result.level] if traded else [])
                cross = any(levels[i] >= b for b in bounds)
            else:
                bounds = bids + po_buys + ([result.level] if traded else [])
                cross = any(levels[i] <= b for b in bounds)
        left = 0 if off or cross or types[i] in (MARKET, IOC, FOK, STOP_FIRED) else qty[i] - f
        rest.append(left)
        now, again = 0, False
        if types[i] == ICEBERG:
            now = min(book["shown"][i] - f, left)
            if now <= 0 and left > 0:
                now, again = min(book["display"][i], left), True
            now = max(now, 0)
        shown.append(now)
        refilled.append(again)
        # market data: what rests, an iceberg only with its shown lots, no waiting stop
        if types[i] not in (STOP, STOP_LIMIT):
            side = shown_buy if buy[i] else shown_sell
            side[grid_levels[i]] += now if types[i] == ICEBERG else left
    return TypedResult(
        result.level,
        result.volume,
        filled,
        rest,
        shown,
        types,
        ages,
        levels,
        shown_buy,
        shown_sell,
        refilled,
    )

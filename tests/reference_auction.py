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

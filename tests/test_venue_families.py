"""The cross-venue arbitrage family and the latency-sensitive market maker (issue #12),
on hand-set venue quotes."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
from family_helpers import accounts, act, family_setup, view

from qtgjax.sim.venues import VenueMarket, route


def _venues(bid, ask, bid_depth, ask_depth, last):
    arr = [jnp.asarray(x, jnp.int32) for x in (last, bid, ask, bid_depth, ask_depth)]
    zeros = jnp.zeros_like(arr[0])
    return VenueMarket(arr[0], arr[0], arr[1], arr[2], zeros, arr[3], arr[4])


def _consolidated(v: VenueMarket):
    ask = jnp.where(v.best_ask > 0, v.best_ask, 10**6).min(0)
    return v.best_bid.max(0), jnp.where(ask >= 10**6, 0, ask)


def test_arbitrage_buys_the_low_ask_and_sells_the_high_bid():
    family, spec, params = family_setup("venue_arbitrage", n_agents=2, n_symbols=2, max_qty=7)
    # symbol 0: venue 1 bids 1003 above venue 0's ask 1001 -> trade 5 (the thinner side)
    # symbol 1: no venue's bid above another's ask -> nothing
    v = _venues(
        bid=[[1000, 499], [1003, 498]],
        ask=[[1001, 501], [1004, 500]],
        bid_depth=[[9, 9], [5, 9]],
        ask_depth=[[30, 9], [9, 9]],
        last=[[1000, 500]] * 2,
    )
    bid, ask = _consolidated(v)
    mv = view((1000, 500), best_bid=bid, best_ask=ask).replace(venues=v)
    intent, _ = act(family, spec, params, accounts(spec, 2), mv, ())
    assert np.asarray(intent.qty[:, 0]).tolist() == [[5, 5]] * 2
    assert np.asarray(intent.price[0, 0]).tolist() == [1001, 1003]
    assert int(intent.qty[:, 1].sum()) == 0
    routed = route(intent, "best", jnp.int32(0), mv, jnp.zeros(2), 2)
    lots = np.asarray(routed.qty[0, 0]).reshape(2, 2)  # [venue, slot]
    assert lots.tolist() == [[5, 0], [0, 5]]  # buy on venue 0, sell on venue 1


def test_latency_market_maker_pulls_quotes_when_a_venue_moves():
    family, spec, params = family_setup("latency_market_maker", n_agents=3, pull_ticks=3.0)
    calm = _venues(
        [[999, 499]] * 2,
        [[1001, 501]] * 2,
        [[5, 5]] * 2,
        [[5, 5]] * 2,
        last=[[1000, 500], [1001, 500]],
    )
    moved = calm.replace(last_price=jnp.asarray([[1000, 500], [1000, 496]], jnp.int32))
    for venues, pulled in ((calm, [False, False]), (moved, [False, True])):
        mv = view((1000, 500)).replace(venues=venues)
        intent, _ = act(family, spec, params, accounts(spec, 2), mv, jnp.zeros((3, 1)))
        quoting = np.asarray(intent.qty).sum((0, 2)) > 0
        assert quoting.tolist() == [not p for p in pulled]

"""Exact settlement: fills move cash and lots between accounts; dividends come from outside."""

from __future__ import annotations

import jax.numpy as jnp

from qtgjax.agents.types import AccountParams
from qtgjax.market import money
from qtgjax.market.types import Accounts, Orders


def settle_fills(accounts: Accounts, orders: Orders, filled, clear_price) -> Accounts:
    """Apply fills [N, S, O] at the clearing price [S] of each symbol.

    Buyers pay ``lots * price`` and sellers receive it; the remainder rests in the book.
    """
    signed = jnp.where(orders.is_buy, filled, -filled).sum(-1)  # (N, S) lots
    paid = money.sum_small(money.product(signed, clear_price[None, :]), axis=1)
    resting = orders.replace(qty=orders.qty - filled)
    return accounts.replace(
        cash=money.sub(accounts.cash, paid),
        position=accounts.position + signed,
        orders=resting,
    )


def basis_points(amount, bps) -> jnp.ndarray:
    """int32 ``amount * bps / 10_000`` truncated toward zero, from a float32 amount.

    The rate is a cost model, computed in float32; the integer it yields is exactly what
    is transferred, so money stays exactly conserved.
    """
    return jnp.trunc(amount * (bps * 1e-4)).astype(jnp.int32)


def order_fees(orders: Orders, filled, clear_price, limits: AccountParams) -> jnp.ndarray:
    """int32[N, S, O] fee of each order's fill this tick (negative = rebate).

    Orders that rested before this auction (age > 0) pay the maker rate, new ones the
    taker rate, on the notional ``lots * clearing price``.
    """
    notional = filled.astype(jnp.float32) * clear_price[None, :, None]  # (N, S, O) cash units
    rate = jnp.where(orders.age > 0, limits.maker_bps, limits.taker_bps)
    return basis_points(notional, rate)


def trading_fees(orders: Orders, filled, clear_price, limits: AccountParams) -> jnp.ndarray:
    """int32[N] fees each agent owes this tick (negative = rebate): :func:`order_fees`
    summed over its orders."""
    return order_fees(orders, filled, clear_price, limits).sum((1, 2))


def charge(accounts: Accounts, amount) -> Accounts:
    """Debit int32[N] cash units that leave the traded market (fees, borrow costs)."""
    paid = money.from_int(amount)
    return accounts.replace(
        cash=money.sub(accounts.cash, paid), external=money.sub(accounts.external, paid)
    )


def credit_external(accounts: Accounts, amount: money.Money) -> Accounts:
    """Credit Money[N] that comes from outside the traded market (e.g. fees collected)."""
    return accounts.replace(
        cash=money.add(accounts.cash, amount), external=money.add(accounts.external, amount)
    )


def borrow_costs(position, price, limits: AccountParams, is_due) -> jnp.ndarray:
    """int32[N] borrow cost of short positions [N, S] at prices [S] on a due tick."""
    short_value = jnp.maximum(-position, 0).astype(jnp.float32) * price[None, :]
    cost = basis_points(short_value, limits.borrow_bps).sum(-1)
    return jnp.where(is_due, cost, 0)


def pay_dividends(accounts: Accounts, dividend, is_payday) -> Accounts:
    """Credit ``position * dividend`` (shorts pay it) as external cash on a payday."""
    amount = money.sum_small(money.product(accounts.position, dividend[None, :]), axis=1)
    amount = money.where(is_payday, amount, money.zeros(amount.hi.shape))
    return credit_external(accounts, amount)

"""Exact settlement: fills move cash and lots between accounts; dividends come from outside."""

from __future__ import annotations

import jax.numpy as jnp

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


def pay_dividends(accounts: Accounts, dividend, is_payday) -> Accounts:
    """Credit ``position * dividend`` (shorts pay it) as external cash on a payday."""
    amount = money.sum_small(money.product(accounts.position, dividend[None, :]), axis=1)
    amount = money.where(is_payday, amount, money.zeros(amount.hi.shape))
    return accounts.replace(
        cash=money.add(accounts.cash, amount),
        external=money.add(accounts.external, amount),
    )

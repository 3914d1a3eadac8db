"""The full market: every family at once trades, and money and shares stay exactly conserved."""

from __future__ import annotations

import polars as pl

import qtgjax
from qtgjax.agents.registry import known_kinds
from qtgjax.io.summary import conservation_errors


def test_full_config_has_every_family_and_all_of_them_trade():
    cfg = qtgjax.load_config(["ticks=250", "scenarios=2"], config_name="full")
    kinds = {f["kind"] for f in cfg["families"].values()}
    assert kinds == set(known_kinds()), "the full market must hold every registered family"
    tables = qtgjax.simulate(cfg).tables()
    assert conservation_errors(tables) == (0, 0)
    agents = tables["agents"]
    traders = agents.filter(pl.col("kind") != "fee_account")
    idle = traders.filter(pl.col("volume") == 0)
    assert idle.is_empty(), f"families that never traded: {idle['family'].to_list()}"
    assert agents.filter(pl.col("kind") == "fee_account")["external_cash"].min() > 0

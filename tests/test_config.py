"""Bad configs are refused before compiling, with a message naming the key."""

from __future__ import annotations

import pytest

from conftest import SMALL
from qtgjax import ConfigError, load_config
from qtgjax.config.build import build

BAD = [
    (["market.levels=-4"], "market.levels"),
    (["market.levels=33"], "market.levels"),
    (["market.symbols=3"], "market.initial_price"),
    (["market.initial_price=[1000,10]"], "market.initial_price[1]"),
    (["market.recentre=16"], "market.recentre"),
    (["fundamentals.growth=0.03"], "fundamentals.growth"),
    (["fundamentals.news_rate=1.5"], "fundamentals.news_rate"),
    (["families.noise.kind=nosuch"], "families.noise.kind"),
    (["families.noise.n_agents=0"], "families.noise.n_agents"),
    (["families.noise.n_agents=2.5"], "families.noise.n_agents"),
    (["+families.noise.params.colour=3"], "families.noise.params.colour"),
    (["~families.noise.params.ttl"], "families.noise.params.ttl"),
    (["families.noise.params.p_active=abc"], "families.noise.params.p_active"),
    (["families.market_maker.params.half_spread=30"], "families.market_maker.params"),
    (["families.noise.position=5000"], "families.noise.position"),
    (["families.noise.n_agents=10000000"], "families"),
    (["ticks=0"], "ticks"),
    (["~agents@families.exchange"], "families.noise.taker_bps"),
    (["families.exchange.n_agents=2"], "families.exchange.n_agents"),
    (["costs.taker_bps=500"], "families.noise.taker_bps"),
]


@pytest.mark.parametrize(("overrides", "key"), BAD, ids=[b[1] for b in BAD])
def test_bad_config_names_the_key(overrides, key):
    cfg = load_config([*SMALL, *overrides])
    with pytest.raises(ConfigError) as err:
        build(cfg)
    assert str(err.value).startswith(key), str(err.value)


def test_small_config_is_valid(small_config):
    built = build(small_config)
    assert built.static.n_symbols == 2
    assert [f.name for f in built.static.families] == [
        "background",
        "noise",
        "fundamental",
        "momentum",
        "market_maker",
        "exchange",
    ]


def test_load_config_inside_a_running_hydra_app():
    """An env built inside ``qtgjax-train`` composes the market config while the app's own
    Hydra is initialised; the app's Hydra must still compose afterwards."""
    from hydra import compose, initialize_config_dir

    from qtgjax.api import CONF_DIR

    with initialize_config_dir(str(CONF_DIR), version_base="1.3"):
        inner = load_config(["ticks=7"])
        outer = compose("config", overrides=["ticks=11"])
    assert inner["ticks"] == 7
    assert outer.ticks == 11

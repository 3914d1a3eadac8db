"""Every registered family that composes from a config passes the contract kit
(:mod:`qtgjax.testing`), all of them in one market (one compile)."""

from __future__ import annotations

import pytest

from qtgjax.agents.registry import get_family, known_kinds
from qtgjax.paths import CONF_DIR
from qtgjax.testing import FamilyContractError, check_families

# Families that cannot run from a config alone: replay's orders come from a data file.
NEEDS_DATA = {"replay"}
KINDS = [
    k for k in known_kinds(include_external=True)
    if k not in NEEDS_DATA
    and ((CONF_DIR / "agents" / f"{k}.yaml").exists() or get_family(k).default_config)
]


def test_every_family_keeps_the_contract():
    assert {"noise", "ema_cross", "learner", "policy"} <= set(KINDS)
    report = check_families(KINDS, n_agents=3, ticks=10)
    assert report["conservation"] == (0, 0)
    assert set(report) == {"conservation", "position_limits", "vmap_parity", "determinism",
                           "no_retrace", "jit_parity"}


def test_a_family_that_breaks_jit_parity_is_named(monkeypatch):
    """A family whose act behaves differently under jit (a check that can fail)."""
    import jax

    from qtgjax.market.types import OrderIntent

    family = get_family("noise")
    act = type(family).act

    def act_differently(self, spec, params, extra, accounts, view, key):
        intent, extra = act(self, spec, params, extra, accounts, view, key)
        traced = isinstance(view.last_price, jax.core.Tracer)
        bump = 1 if traced else 0
        return OrderIntent(intent.price, intent.qty + bump, intent.is_buy, intent.replace), extra

    monkeypatch.setattr(type(family), "act", act_differently)
    with pytest.raises(FamilyContractError, match=r"check_family\('noise'\): jit parity"):
        check_families(["noise"], n_agents=2, ticks=4)

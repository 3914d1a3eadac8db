"""The Family interface: declared on the class, enforced when a family is defined or
registered (no kind strings, no getattr probing)."""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import pytest

from qtgjax.agents import registry
from qtgjax.agents.registry import get_family, known_kinds, register
from qtgjax.agents.strategy import RISK_SCHEMA, SignalStrategy
from qtgjax.agents.types import Family, array_param, param, params_schema
from qtgjax.config.build import ConfigError, build
from qtgjax.sim.tick import fee_account_index
from qtgjax.tree import pytree


@pytree
class _P:
    size: jnp.ndarray = param(1, 10)
    weights: jnp.ndarray = array_param()


def _act(self, spec, params, extra, accounts, view, key):
    raise NotImplementedError


@pytest.fixture
def clean_registry():
    before = dict(registry._REGISTRY)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(before)


def test_schema_is_read_from_field_metadata():
    assert params_schema(_P) == {"size": (1, 10)}
    rsi = get_family("rsi")
    assert rsi.config_schema == {**RISK_SCHEMA, "band": (0.0, 50.0)}
    # every registered family's schema is its Params' metadata, nothing written twice
    for kind in known_kinds(include_external=True):
        family = get_family(kind)
        assert family.config_schema == params_schema(family.Params), kind
        names = {f.name for f in dataclasses.fields(family.Params)}
        assert set(family.config_schema) <= names


def test_roles_are_class_attributes():
    flags = {k: get_family(k) for k in known_kinds(include_external=True)}
    assert [k for k, f in flags.items() if f.collects_fees] == ["fee_account"]
    assert [k for k, f in flags.items() if f.env_driven] == ["learner"]
    assert get_family("rsi").config_choices == {"sizing": {"fixed": 0, "volatility": 1, "kelly": 2}}


def test_field_without_range_is_refused():
    with pytest.raises(TypeError, match=r"_Bad\.gain: declare it with param"):

        @pytree
        class _Bad:
            gain: jnp.ndarray

        class _F(Family):
            kind = "bad_params"
            Params = _Bad
            act = _act


def test_config_schema_cannot_be_written_by_hand():
    with pytest.raises(TypeError, match="config_schema: derived from Params"):

        class _F(Family):
            kind = "hand_schema"
            Params = _P
            config_schema = {"size": (1, 10)}
            act = _act


def test_registered_family_is_final(clean_registry):
    rsi_cls = type(get_family("rsi"))
    with pytest.raises(TypeError, match="registered \\(final\\) family"):

        class _Sub(rsi_cls):
            pass

    class _Signal(SignalStrategy):  # the abstract base stays open
        kind = "rsi_copy"
        Params = rsi_cls.Params

        def signal(self, spec, params, extra, accounts, view):
            raise NotImplementedError

    register(_Signal)
    assert get_family("rsi_copy").config_schema == get_family("rsi").config_schema


def test_register_refuses_abstract_unnamed_and_duplicate(clean_registry):
    class _Abstract(Family):
        kind = "abstract_one"
        Params = _P

    with pytest.raises(TypeError, match=r"abstract \(does not implement \['act'\]\)"):
        register(_Abstract)

    class _NoKind(Family):
        Params = _P
        act = _act

    with pytest.raises(TypeError, match="declare kind"):
        register(_NoKind)

    class _Dup(Family):
        kind = "rsi"
        Params = _P
        act = _act

    with pytest.raises(ValueError, match=r"'rsi' registered twice: .*RsiMomentum and .*_Dup"):
        register(_Dup)

    class _Choices(Family):
        kind = "choices_one"
        Params = _P
        config_choices = {"mode": {"a": 0}}
        act = _act

    with pytest.raises(TypeError, match=r"config_choices: \['mode'\] are not scalar params"):
        register(_Choices)


def test_fee_collector_found_by_its_flag_not_its_name(clean_registry):
    fee_cls = type(get_family("fee_account"))

    class _House(Family):  # a second kind of fee account under another name
        kind = "my_exchange"
        Params = fee_cls.Params
        collects_fees = True
        n_slots = fee_cls.n_slots
        act = fee_cls.act

    register(_House)
    from qtgjax.api import load_config

    cfg = load_config(["scenarios=1", "ticks=5", "costs.taker_bps=1.0"])
    houses = [n for n, c in cfg["families"].items() if c["kind"] == "fee_account"]
    assert len(houses) == 1
    cfg["families"][houses[0]]["kind"] = "my_exchange"
    built = build(cfg)
    names = [f.name for f in built.static.families]
    assert fee_account_index(built.static) == names.index(houses[0])
    cfg["families"]["house2"] = dict(cfg["families"][houses[0]])
    with pytest.raises(ConfigError, match="2 fee_account families"):
        build(cfg)

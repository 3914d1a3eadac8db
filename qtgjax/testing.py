"""A family's contract, checked in a small market (like jumanji's smoke-test helpers).

``qtgjax.testing.check_family("my_kind")`` runs the family (its ``conf/agents`` file or its
``default_config``) next to a few background traders and checks:

- conservation: cash and shares are exactly conserved over the run (external cash apart);
- position limits: no agent ends beyond its ``max_position``;
- jit/eager parity: two ticks run eagerly (``jax.disable_jit``) equal the compiled ticks;
- vmap parity: a scenario's path does not depend on its slot in the batch;
- determinism: the same seed gives the same run, bit for bit;
- no re-tracing: new parameter values and keys reuse the one compiled rollout.

It raises :class:`FamilyContractError` naming the kind and the check that failed, and
returns what it measured. A plugin's own tests call it on their kinds.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from qtgjax.market import money

TINY_MARKET = (
    "market.symbols=2",
    "market.initial_price=[1000,500]",
    "market.sectors=[0,0]",
    "market.levels=64",
    "market.recentre=16",
    "families.noise.n_agents=24",
    "~agents@families.fundamental",
    "~agents@families.momentum",
    "families.market_maker.n_agents=2",
    "families.noise.params.p_active=0.3",
)


class FamilyContractError(AssertionError):
    """A family broke its contract; the message names the kind and the check."""


def _trees_equal(a, b, rtol: float = 0.0) -> bool:
    """Equal leaf by leaf: integers and booleans exactly, floats within ``rtol``."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)

    def same(x, y):
        x, y = np.asarray(x), np.asarray(y)
        if rtol and np.issubdtype(x.dtype, np.floating):
            return x.shape == y.shape and np.allclose(x, y, rtol=rtol, atol=rtol, equal_nan=True)
        return np.array_equal(x, y, equal_nan=np.issubdtype(x.dtype, np.floating))

    return len(la) == len(lb) and all(same(x, y) for x, y in zip(la, lb, strict=True))


def _key_data(tree):
    """Keys as their raw words (comparable by value)."""
    return jax.tree.map(
        lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x,
        tree,
    )


def check_family(kind: str, n_agents: int = 4, ticks: int = 12,
                 overrides: Sequence[str] = (), seed: int = 0) -> dict:
    """Check family ``kind``'s contract in a tiny two-symbol market (see the module
    docstring). ``overrides`` are Hydra overrides on top (e.g. its params, as
    ``families.under_test_KIND.params.X=...``). Returns {check: detail}."""
    return check_families([kind], n_agents, ticks, overrides, seed)


def check_families(kinds: Sequence[str], n_agents: int = 4, ticks: int = 12,
                   overrides: Sequence[str] = (), seed: int = 0) -> dict:
    """:func:`check_family` for several kinds in ONE market (one compile for all of them;
    a kind that collects fees is the market's own fee account)."""
    from qtgjax.agents.registry import get_family
    from qtgjax.api import load_config
    from qtgjax.config.build import build, scenario_keys, scenario_params
    from qtgjax.sim.rollout import run_scenario
    from qtgjax.sim.tick import observe

    added = [k for k in kinds if not get_family(k).collects_fees]
    names = {k: f"under_test_{k}" for k in added}
    cfg = load_config(["scenarios=2", f"ticks={ticks}", f"seed={seed}", *TINY_MARKET,
                       *(f"+agents@families.{names[k]}={k}" for k in added),
                       *(f"families.{names[k]}.n_agents={n_agents}" for k in added),
                       *overrides])
    built = build(cfg)
    static, n_ticks = built.static, built.run.ticks
    params = scenario_params(built.params, 2)
    keys = scenario_keys(built.run.seed, 2)
    traces = []

    def run(p, k):
        traces.append(1)  # runs once per trace
        return jax.vmap(run_scenario, in_axes=(None, 0, 0, None))(static, p, k, n_ticks)

    compiled = jax.jit(run)
    where = f"check_family({', '.join(map(repr, kinds))})"
    first = compiled(params, keys)
    report = {}

    initial, final, _ = first
    cash0 = sum(money.to_int64(a.cash).sum(-1) for a in initial.accounts)
    cash1 = sum(money.to_int64(a.cash).sum(-1) for a in final.accounts)
    external = sum(money.to_int64(a.external).sum(-1) for a in final.accounts)
    shares0 = sum(np.asarray(a.position).sum(1) for a in initial.accounts)
    shares1 = sum(np.asarray(a.position).sum(1) for a in final.accounts)
    cash_error = int(np.abs(cash1 - cash0 - external).max())
    share_error = int(np.abs(shares1 - shares0).max())
    if cash_error or share_error:
        raise FamilyContractError(f"{where}: conservation broken: cash error {cash_error}, "
                                  f"share error {share_error} (both must be 0)")
    report["conservation"] = (cash_error, share_error)

    for spec, acct, limits in zip(static.families, final.accounts, built.params.accounts,
                                  strict=True):
        over = int(np.abs(np.asarray(acct.position)).max(initial=0)) - int(limits.max_position)
        if over > 0:
            raise FamilyContractError(f"{where}: position limit broken: an agent of "
                                      f"{spec.name} holds {over} lots beyond max_position")
    report["position_limits"] = "ok"

    swapped = compiled(params, keys[::-1])
    if not _trees_equal(_key_data(jax.tree.map(lambda x: x[::-1], swapped)), _key_data(first)):
        raise FamilyContractError(f"{where}: vmap parity broken: a scenario's path depends on "
                                  "its slot in the batch")
    report["vmap_parity"] = "ok"

    again = compiled(params, keys)
    if not _trees_equal(_key_data(again), _key_data(first)):
        raise FamilyContractError(f"{where}: not deterministic: the same seed gave two runs")
    report["determinism"] = "ok"

    index = {spec.name: i for i, spec in enumerate(static.families)}
    tested = [index[n] for n in names.values()]
    strategies = list(params.strategies)  # the tested families' float parameters nudged
    for i in tested:
        strategies[i] = jax.tree.map(
            lambda x: x * 0.999 if jnp.issubdtype(x.dtype, jnp.floating) else x, strategies[i]
        )
    compiled(params.replace(strategies=tuple(strategies)), scenario_keys(seed + 1, 2))
    if len(traces) != 1:
        raise FamilyContractError(f"{where}: re-traced: {len(traces)} traces of one market "
                                  "for new parameter values and keys")
    report["no_retrace"] = "ok"

    one = jax.tree.map(lambda x: x[0], params)
    state = jax.tree.map(lambda x: x[0], final)  # a warmed-up market
    view = observe(state, one)
    key = jax.random.key(seed)
    for i in tested:
        spec = static.families[i]
        family = get_family(spec.kind)
        args = (one.strategies[i], state.extras[i], state.accounts[i], view, key)
        fast = jax.jit(lambda *a, f=family, s=spec: f.act(s, *a))(*args)
        with jax.disable_jit():
            slow = family.act(spec, *args)
        if not (_trees_equal(fast[0], slow[0])
                and _trees_equal(_key_data(fast[1]), _key_data(slow[1]), 1e-5)):
            raise FamilyContractError(f"check_family({spec.kind!r}): jit parity broken: its "
                                      "compiled act differs from the same act run eagerly")
    report["jit_parity"] = "ok"
    return report

"""Benchmark workloads: one YAML file each in ``conf/bench/workload/``, sized at run time.

A workload file names a market shape and its families::

    name: kineticsim
    agents: 256                     # default N (qtgjax-bench without agents=)
    symbols: 1                      # default S
    levels: 128                     # default K
    initial_price: [10000]          # cycled over the symbols
    symbols_per_sector: 1           # optional: sector of symbol i is i // this
    market: {}                      # merged into conf/config.yaml's market section
    fundamentals: {}                # merged into its fundamentals section
    venues: {lit: {}, periodic: {batch_interval: 5}}   # optional: several venues
    families:
      noise: {agents: noise, share: 70, params: {p_active: 0.2}}
      exchange: {agents: fee_account, n_agents: 1}

``agents`` names the family's base file in ``conf/agents/``; any other key (``params``,
``max_position``, ...) overrides it. A family with ``share`` receives that share of the
benchmark's ``agents=N`` (shares are relative weights, split by largest remainder; these
are the agents that ``agent_ticks_per_s`` counts); a family with ``n_agents`` has that many
whatever N is (the background pool's one account, the fee account).
"""

from __future__ import annotations

from collections.abc import Mapping

from omegaconf import OmegaConf

from qtgjax.paths import CONF_DIR

WORKLOAD_DIR = CONF_DIR / "bench" / "workload"
AGENTS_DIR = CONF_DIR / "agents"
_FAMILY_KEYS = ("agents", "share", "n_agents")


class WorkloadError(ValueError):
    """A workload file or size is unusable; the message names the key."""


def known_workloads() -> list[str]:
    """Names of the workload files in ``conf/bench/workload/`` and of the plugins'
    workloads (entry-point group ``qtgjax.workloads``)."""
    from qtgjax.plugins import plugin_workloads

    return sorted({p.stem for p in WORKLOAD_DIR.glob("*.yaml")} | set(plugin_workloads()))


def load_workload(name: str) -> dict:
    """The workload file ``name`` (or the plugin workload of that name) as a plain dict."""
    from qtgjax.plugins import plugin_workloads

    path = WORKLOAD_DIR / f"{name}.yaml"
    if not path.exists():
        plugins = plugin_workloads()
        if name in plugins:
            return plugins[name]
        raise WorkloadError(f"workload: unknown workload {name!r}; known: {known_workloads()}")
    return OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def family_base(kind: str, where: str):
    """The base config of family ``kind``: ``conf/agents/KIND.yaml``, else the family's
    ``default_config`` (a plugin's family)."""
    path = AGENTS_DIR / f"{kind}.yaml"
    if path.exists():
        return OmegaConf.load(path)
    from qtgjax.agents.registry import get_family, known_kinds

    if kind in known_kinds(include_external=True) and get_family(kind).default_config:
        return OmegaConf.create(dict(get_family(kind).default_config))
    raise WorkloadError(f"{where}: no file {path.name} in conf/agents and no family {kind!r} "
                        "with a default_config")


def workload_agents(workload: Mapping) -> int:
    """The workload's own N (its ``agents`` key), what ``qtgjax-bench`` runs without
    ``agents=``."""
    n = workload.get("agents")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise WorkloadError(
            f"workload {workload.get('name')!r}: no agents: N of its own ({n!r}); give agents=N"
        )
    return n


def split_agents(n_agents: int, shares: Mapping[str, float]) -> dict[str, int]:
    """Split ``n_agents`` over families in proportion to ``shares`` (largest remainder).

    The counts add up to ``n_agents`` exactly; ties in the remainders go to the family
    listed first; a family whose share rounds to zero gets one agent, taken from the
    largest family.
    """
    names = list(shares)
    if n_agents < len(names):
        raise WorkloadError(
            f"agents: {n_agents} is fewer than the {len(names)} families that share them"
        )
    total = float(sum(shares.values()))
    if total <= 0 or any(s <= 0 for s in shares.values()):
        raise WorkloadError(f"families: shares must be positive, got {dict(shares)}")
    exact = {k: n_agents * shares[k] / total for k in names}
    counts = {k: int(exact[k]) for k in names}
    left = n_agents - sum(counts.values())
    for k in sorted(names, key=lambda k: -(exact[k] - counts[k]))[:left]:
        counts[k] += 1
    for k in names:
        if counts[k] == 0:
            counts[max(names, key=counts.__getitem__)] -= 1
            counts[k] = 1
    return counts


def counted_agents(workload: Mapping, n_agents: int) -> int:
    """Agents a benchmark counts: the ``share`` families' (which receive all N)."""
    return n_agents if any("share" in f for f in workload["families"].values()) else 0


def sim_config(
    workload: Mapping,
    *,
    scenarios: int,
    agents: int,
    ticks: int,
    levels: int | None = None,
    symbols: int | None = None,
    seed: int = 0,
) -> dict:
    """A plain simulation config (what :func:`qtgjax.config.build.build` takes).

    Args:
        workload: a workload dict (see the module docstring).
        scenarios: B. agents: N, split over the ``share`` families. ticks: T.
        levels: K, or None for the workload's. symbols: S, or None for the workload's.
        seed: base seed of the scenario keys.
    """
    base = OmegaConf.load(CONF_DIR / "config.yaml")
    for key in ("defaults", "hydra", "out"):
        base.pop(key, None)
    n_symbols = int(symbols or workload["symbols"])
    n_levels = int(levels or workload["levels"])
    market = OmegaConf.merge(base.market, workload.get("market") or {})
    market.symbols = n_symbols
    market.levels = n_levels
    prices = list(workload["initial_price"])
    market.initial_price = [prices[i % len(prices)] for i in range(n_symbols)]
    if "sectors" in market:
        per_sector = int(workload.get("symbols_per_sector", 1))
        market.sectors = [i // per_sector for i in range(n_symbols)]
    if market.recentre >= n_levels // 2:
        market.recentre = max(1, n_levels // 4)
    base.market = market
    base.fundamentals = OmegaConf.merge(base.fundamentals, workload.get("fundamentals") or {})
    base.families = family_configs(workload["families"], agents)
    if workload.get("venues"):  # several venues (conf/venues.yaml's section)
        base.venues = workload["venues"]
    base.scenarios, base.ticks, base.seed = int(scenarios), int(ticks), int(seed)
    return OmegaConf.to_container(base, resolve=True)


def family_configs(families: Mapping, n_agents: int) -> dict:
    """Each family's config: its base file in ``conf/agents/`` with the workload's keys."""
    shares = {k: float(f["share"]) for k, f in families.items() if "share" in f}
    counts = split_agents(n_agents, shares) if shares else {}
    out = {}
    for name, fam in families.items():
        if ("share" in fam) == ("n_agents" in fam):
            raise WorkloadError(f"families.{name}: give exactly one of share and n_agents")
        overrides = {k: v for k, v in fam.items() if k not in _FAMILY_KEYS}
        cfg = OmegaConf.merge(family_base(fam["agents"], f"families.{name}.agents"), overrides)
        cfg.n_agents = counts.get(name, fam.get("n_agents"))
        out[name] = cfg
    return out

"""Differentiable market (issue #6): a smoothed batch auction and a relaxed float market.

``smooth_clear`` is the batch auction with sigmoids and a softmax in place of steps and
argmax (temperature -> 0 gives the exact auction); ``rollout`` / ``rollouts`` run a
relaxed float market with the engine's tick structure under ``lax.scan``, so ``jax.grad``
reaches market, agent and policy parameters; ``fit`` calibrates parameters to simulated
statistics with optax. See the module docstrings for what is relaxed.
"""

from qtgjax.diff.agents import (
    FloatOrders,
    linear_features,
    linear_policy,
    linear_policy_params,
    relaxed_bernoulli,
)
from qtgjax.diff.calibrate import (
    STAT_NAMES,
    Fit,
    fit,
    get_leaf,
    moment_loss,
    path_stats,
    set_leaf,
    simulated_stats,
    with_values,
)
from qtgjax.diff.market import (
    default_params,
    default_relaxation,
    init_state,
    rollout,
    rollouts,
    step,
)
from qtgjax.diff.smooth_auction import Curves, clearing_score, smooth_clear, soft_curves
from qtgjax.diff.types import (
    Accounts,
    AgentParams,
    FundamentalParams,
    LinearPolicyParams,
    MakerParams,
    MarketParams,
    MarketState,
    MarketStatic,
    NoiseParams,
    Observation,
    Params,
    Policy,
    PolicyOrder,
    Relaxation,
    SmoothConfig,
    SoftAuctionResult,
    TickOut,
    smooth_config,
)

__all__ = [
    "STAT_NAMES",
    "Accounts",
    "AgentParams",
    "Curves",
    "Fit",
    "FloatOrders",
    "FundamentalParams",
    "LinearPolicyParams",
    "MakerParams",
    "MarketParams",
    "MarketState",
    "MarketStatic",
    "NoiseParams",
    "Observation",
    "Params",
    "Policy",
    "PolicyOrder",
    "Relaxation",
    "SmoothConfig",
    "SoftAuctionResult",
    "TickOut",
    "clearing_score",
    "default_params",
    "default_relaxation",
    "fit",
    "get_leaf",
    "init_state",
    "linear_features",
    "linear_policy",
    "linear_policy_params",
    "moment_loss",
    "path_stats",
    "relaxed_bernoulli",
    "rollout",
    "rollouts",
    "set_leaf",
    "simulated_stats",
    "smooth_clear",
    "smooth_config",
    "soft_curves",
    "step",
    "with_values",
]

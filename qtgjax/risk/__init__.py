"""Risk and performance metrics of return series, following empyrical's conventions.

Returns are simple per-period returns with time on the last axis; every metric reduces
that axis and keeps any batch shape in front (scenarios, agents), and jits and vmaps.
"""

from qtgjax.risk.metrics import (
    annual_return,
    annual_volatility,
    calmar,
    cum_returns,
    cumulative_return,
    downside_risk,
    drawdown,
    log_wealth,
    max_drawdown,
    sharpe,
    sortino,
)
from qtgjax.risk.overfitting import (
    PBOResult,
    deflated_sharpe,
    expected_max_sharpe,
    pbo_cscv,
    probabilistic_sharpe,
)
from qtgjax.risk.periods import ANNUALIZATION_FACTORS, annualization_factor
from qtgjax.risk.tail import cvar, var

__all__ = [
    "ANNUALIZATION_FACTORS",
    "PBOResult",
    "annual_return",
    "annual_volatility",
    "annualization_factor",
    "calmar",
    "cum_returns",
    "cumulative_return",
    "cvar",
    "deflated_sharpe",
    "downside_risk",
    "drawdown",
    "expected_max_sharpe",
    "log_wealth",
    "max_drawdown",
    "pbo_cscv",
    "probabilistic_sharpe",
    "sharpe",
    "sortino",
    "var",
]

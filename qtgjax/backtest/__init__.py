"""Historical replay and vectorised backtesting.

``backtest(overrides=[...])`` runs a strategy family (a grid of its parameters) on
historical bars through the bar fill model; ``qtgjax.backtest.book`` replays level-3 order
events into the batch auction alongside simulated agents. See the README "Backtesting".
"""

from qtgjax.backtest.api import BacktestResult, backtest, compose_backtest

__all__ = ["BacktestResult", "backtest", "compose_backtest"]

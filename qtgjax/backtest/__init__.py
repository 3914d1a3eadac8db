"""Historical replay and vectorised backtesting.

``backtest(overrides=[...])`` runs a strategy family (a grid of its parameters) or a
trained RL policy (:mod:`qtgjax.backtest.policy`) on historical bars through the bar fill
model; :mod:`qtgjax.backtest.sweep` runs the same grids through ``qtgjax-sweep`` (sweep
files of ``kind: backtest``); ``qtgjax.backtest.book`` replays level-3 order events into
the batch auction alongside simulated agents. See the README "Backtesting on real data".
"""

from qtgjax.backtest.api import BacktestResult, backtest, compose_backtest, run_setup

__all__ = ["BacktestResult", "backtest", "compose_backtest", "run_setup"]

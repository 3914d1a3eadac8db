"""``coarse_trading``: qtgjax's trading task with three target positions (short, flat,
long). Its metadata (headline metric, direction, baselines) is what qtgjax-train reports."""

from dataclasses import dataclass

from qtgjax.env.tasks.trading import TradingTask


@dataclass(frozen=True)
class CoarseTrading(TradingTask):
    n_targets: int = 3

    name = "coarse_trading"
    headline = "pnl"
    higher_is_better = True
    baselines = ("random",)

"""An example qtgjax plugin: one SDK strategy (``ema_fade``) and one RL task
(``coarse_trading``), registered through entry points in pyproject.toml."""

"""The example's own family keeps qtgjax's family contract; its task is registered."""

from qtgjax.env import tasks
from qtgjax.testing import check_family


def test_ema_fade_keeps_the_contract():
    report = check_family("ema_fade", ticks=8)
    assert report["conservation"] == (0, 0)


def test_task_is_registered():
    assert "coarse_trading" in tasks()

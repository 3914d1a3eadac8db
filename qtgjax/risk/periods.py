"""Return periodicities and annualisation factors, as in empyrical."""

from __future__ import annotations

DAILY = "daily"
WEEKLY = "weekly"
MONTHLY = "monthly"
QUARTERLY = "quarterly"
YEARLY = "yearly"

ANNUALIZATION_FACTORS = {DAILY: 252, WEEKLY: 52, MONTHLY: 12, QUARTERLY: 4, YEARLY: 1}


def annualization_factor(period: str = DAILY, annualization=None):
    """Periods per year: ``annualization`` if given, else the factor of ``period``.

    Args:
        period: one of ``"daily"`` (252), ``"weekly"`` (52), ``"monthly"`` (12),
            ``"quarterly"`` (4), ``"yearly"`` (1); ignored when ``annualization`` is given.
        annualization: periods per year of the returns (a number or an array that
            broadcasts against the batch shape), overriding ``period``.
    """
    if annualization is not None:
        return annualization
    try:
        return ANNUALIZATION_FACTORS[period]
    except KeyError:
        allowed = ", ".join(repr(k) for k in ANNUALIZATION_FACTORS)
        raise ValueError(f"period must be one of {allowed}, got {period!r}") from None

"""User-facing analysis scripts of the repository (not installed with the wheel).

The analysis library itself is :mod:`qtgjax.analysis` (``from qtgjax.analysis import
open_study, summarise``); this folder holds scripts run from a clone, such as
``python -m analysis.calibrate_market``.
"""

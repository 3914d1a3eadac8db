"""Analysis of qtgjax results with Polars: load a study or run folder, summarise by swept
values with confidence intervals over seeds, draw figures, write an HTML report.

It reads Parquet and ``study.yaml`` only; it never imports the engine.

>>> from qtgjax.analysis import open_study, summarise                        # doctest: +SKIP
>>> study = open_study("results/sweeps/smoke")                        # doctest: +SKIP
>>> summarise(study.summary(), study.swept, ["volatility_bp"])        # doctest: +SKIP
"""

from qtgjax.analysis.load import ResultsError, Study, open_study, scan_table
from qtgjax.analysis.report import write_report
from qtgjax.analysis.stats import league_table, summarise
from qtgjax.analysis.stylized_facts import distance, facts

__all__ = [
    "ResultsError",
    "Study",
    "distance",
    "facts",
    "league_table",
    "open_study",
    "scan_table",
    "summarise",
    "write_report",
]

"""Alpha discovery: strategies evolved inside the market (populations x scenarios in one jit).

``qtgjax-evolve`` (conf/evolve.yaml) and :func:`evolve` search a family's parameters with
evosax (CMA-ES, OpenAI-ES, a simple GA, differential evolution) or random search, every
candidate trading as a small family inside a full market on scenarios drawn from regimes,
and judge the best out of sample (held-out scenarios, deflated Sharpe, PBO). The RL league
(:mod:`qtgjax.evolve.league`) trains independent PPO learners against each other.
"""

from qtgjax.evolve.config import EvolveSpec, evolve_spec
from qtgjax.evolve.evaluate import Problem, RowMetrics, evaluate_rows
from qtgjax.evolve.genome import Gene, ParamGenome, make_genome
from qtgjax.evolve.run import EvolveResult, evolve

__all__ = [
    "EvolveResult",
    "EvolveSpec",
    "Gene",
    "ParamGenome",
    "Problem",
    "RowMetrics",
    "evaluate_rows",
    "evolve",
    "evolve_spec",
    "make_genome",
]

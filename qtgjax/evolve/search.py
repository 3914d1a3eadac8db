"""Ask-evaluate-tell: evosax strategies (CMA-ES, OpenAI-ES, a simple GA, differential
evolution) and plain random search over a genome's unbounded space.

The search *maximises* the scalar fitness (evosax minimises, so it is told ``-fitness``).
``random`` draws every generation uniformly in the genome's bounds (log-uniformly for log
genes) and learns nothing: the baseline at the same budget.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

from qtgjax.evolve.config import SearchSpec
from qtgjax.evolve.genome import ParamGenome


class Searcher:
    """One search run: ``ask()`` a population float32[P, D], ``tell(x, fitness)``."""

    def __init__(self, spec: SearchSpec, genome: ParamGenome, mean0: np.ndarray):
        from evosax.algorithms import CMA_ES, DifferentialEvolution, Open_ES, SimpleGA

        self.spec, self.genome = spec, genome
        self.key = jax.random.key(spec.seed)
        self.mean0 = jnp.asarray(mean0, jnp.float32)
        self.state = None
        p, sol = spec.population, jnp.zeros(genome.dim, jnp.float32)
        std = optax.constant_schedule(spec.std_init)
        if spec.strategy == "cma_es":
            self.es = CMA_ES(population_size=p, solution=sol)
            self.params = self.es.default_params.replace(std_init=jnp.float32(spec.std_init))
        elif spec.strategy == "open_es":
            self.es = Open_ES(p, sol, optimizer=optax.adam(spec.learning_rate), std_schedule=std)
            self.params = self.es.default_params
        elif spec.strategy == "simple_ga":
            self.es = SimpleGA(p, sol, std_schedule=std)
            self.params = self.es.default_params
        elif spec.strategy == "differential_evolution":
            self.es = DifferentialEvolution(p, sol)
            self.params = self.es.default_params
        else:
            self.es = None
        self.population_based = spec.strategy in ("simple_ga", "differential_evolution")

    def _next_key(self):
        self.key, sub = jax.random.split(self.key)
        return sub

    def ask(self) -> np.ndarray:
        key = self._next_key()
        p = self.spec.population
        if self.es is None:
            return np.asarray(jax.vmap(self.genome.uniform)(jax.random.split(key, p)))
        if self.state is None and self.population_based:
            # generation 0 of a GA / DE: a cloud around the starting mean, evaluated, then
            # given to init() with its fitness
            z = jax.random.normal(key, (p, self.genome.dim))
            return np.asarray(self.mean0 + self.spec.std_init * z)
        if self.state is None:
            self.state = self.es.init(self._next_key(), self.mean0, self.params)
        x, self.state = self.es.ask(key, self.state, self.params)
        return np.asarray(x)

    def tell(self, x: np.ndarray, fitness: np.ndarray) -> None:
        if self.es is None:
            return
        loss = jnp.asarray(np.where(np.isfinite(fitness), -fitness, np.inf), jnp.float32)
        x = jnp.asarray(x, jnp.float32)
        if self.state is None:
            self.state = self.es.init(self._next_key(), x, loss, self.params)
            return
        self.state, _ = self.es.tell(self._next_key(), x, loss, self.state, self.params)

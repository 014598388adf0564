"""Regularised evolution over ArchSpecs (Real et al., AAAI 2019; as in NASRec and SiGeo's search).

``search.sampler: evolution``. The population is the ``population`` most recent trained trials of
the study that carry the space's parameters — presets among them, since a preset that is a
point of the space is recorded with its parameters — so the search starts *around* the strong
hand-designed models instead of from random corners. Each proposal:

1. picks a parent: for one objective, the best of ``tournament`` trials drawn from the
   population; for the Pareto objective (NE, MFLOPs), a trial drawn from the population's
   non-dominated front;
2. mutates one or two of its decisions (``mutations``): a categorical parameter takes another of
   its choices, an integer one steps by ±1 within its range; parameters that a mutation brings
   into existence (a new layer's modules, experts of a newly chosen pattern) are drawn at random,
   those it makes irrelevant are dropped — ``SearchSpace.suggest`` replays the child, so it is
   always a valid point of the space;
3. retries (up to 32 times) until the child is an architecture no trial has evaluated.

The child's parameters are enqueued in the study, so the trial is an ordinary Optuna trial
(storage, dashboard, importances). Until two trials have finished, the study's own sampler
(random, seeded) proposes.
"""
from __future__ import annotations

import json
import random

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution
from optuna.trial import TrialState

from unirank.space.search_space import SearchSpace
from unirank.train.optim import effective_train

_RETRIES = 32


class ChildTrial:
    """A trial for ``SearchSpace.suggest`` that answers from the mutated parameters and draws
    (seeded) any parameter the parent did not have."""

    def __init__(self, params: dict, rng: random.Random):
        self.params, self.rng, self.used, self.distributions = params, rng, {}, {}

    def suggest_int(self, name: str, low: int, high: int) -> int:
        value = self.params.get(name)
        if value is None or not low <= value <= high:
            value = self.rng.randint(low, high)
        self.used[name], self.distributions[name] = value, IntDistribution(low, high)
        return value

    def suggest_categorical(self, name: str, choices: list):
        value = self.params[name] if name in self.params and self.params[name] in choices else self.rng.choice(choices)
        self.used[name], self.distributions[name] = value, CategoricalDistribution(choices)
        return value


def pareto_front(trials: list[optuna.trial.FrozenTrial]) -> list[optuna.trial.FrozenTrial]:
    """Trials no other trial dominates (all objectives minimised)."""
    def dominates(a, b) -> bool:
        return all(x <= y for x, y in zip(a.values, b.values)) and any(x < y for x, y in zip(a.values, b.values))
    return [t for t in trials if not any(dominates(o, t) for o in trials if o is not t)]


def trained_points(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Finished trials that carry the space's parameters (presets included), in study order;
    infeasible ones (never trained) and twins (answered from another trial) left out."""
    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if t.params and not t.user_attrs.get("infeasible") and "same_as_trial" not in t.user_attrs]


def arch_key(arch: dict | None) -> str:
    """What tells two architectures apart: the architecture as a dict (``ArchSpec.to_dict``, as a
    trial stores it), keys sorted."""
    return json.dumps(arch, sort_keys=True)


def point_key(arch: dict | None, train: dict) -> str:
    """What tells two trials apart: the architecture (as a dict) and the training values as they
    train (``effective_train``: a weight decay too small to change float32 weights is none)."""
    return json.dumps([arch, effective_train(train)], sort_keys=True)


def seen_keys(study: optuna.Study) -> set[str]:
    """The ``point_key`` of every trial of the study, whatever its state."""
    return {point_key(t.user_attrs.get("arch"), t.user_attrs.get("train", {})) for t in study.get_trials(deepcopy=False)}


class EvolutionProposer:
    def __init__(self, space: SearchSpace, seed: int = 0, population: int = 20, tournament: int = 5,
                 mutations: tuple[int, ...] = (1, 1, 2)):
        self.space, self.population, self.tournament, self.mutations = space, population, tournament, mutations
        self.rng = random.Random(seed)

    def members(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
        """The population: the most recent trained trials with parameters (presets included)."""
        return trained_points(study)[-self.population:]

    def parent(self, study: optuna.Study) -> optuna.trial.FrozenTrial | None:
        members = self.members(study)
        if len(members) < 2:
            return None
        if len(study.directions) > 1:
            return self.rng.choice(pareto_front(members))
        drawn = self.rng.sample(members, min(self.tournament, len(members)))
        return min(drawn, key=lambda t: t.values[0])

    def mutate(self, parent: optuna.trial.FrozenTrial) -> dict:
        """The parent's parameters with one or a few decisions changed, replayed into a valid point."""
        params = dict(parent.params)
        mutable = [n for n, d in parent.distributions.items()
                   if (isinstance(d, CategoricalDistribution) and len(d.choices) > 1)
                   or (isinstance(d, IntDistribution) and d.high > d.low)]
        for name in self.rng.sample(mutable, min(len(mutable), self.rng.choice(self.mutations))):
            dist = parent.distributions[name]
            if isinstance(dist, IntDistribution):
                steps = [v for v in (params[name] - 1, params[name] + 1) if dist.low <= v <= dist.high]
                params[name] = self.rng.choice(steps)
            else:
                params[name] = self.rng.choice([c for c in dist.choices if c != params[name]])
        child = ChildTrial(params, self.rng)
        self.space.suggest(child)
        self.space.suggest_train(child)
        return child.used

    def propose(self, study: optuna.Study) -> dict | None:
        """Parameters of the next child, or None (too few trials yet: the study's sampler proposes)."""
        parent = self.parent(study)
        if parent is None:
            return None
        seen = seen_keys(study)
        for _ in range(_RETRIES):
            params = self.mutate(parent)
            fixed = optuna.trial.FixedTrial(params)
            if point_key(self.space.suggest(fixed).to_dict(), self.space.suggest_train(fixed)) not in seen:
                return params
        return None

"""Local search around the best trial so far (``search.sampler: local``).

White et al. ("Exploring the loss landscape in NAS", UAI 2021) found plain local search a
state-of-the-art NAS method on the common benchmarks; here it searches around the presets, which
are trials with the space's parameters. Each proposal is an unseen *neighbour* of the centre — the
centre's parameters with exactly one decision changed: a categorical parameter set to another of
its choices, an integer one stepped by ±1, a training value (``space.train``) changed; parameters
the change brings into existence are drawn (seeded), those it makes irrelevant dropped, so a
neighbour is always a valid point of the space. The centre:

- one objective: the best finished trial (presets included); as soon as a neighbour beats it, the
  neighbour is the centre (first-improvement hill climbing); when every neighbour of the best has
  been evaluated, the next best trial's neighbours are proposed, and so on;
- the Pareto objective: a trial drawn (seeded) from the non-dominated front of the finished trials,
  the other front members when its neighbourhood is exhausted.

Neighbours are visited in a seeded random order. A neighbour over a hard budget or over the
scalarised target (``search.over_target: infeasible``) is told infeasible by the searcher without
training and is not proposed again. Until two trials have finished, the study's sampler proposes.
"""
from __future__ import annotations

import random

import optuna
from optuna.distributions import CategoricalDistribution, IntDistribution

from unirank.search.evolution import ChildTrial, pareto_front, point_key, seen_keys, trained_points
from unirank.space.arch import ArchSpec
from unirank.space.search_space import SearchSpace


def neighbours(space: SearchSpace, params: dict, distributions: dict,
               salt: object = 0) -> list[tuple[dict, ArchSpec, dict, str]]:
    """Every (parameters, architecture, training values, change) one decision away from ``params``,
    in the order of ``distributions``; the parameters are those ``space.suggest``/``suggest_train``
    ask for the neighbour, new-born ones drawn from a generator seeded by (``salt``, the change)."""
    out = []
    for name, dist in distributions.items():
        if isinstance(dist, IntDistribution):
            values = [v for v in (params[name] - 1, params[name] + 1) if dist.low <= v <= dist.high]
        elif isinstance(dist, CategoricalDistribution):
            values = [c for c in dist.choices if c != params[name]]
        else:
            continue
        for value in values:
            child = ChildTrial({**params, name: value}, random.Random(f"{salt}-{name}-{value}"))
            arch, train = space.suggest(child), space.suggest_train(child)
            out.append((child.used, arch, train, f"{name}: {params[name]!r} → {value!r}"))
    return out


class LocalSearchProposer:
    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space, self.seed, self.rng = space, seed, random.Random(seed)

    def centres(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
        """Finished trials with parameters, in the order their neighbourhoods are searched."""
        done = trained_points(study)
        if len(done) < 2:
            return []
        if len(study.directions) > 1:
            front = pareto_front(done)
            return self.rng.sample(front, len(front))
        return sorted(done, key=lambda t: t.values[0])

    def propose(self, study: optuna.Study) -> dict | None:
        """Parameters of the next neighbour, or None (too few trials, or every neighbourhood searched)."""
        seen = seen_keys(study)
        for centre in self.centres(study):
            near = neighbours(self.space, centre.params, centre.distributions, salt=(centre.number, self.seed))
            for params, arch, train, _ in self.rng.sample(near, len(near)):
                if point_key(arch.to_dict(), train) not in seen:
                    return params
        return None

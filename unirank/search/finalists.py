"""Tuning the finalists' training values (``search.tune``).

An architecture search that draws training values (``space.train``) with the architecture trains
each architecture with one draw of them, while a hand-designed model it is compared with gets its
training values tuned. So the last ``search.tune.trials`` candidates of a run are spent on the
``search.tune.top`` best architectures found so far (by the first objective; presets included —
they are points of the space — unless ``search.tune.presets`` is false, when the architecture of
a preset trained in the study is never a finalist, however it was proposed): each proposal is a
finalist's parameters with new training values, as AutoML for ranking tunes its finalists. The
finalist trained least often so far goes first (running trainings counted; rank breaks ties), with
training values drawn (seeded) from the combinations of ``space.train`` this architecture has not
been trained with: random search over the training values (a per-architecture TPE with two or
three observations was seen to propose the values it already had, again and again). Points
already evaluated or running are never proposed again; when every finalist's values are exhausted
the run's sampler proposes.
"""
from __future__ import annotations

import itertools
import random

import optuna
from optuna.trial import TrialState

from unirank.search.evolution import arch_key, point_key, seen_keys, trained_points
from unirank.space.search_space import SearchSpace


def _arch_key(trial: optuna.trial.FrozenTrial) -> str:
    return arch_key(trial.user_attrs.get("arch"))


class FinalistTuner:
    def __init__(self, space: SearchSpace, seed: int = 0, top: int = 2, presets: bool = True):
        self.space, self.seed, self.top, self.presets = space, seed, top, presets

    def finalists(self, study: optuna.Study) -> list[list[optuna.trial.FrozenTrial]]:
        """The ``top`` best architectures, each as its trained trials (best first), best first;
        without ``presets``, the presets' architectures left out."""
        points = trained_points(study)
        left_out = set() if self.presets else {_arch_key(t) for t in points if "preset" in t.user_attrs}
        groups: dict[str, list[optuna.trial.FrozenTrial]] = {}
        for t in points:
            if _arch_key(t) not in left_out:
                groups.setdefault(_arch_key(t), []).append(t)
        ranked = sorted((sorted(g, key=lambda t: t.values[0]) for g in groups.values()), key=lambda g: g[0].values[0])
        return ranked[:self.top]

    def propose(self, study: optuna.Study) -> dict | None:
        """Parameters of a finalist with training values not evaluated yet, or None."""
        seen = seen_keys(study)
        proposed: dict[str, int] = {}  # trainings per architecture, running ones included
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
            if "same_as_trial" not in t.user_attrs and not t.user_attrs.get("infeasible"):
                key = _arch_key(t)
                proposed[key] = proposed.get(key, 0) + 1
        # the finalist trained least often first (stable: rank breaks ties)
        for group in sorted(self.finalists(study), key=lambda g: proposed[_arch_key(g[0])]):
            params = self._retrained(group, seen)
            if params is not None:
                return params
        return None

    def _retrained(self, group: list[optuna.trial.FrozenTrial], seen: set[str]) -> dict | None:
        """The best training's parameters with training values drawn (seeded) from those not
        evaluated with this architecture; None when there are none."""
        best = group[0]
        names = [n for n in best.distributions if n.startswith("train_")]
        combos = list(itertools.product(*(best.distributions[n].choices for n in names)))
        rng = random.Random(f"{self.seed}-{best.number}-{len(seen)}")
        for values in rng.sample(combos, len(combos)) if names else []:
            chosen = dict(zip(names, values))  # the architecture is the group's: only training values vary
            train = self.space.suggest_train(optuna.trial.FixedTrial(chosen))
            if point_key(best.user_attrs.get("arch"), train) not in seen:
                return {**best.params, **chosen}
        return None


def tuning_draws(arch: dict, own: dict, choices: dict[str, tuple], trainings: int, seed_text: str) -> list[dict]:
    """The training values a tuning of ``trainings`` trainings tries for one architecture: ``own``
    first (the study's values), then combinations of ``choices`` drawn at random (seeded by
    ``seed_text``), distinct as they train (``point_key``) — how ``search.tune_presets`` tunes the
    best presets, and how ``benchmarks/search_vs_presets.py`` tuned them before it (same draws)."""
    seen, combos = {point_key(arch, own)}, []
    for combo in itertools.product(*choices.values()):
        values = dict(zip(choices, combo))
        key = point_key(arch, values)
        if key not in seen:
            seen.add(key)
            combos.append(values)
    return [own, *random.Random(seed_text).sample(combos, min(trainings - 1, len(combos)))]

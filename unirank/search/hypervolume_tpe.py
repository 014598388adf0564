"""TPE that learns from the trials holding the report's hypervolume (``search.sampler: tpe_hv``).

Optuna's multi-objective TPE splits the finished trials into "good" (the ⌈10%⌉ best) and the rest
by non-domination rank; when the front has more members than that, it keeps those with the largest
hypervolume contribution against a reference at 1.1 × *the front's own* worst values. Scaled to the
front, the cheap end counts as much as the quality end, so a front of tiny models pulls the search
further down in cost (``search_vs_presets`` s22, synthetic data, seed 3: 21 of the 42 searched
trials under 0.05 MFLOPs, validation NE 0.78–0.91, while the presets sit at 0.16–0.67 MFLOPs).

Here the good trials are those with the largest share of the hypervolume the study's report draws —
reference 1.1 × the largest MFLOPs of every trained trial, the largest NE + 10% of their NE range
(``report_reference``): the trials are ordered front by front, and within a front greedily by the
hypervolume each adds (``hypervolume_order``). Each proposal builds an in-memory single-objective
study whose trials carry the study's parameters and, as value, their place in that order (trials
never trained for being over a budget last; running ones as running, so the constant liar keeps
proposals apart), and asks a TPE configured like the study's (multivariate, grouped; good share
⌈10%⌉, at most 25) for the next point. The point is enqueued in the study, so it is an ordinary trial.
For one objective (``objective: scalarized``) the study's TPE proposes as it is.
"""
from __future__ import annotations

import math
import random

import optuna
from optuna.trial import TrialState, create_trial

from unirank.search.evolution import trained_points
from unirank.search.pareto import hypervolume_order, report_reference
from unirank.search.study import tpe_sampler
from unirank.space.search_space import SearchSpace


class HypervolumeTPEProposer:
    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space, self.seed = space, seed

    def ordered(self, study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
        """Trained trials with parameters, the most valuable for the report's hypervolume first."""
        done = [t for t in trained_points(study) if all(math.isfinite(v) for v in t.values)]
        if not done:
            return []
        points = [(t.values[1], t.values[0]) for t in done]  # (MFLOPs, NE), as the report draws them
        return [done[i] for i in hypervolume_order(points, report_reference(points))]

    def view(self, study: optuna.Study) -> optuna.Study | None:
        """An in-memory single-objective study: the trials' parameters, valued by their rank."""
        if len(study.directions) < 2:
            return None
        ordered = self.ordered(study)
        if len(ordered) < 2:
            return None
        every = study.get_trials(deepcopy=False)
        # the study's TPE, seeded per proposal, modelling from the first trial
        sampler = tpe_sampler(random.Random(f"{self.seed}-{len(every)}").randrange(2**31), n_startup_trials=0)
        view = optuna.create_study(direction="minimize", sampler=sampler)
        for rank, t in enumerate(ordered):
            view.add_trial(create_trial(params=t.params, distributions=t.distributions, value=float(rank)))
        for t in every:  # over a budget (told, never trained): after every trained one
            if t.state == TrialState.COMPLETE and t.params and t.user_attrs.get("infeasible"):
                view.add_trial(create_trial(params=t.params, distributions=t.distributions, value=float(len(every))))
            elif t.state == TrialState.RUNNING and t.params:
                view.add_trial(create_trial(params=t.params, distributions=t.distributions, state=TrialState.RUNNING))
        return view

    def propose(self, study: optuna.Study) -> dict | None:
        """Parameters of the next candidate, or None (one objective, or fewer than two trained
        trials: the study's sampler proposes)."""
        view = self.view(study)
        if view is None:
            return None
        trial = view.ask()
        self.space.suggest(trial)
        self.space.suggest_train(trial)
        return dict(trial.params)

"""Optuna parameter importances of a study's searched trials for mean validation NE.

Presets (no parameters), infeasible candidates (placeholder NE, never trained) and failed trials
are left out: the importances are computed on an in-memory copy holding only trained, searched
trials, with mean NE as the single target. Conditional parameters enter only where every
such trial has them (Optuna's intersection search space).
"""
from __future__ import annotations

import warnings

import optuna
from optuna.trial import TrialState

from unirank.search.study import TrialRecord

MIN_TRIALS = 4


def importances(study: optuna.Study, records: list[TrialRecord], seed: int = 0) -> dict[str, float]:
    searched = {r.number: r.mean_ne for r in records if r.preset is None and r.state == "COMPLETE"}
    trials = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.number in searched and t.params]
    if len(trials) < MIN_TRIALS:
        return {}
    copy = optuna.create_study(direction="minimize")
    copy.add_trials([optuna.trial.create_trial(params=t.params, distributions=t.distributions,
                                               value=searched[t.number]) for t in trials])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = optuna.importance.get_param_importances(
                copy, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=seed))
    except (ValueError, RuntimeError):  # no parameter common to all trials, or all values equal
        return {}
    return {name: float(value) for name, value in result.items()}

"""OptunaArchSearcher: a Ray Tune searcher whose decisions and memory are an Optuna study.

Ray Tune asks ``suggest`` for the next trial's config; the searcher asks the Optuna study for a
trial, lets the SearchSpace turn it into an ArchSpec, measures its cost and either rejects it
(over a hard budget: recorded FAIL with the reason, never trained), answers it from an identical
architecture already evaluated, or hands it to Ray. Results come back through
``on_trial_complete`` and are told to the study: objectives (mean validation NE, MFLOPs).
Presets are trained first, with the same protocol, and added to the study as marked trials.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Callable

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher

from unirank.config import BudgetConfig
from unirank.data.features import FeatureSpec
from unirank.errors import UnirankError
from unirank.proxies.cost import Cost, measure_cost
from unirank.space.arch import ArchSpec
from unirank.space.search_space import SearchSpace

_MAX_REJECTED_IN_A_ROW = 200


@dataclass
class _Running:
    arch: ArchSpec
    cost: Cost
    trial: optuna.Trial | None = None
    preset: str | None = None


class OptunaArchSearcher(Searcher):
    def __init__(self, study: optuna.Study, space: SearchSpace, features: FeatureSpec,
                 budget: BudgetConfig, presets: dict[str, ArchSpec],
                 on_change: Callable[[str, int], None] | None = None):
        super().__init__(metric="mean_ne", mode="min")
        self.study, self.space, self.features, self.budget = study, space, features, budget
        done = {t.user_attrs.get("preset") for t in study.get_trials(states=(TrialState.COMPLETE,))}
        self.pending_presets = [(n, a) for n, a in presets.items() if n not in done]
        self.running: dict[str, _Running] = {}
        self.launched = 0   # candidates handed to Ray in this run (the budget counts these)
        self.finished = 0   # of those, how many have ended (completed or failed)
        self._notify = on_change or (lambda message, finished: None)

    # -- Ray Tune's side -------------------------------------------------------------------
    def suggest(self, trial_id: str) -> dict | str | None:
        if self.pending_presets:
            name, arch = self.pending_presets.pop(0)
            self.running[trial_id] = _Running(arch, measure_cost(arch, self.features), preset=name)
            return {"arch": arch.to_dict(), "key": f"preset-{name}"}
        for _ in range(_MAX_REJECTED_IN_A_ROW):  # rejected or answered from a twin, in a row
            if self.launched >= self.budget.trials:
                return Searcher.FINISHED
            trial = self.study.ask()
            arch = self.space.suggest(trial)
            trial.set_user_attr("arch", arch.to_dict())
            try:
                cost = measure_cost(arch, self.features)
            except UnirankError as err:  # e.g. a dot module left with a single feature row
                trial.set_user_attr("fail_reason", f"cannot be built: {err}")
                self.study.tell(trial, state=TrialState.FAIL)
                self.on_change(f"trial {trial.number} rejected: {err}")
                continue
            trial.set_user_attr("cost", cost.to_dict())
            reason = self._over_budget(cost)
            if reason:
                trial.set_user_attr("fail_reason", reason)
                self.study.tell(trial, state=TrialState.FAIL)
                self.on_change(f"trial {trial.number} rejected before training: {reason}")
                continue
            twin = self._evaluated_twin(arch)
            if twin is None:
                self.launched += 1
            else:
                # Answered from the identical architecture, free: it does not use the budget, but
                # a sampler that keeps proposing known points ends the run (see _MAX_REJECTED...).
                for key in ("metrics", "weights"):
                    trial.set_user_attr(key, twin.user_attrs.get(key))
                trial.set_user_attr("same_as_trial", twin.number)
                self.study.tell(trial, twin.values)
                self.on_change(f"trial {trial.number} = trial {twin.number} (same architecture)")
                continue
            self.running[trial_id] = _Running(arch, cost, trial=trial)
            return {"arch": arch.to_dict(), "key": f"{trial.number:05d}"}
        return Searcher.FINISHED

    def on_change(self, message: str) -> None:
        self._notify(message, self.finished)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        entry = self.running.pop(trial_id, None)
        if entry is None:
            return
        if entry.preset is None:
            self.finished += 1
        if error or result is None or not result.get("final"):
            self._fail(entry, "trial raised an error (see the Ray trial log)" if error else "no final result")
            return
        if result.get("fail_reason") or not math.isfinite(result["mean_ne"]):
            self._fail(entry, result.get("fail_reason") or "validation NE is not finite")
            return
        values = [float(result["mean_ne"]), entry.cost.mflops]
        attrs = {"arch": entry.arch.to_dict(), "cost": entry.cost.to_dict(),
                 "metrics": json.loads(result["metrics"]), "weights": result["weights"],
                 "best_epoch": result.get("best_epoch"), "train_seconds": result.get("train_seconds")}
        if entry.preset is not None:
            self.study.add_trial(optuna.trial.create_trial(
                values=values, user_attrs={**attrs, "preset": entry.preset}))
            self.on_change(f"preset {entry.preset}: NE {values[0]:.4f}, {values[1]:.3f} MFLOPs")
            return
        for key, value in attrs.items():
            entry.trial.set_user_attr(key, value)
        self.study.tell(entry.trial, values)
        self.on_change(f"trial {entry.trial.number}: NE {values[0]:.4f}, {values[1]:.3f} MFLOPs")

    # Ray Tune pickles its configuration (for its own experiment restore). The study holds a
    # storage connection, so pickle where it lives instead and reopen it on unpickling.
    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("study", "_notify", "running")}
        state["_study_ref"] = (self.study.study_name, self.study._storage)
        return state

    def __setstate__(self, state: dict) -> None:
        name, storage = state.pop("_study_ref")
        self.__dict__.update(state)
        self.study = optuna.load_study(study_name=name, storage=storage)
        self.running, self._notify = {}, (lambda message, finished: None)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to checkpoint: the Optuna study is the searcher's durable state."""

    def restore(self, checkpoint_path: str) -> None:
        """See ``save``: resuming reopens the study instead."""

    # -- bookkeeping -------------------------------------------------------------------------
    def fail_unfinished(self, reason: str) -> None:
        """Trials Ray stopped without a result (wall-clock budget, Ctrl-C) are recorded FAIL."""
        for trial_id in list(self.running):
            entry = self.running.pop(trial_id)
            self.finished += entry.preset is None
            self._fail(entry, reason)

    def _fail(self, entry: _Running, reason: str) -> None:
        if entry.trial is None:
            self.on_change(f"preset {entry.preset} failed: {reason}")
            return
        entry.trial.set_user_attr("fail_reason", reason)
        self.study.tell(entry.trial, state=TrialState.FAIL)
        self.on_change(f"trial {entry.trial.number} failed: {reason}")

    def _over_budget(self, cost: Cost) -> str | None:
        if self.budget.max_mflops is not None and cost.mflops > self.budget.max_mflops:
            return f"{cost.mflops:.3f} MFLOPs > budget.max_mflops {self.budget.max_mflops}"
        if self.budget.max_params is not None and cost.params > self.budget.max_params:
            return f"{cost.params} params > budget.max_params {self.budget.max_params}"
        return None

    def _evaluated_twin(self, arch: ArchSpec) -> optuna.trial.FrozenTrial | None:
        wanted = arch.to_dict()
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if trial.user_attrs.get("arch") == wanted:
                return trial
        return None

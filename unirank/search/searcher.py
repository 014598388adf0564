"""OptunaArchSearcher: a Ray Tune searcher whose decisions and memory are an Optuna study.

Ray Tune asks ``suggest`` for the next trial's config; the searcher asks the Optuna study for a
trial, lets the SearchSpace turn it into an ArchSpec and measures its cost. Then one of:
- over a hard budget (or, with ``search.over_target: infeasible``, over the scalarised target):
  told to the study as infeasible (constraint values > 0, placeholder NE), never trained;
- identical to an architecture already evaluated: answered from it, free;
- after warm-up proxy screening, scored outside the gate (``search.screen.gate``): recorded
  PRUNED with its proxy score, never trained;
- otherwise handed to Ray. Per-epoch results are kept as the trial's learning curve; a trial a
  scheduler (ASHA) stops is recorded PRUNED; a final result is told with the objectives.
Presets are trained first, with the same protocol, and added to the study as marked trials. A
preset that is a point of the search space (``SearchSpace.point``) carries its parameters, so the
sampler (TPE, GP, NSGA-II, the predictor, evolution, local search) learns from it like from any finished trial,
and searched trials wait for the presets so that the first proposal already knows them; a preset
outside the space is reported (log line, study attribute ``presets_outside_space``). With
``search.tune_presets`` the best presets are then trained again with other training values
(``tuning_draws``), each a preset observation (``preset_tuning``: k), before the first proposal. Several
processes on one PostgreSQL study train each preset once (``unirank.search.claims``): a preset
another process is training is waited for like an own one, and taken over if that process dies.
With ``objective: scalarized`` and no ``search.target_mflops``, the target is the MFLOPs of the
best preset: searched trials wait until every preset has ended, the target is logged and kept in
the study (``target_mflops``, ``target_mflops_source``), and a resumed study reuses it.
The budget counts trained candidates: ``budget.trials`` per run, ``budget.total_trials`` per study.
"""
from __future__ import annotations

import json
import math
import threading
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import optuna
from optuna.trial import TrialState
from ray.tune.search import Searcher

from unirank.config import BudgetConfig, SearchConfig
from unirank.data.features import FeatureSpec
from unirank.errors import UnirankError
from unirank.proxies.cost import LATENCY_BATCH, Cost, measure_cost
from unirank.search.objectives import (INFEASIBLE_NE, constraint_values, describe_violation,
                                       objective_values, target_cap)
from unirank.search.claims import PresetClaims
from unirank.search.evolution import EvolutionProposer, arch_key, point_key
from unirank.search.finalists import FinalistTuner, tuning_draws
from unirank.search.hypervolume_tpe import HypervolumeTPEProposer
from unirank.search.local import LocalSearchProposer
from unirank.search.predictor import PredictorProposer
from unirank.search.progress import TrialEvent
from unirank.search.study import heartbeat_interval, preset_label
from unirank.space.arch import ArchSpec
from unirank.space.search_space import OutsideSpace, SearchSpace

if TYPE_CHECKING:
    from unirank.search.screening import ProxyGate

_MAX_REJECTED_IN_A_ROW = 200
_HELD = "preset_held:"  # study attribute prefix: a preset result another process holds (`_hold`)


@dataclass
class _Running:
    arch: ArchSpec
    cost: Cost
    trial: optuna.Trial | None = None
    preset: str | None = None
    curve: list = field(default_factory=list)  # [epoch, validation NE] as reported
    twins: list = field(default_factory=list)  # later proposals of the same architecture, waiting
    train: dict = field(default_factory=dict)  # training overrides searched with it (space.train)
    preset_key: str | None = None  # a preset training's name in the study: the preset's, or "<preset>-tuning<k>"
    tuning: int | None = None  # search.tune_presets: the k-th training of a preset with other values


def preset_key(preset: str, tuning: int | None = None) -> str:
    """A preset training's name in the study (``_Running.preset_key``, claims): the preset's, or
    ``<preset>-tuning<k>`` for its k-th tuning (``search.tune_presets``)."""
    return f"{preset}-tuning{tuning}" if tuning else preset


def _trial_key(attrs: dict) -> str:
    return preset_key(attrs["preset"], attrs.get("preset_tuning"))


def _stored_presets(study: optuna.Study) -> list[dict]:
    """The user attributes of the study's finished preset trainings."""
    return [t.user_attrs for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
            if "preset" in t.user_attrs]


def _final_ne(result: dict) -> float | None:
    """A final result's validation NE, or None where the training failed or its NE is not finite."""
    ne = float(result["mean_ne"])
    return ne if not result.get("fail_reason") and math.isfinite(ne) else None


def searched_candidate(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether ``trial`` is a searched candidate handed to training: not a preset, not a twin of
    another trial, not refused before training (over a budget, screened out by the proxy gate)."""
    attrs = trial.user_attrs
    return ("preset" not in attrs and "same_as_trial" not in attrs
            and not attrs.get("infeasible") and not attrs.get("screened_out"))


def trained_count(study: optuna.Study) -> int:
    """Searched candidates that were trained and ended (complete or pruned) in this study."""
    return sum(1 for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
               if searched_candidate(t))


def allowed_trials(budget: BudgetConfig, study: optuna.Study) -> int:
    """How many candidates this run may train: ``budget.trials``, capped by what is left of
    ``budget.total_trials`` in the study."""
    if budget.total_trials is None:
        return budget.trials
    return min(budget.trials, max(0, budget.total_trials - trained_count(study)))


class OptunaArchSearcher(Searcher):
    def __init__(self, study: optuna.Study, space: SearchSpace, features: FeatureSpec,
                 budget: BudgetConfig, presets: dict[str, ArchSpec], search: SearchConfig,
                 on_change: Callable[[TrialEvent, int], None] | None = None,
                 gate: ProxyGate | None = None, train_defaults: dict | None = None,
                 storage: str | None = None, teacher: str | None = None):
        super().__init__(metric="mean_ne", mode="min")
        self.teacher = teacher  # search.distill: every candidate learns from it; a twin needs the same
        self.finished_keys: dict[int, str | None] = {}  # trial id → point_key of a finished trial that may be a twin
        # the study's values of the searched training fields: what presets train with
        self.preset_train = {k: (train_defaults or {}).get(k) for k in space.config.train.searched()}
        self.study, self.space, self.features, self.budget, self.search = study, space, features, budget, search
        self._costs: dict[str, Cost] = {}  # architecture (its JSON) → its measured cost, ``_cost``
        done = {_trial_key(attrs) for attrs in _stored_presets(study)}
        # preset trainings to start: (key, preset, arch, training values, tuning k or None)
        self.pending_presets = [(n, n, a, self.preset_train, None) for n, a in presets.items() if n not in done]
        self.presets = presets
        self.done = False  # set once suggest has answered FINISHED (budget spent, or screening out of time)
        self._tunings_planned = search.tune_presets is None  # search.tune_presets: planned once the presets end
        # several processes on one PostgreSQL study: each preset trained by one of them
        self.claims = PresetClaims(storage or "", study.study_name)
        self.presets_elsewhere: dict[str, tuple] = {}  # key → pending entry, held by another process right now
        self.preset_points, outside = {}, {}
        for name, arch in presets.items():
            try:
                params, distributions = space.point(arch)
                train_params, train_distributions = space.train_point(self.preset_train)
                self.preset_points[name] = ({**params, **train_params}, {**distributions, **train_distributions})
            except OutsideSpace as err:
                outside[name] = str(err)
        if outside:
            study.set_user_attr("presets_outside_space", outside)
            for name, reason in outside.items():
                self._log(f"preset {name} is outside the search space ({reason}): trained and shown, "
                          "but not an observation of the sampler")
        self.preset_mflops = ({n: self._cost(a).mflops for n, a in presets.items()}
                              if search.objective == "scalarized" and search.target_mflops is None else {})
        self.running: dict[str, _Running] = {}
        self.allowed = allowed_trials(budget, study)
        self.launched = 0   # candidates handed to Ray in this run (the budget counts these)
        self.finished = 0   # of those, how many have ended (completed, pruned or failed)
        self.proposer = (PredictorProposer(space, features, search.seed) if search.sampler == "predictor" else
                         EvolutionProposer(space, search.seed) if search.sampler == "evolution" else
                         HypervolumeTPEProposer(space, search.seed) if search.sampler == "tpe_hv" else
                         LocalSearchProposer(space, search.seed, self._fitting_mflops,
                                             every=2 if search.sampler == "tpe_local" else 1,
                                             order=search.neighbour_order)
                         if search.sampler in ("local", "tpe_local") else None)
        # search.tune: the run's last candidates tune the best architectures' training values
        self.tuner = (FinalistTuner(space, search.seed, search.tune.top, search.tune.presets)
                      if search.tune is not None else None)
        self._tuning_announced = False
        self._notify = on_change or (lambda event, finished: None)
        self.gate = gate  # proposals after screening are scored before training (search.screen.gate)
        self._heartbeat_stop = self._start_heartbeat()
        self.target_mflops = search.target_mflops or study.user_attrs.get("target_mflops")
        self._preset_results: list[tuple[_Running, dict]] = []  # held until the target is known
        if search.objective == "scalarized" and search.target_mflops is not None:
            self._log(f"scalarised objective: target {search.target_mflops:g} MFLOPs (search.target_mflops)")

    @property
    def _awaiting_target(self) -> bool:
        return self.search.objective == "scalarized" and self.target_mflops is None

    def _log(self, line: str) -> None:
        print(line, flush=True)

    def _resolve_target(self) -> None:
        """Once every preset (and its tuning, ``search.tune_presets``) has ended: the best preset
        training's MFLOPs become the scalarised target."""
        if (self.pending_presets or not self._tunings_planned
                or any(e.preset is not None for e in self.running.values()) or self._waiting_for_elsewhere()):
            return
        done = self._preset_outcomes()
        if done:
            ne, mflops, name, tuning = min(done, key=lambda row: row[0])
            self.target_mflops = mflops
            self._record_target(f"preset {preset_label(name, tuning)} (best validation NE {ne:.4f})")
        elif self._preset_results:
            best = min((e for e, _ in self._preset_results), key=lambda e: e.cost.mflops)
            self.target_mflops = best.cost.mflops
            self._record_target(f"preset {best.preset} (no preset finished; the cheapest)")
        else:  # every preset failed in an earlier run
            name = min(self.preset_mflops, key=self.preset_mflops.get)
            self.target_mflops = self.preset_mflops[name]
            self._record_target(f"preset {name} (no preset finished; the cheapest)")
        held, self._preset_results = self._preset_results, []
        for entry, result in held:
            self._finish(entry, result)

    def _preset_outcomes(self) -> list[tuple[float, float, str, int | None]]:
        """(validation NE, MFLOPs, preset, tuning k or None) of every preset training that ended
        with a finite NE: those held until the target is known (here, or published by another
        process on the study) and those in the study (a resumed study's, or with a known target
        every one)."""
        held = [(ne, e.cost.mflops, e.preset, e.tuning) for e, r in self._preset_results
                if (ne := _final_ne(r)) is not None]
        stored = _stored_presets(self.study)
        seen = {e.preset_key for e, _ in self._preset_results} | {_trial_key(a) for a in stored}
        return held + [(a["metrics"]["mean_ne"], a["cost"]["mflops"], a["preset"], a.get("preset_tuning"))
                       for a in stored] + [
            (r["mean_ne"], r["mflops"], r["preset"], r["tuning"]) for key, r in self._published().items()
            if key not in seen and r["mean_ne"] is not None]

    def _published(self) -> dict[str, dict]:
        """Preset results other processes hold until their target is known (``_hold``), by key."""
        if not self.claims.shared:
            return {}
        return {k[len(_HELD):]: v for k, v in self.study.user_attrs.items() if k.startswith(_HELD)}

    # -- Ray Tune's side -------------------------------------------------------------------
    def _next_preset(self) -> tuple | None:
        """The next preset training this process should run (claimed), as a pending entry, or None."""
        while self.pending_presets:
            job = self.pending_presets.pop(0)
            key = job[0]
            if not self.claims.claim(key):
                self.presets_elsewhere[key] = job
                self._log(f"preset {preset_label(job[1], job[4])}: another search process on this study is training it")
                continue
            if key in self._finished_presets():  # finished elsewhere since this search started
                self.claims.release(key)
                continue
            return job
        return None

    def _finished_presets(self) -> set[str]:
        return {_trial_key(attrs) for attrs in _stored_presets(self.study)}

    def _ended_presets(self) -> set[str]:
        """Keys of the preset trainings that have ended: in the study, or held by another process."""
        return self._finished_presets() | set(self._published())

    def _plan_tunings(self) -> None:
        """``search.tune_presets``: once every preset has ended, the ``top`` best by validation NE
        queue their trainings with other training values (``tuning_draws``, seeded by the preset's
        name and the search seed), those not in the study yet."""
        self._tunings_planned = True
        results = {name: ne for ne, _, name, tuning in self._preset_outcomes() if not tuning}
        tune = self.search.tune_presets
        top = sorted((n for n in results if n in self.presets), key=results.get)[:tune.top]
        done = self._ended_presets()
        for name in top:
            draws = tuning_draws(self.presets[name].to_dict(), self.preset_train, self.space.config.train.searched(),
                                 tune.trainings, f"{name}-{self.search.seed}")
            self.pending_presets += [(preset_key(name, k), name, self.presets[name], values, k)
                                     for k, values in enumerate(draws[1:], start=1) if preset_key(name, k) not in done]
        if top:
            self._log(f"search.tune_presets: {', '.join(top)} (the best by validation NE) trained with "
                      f"{tune.trainings - 1} other training values each before the sampler proposes")

    def _waiting_for_elsewhere(self) -> bool:
        """Whether presets other processes train are still running there (the sampler waits for
        them as for its own); one whose holder ended without a result comes back to this process."""
        if not self.presets_elsewhere:
            return False
        done = self._ended_presets()
        for name in list(self.presets_elsewhere):
            if name in done:
                del self.presets_elsewhere[name]
            elif self.claims.claim(name):
                self.pending_presets.append(self.presets_elsewhere.pop(name))
        return bool(self.presets_elsewhere) or bool(self.pending_presets)

    def suggest(self, trial_id: str) -> dict | str | None:
        nxt = self._next_preset()
        if nxt is not None:
            key, name, arch, train, tuning = nxt
            cost = self._cost(arch)
            self.running[trial_id] = _Running(arch, cost, preset=name, train=train, preset_key=key, tuning=tuning)
            label = preset_label(name, tuning)
            self._event(label, "running", f"preset {label} started", arch=arch, mflops=cost.mflops)
            return {"arch": arch.to_dict(), "key": f"preset-{key}", "preset": name,
                    **({"train": train} if tuning else {})}
        if ((self.preset_points or not self._tunings_planned)
                and any(e.preset is not None for e in self.running.values())):
            return None  # the sampler's first proposal (and the presets' tuning) waits for the presets
        if self._waiting_for_elsewhere():
            return self.suggest(trial_id) if self.pending_presets else None
        if not self._tunings_planned:
            self._plan_tunings()
            if self.pending_presets:
                return self.suggest(trial_id)
            if self._awaiting_target and self._preset_results:
                self._resolve_target()
        if self._awaiting_target:
            if not self.running:  # study resumed with its presets done but no target recorded
                self._resolve_target()
            if self._awaiting_target:
                return None  # Ray asks again once the presets have ended
        for _ in range(_MAX_REJECTED_IN_A_ROW):  # rejected or answered from a twin, in a row
            if self.launched >= self.allowed or (self.gate is not None and self.gate.out_of_time()):
                self.done = True
                return Searcher.FINISHED
            params = None
            if self.tuner is not None and self.launched >= self.allowed - self.search.tune.trials:
                if not self._tuning_announced:
                    self._tuning_announced = True
                    self._log(f"search.tune: the last {self.allowed - self.launched} candidates retrain the "
                              f"{self.search.tune.top} best architectures with other training values")
                params = self.tuner.propose(self.study)
            if params is None and self.proposer is not None:
                params = self.proposer.propose(self.study)
            if params is not None:
                self.study.enqueue_trial(params)
            trial = self.study.ask()
            self._beat(trial)
            arch = self.space.suggest(trial)
            train = self.space.suggest_train(trial)
            trial.set_user_attr("arch", arch.to_dict())
            if train:
                trial.set_user_attr("train", train)
            try:
                cost = self._cost(arch)
            except Exception as err:  # noqa: BLE001 - e.g. a dot module left with one row, or no memory
                err = err if isinstance(err, UnirankError) else f"{type(err).__name__}: {err}".splitlines()[0]
                trial.set_user_attr("fail_reason", f"cannot be built: {err}")
                self.study.tell(trial, state=TrialState.FAIL)
                self._event(f"trial {trial.number}", "failed", f"trial {trial.number} rejected: {err}", arch=arch)
                continue
            trial.set_user_attr("cost", cost.to_dict())
            cap = target_cap(self.search, self.target_mflops)
            for name, value in constraint_values(self.budget, cost, cap).items():
                trial.set_constraint(name, value)
            violation = describe_violation(self.budget, cost, cap)
            if violation:
                trial.set_user_attr("infeasible", violation)
                self.study.tell(trial, objective_values(self.search, INFEASIBLE_NE, cost, self.target_mflops))
                self._event(f"trial {trial.number}", "infeasible",
                            f"trial {trial.number} infeasible, not trained: {violation}", arch=arch, mflops=cost.mflops)
                continue
            running_twin = self._running_twin(arch, train)
            if running_twin is not None:
                # Being trained right now: this trial waits and takes the twin's outcome when it ends.
                running_twin.twins.append(trial)
                trial.set_user_attr("same_as_trial", running_twin.trial.number)
                self._event(f"trial {trial.number}", "twin",
                            f"trial {trial.number} = trial {running_twin.trial.number} (same architecture, "
                            "being trained; not retrained)", arch=arch, mflops=cost.mflops)
                continue
            twin = self._evaluated_twin(arch, train)
            if twin is not None:
                for key in ("metrics", "weights"):
                    trial.set_user_attr(key, twin.user_attrs.get(key))
                trial.set_user_attr("same_as_trial", twin.number)
                self.study.tell(trial, twin.values)
                self._event(f"trial {trial.number}", "twin",
                            f"trial {trial.number} = trial {twin.number} (same architecture, not retrained)",
                            arch=arch, mflops=cost.mflops)
                continue
            if (self.gate is not None and "queue_position" not in trial.user_attrs  # queued: scored already
                    and self._gated_out(trial, arch, cost)):
                continue
            self.launched += 1
            self.running[trial_id] = _Running(arch, cost, trial=trial, train=train)
            self._event(f"trial {trial.number}", "running", f"trial {trial.number} started", arch=arch,
                        mflops=cost.mflops)
            return {"arch": arch.to_dict(), "key": f"{trial.number:05d}", "train": train}
        self.done = True
        return Searcher.FINISHED

    @property
    def _latency_batch(self) -> int:
        """The batch the driver times a proposal's inference on: only with a latency budget to check
        before training (``budget.max_latency_ms``). A trained candidate's latency is measured where
        it trained (``run_trial``); timing every proposal here as well took this process 2 s for BST
        on an idle 2-core machine (~0.07 s without), 5–13 s beside ten trainings on a GPU machine."""
        return LATENCY_BATCH if self.budget.max_latency_ms else 0

    def _cost(self, arch: ArchSpec) -> Cost:
        """``arch``'s cost, measured once per architecture: local search checks a neighbour's fit
        before proposing it (and a repair checks the neighbour's own neighbours), and the proposal
        is then costed again when asked: BST on movielens_history takes ~0.03 s of the driver's
        each time (the count runs the model). Failures are not kept: each caller handles them."""
        key = arch_key(arch.to_dict())
        if key not in self._costs:
            self._costs[key] = measure_cost(arch, self.features, latency_batch=self._latency_batch)
        return self._costs[key]

    def _fitting_mflops(self, arch: ArchSpec) -> float | None:
        """The architecture's MFLOPs when it is within the hard budgets and the capped target, else
        None (also when it cannot be built): what local search repairs its neighbours against."""
        try:
            cost = self._cost(arch)
        except Exception:  # noqa: BLE001 - the searcher reports it when the point is proposed as it is
            return None
        return None if describe_violation(self.budget, cost, target_cap(self.search, self.target_mflops)) else cost.mflops

    def _gated_out(self, trial: optuna.Trial, arch: ArchSpec, cost: Cost) -> bool:
        """Score ``trial`` with the proxy gate; record it PRUNED, untrained, if the gate says so."""
        score, reason = self.gate.check(arch)
        trial.set_user_attr("proxy_score", score["score"])
        trial.set_user_attr("proxy", score)
        if reason is None:
            return False
        trial.set_user_attr("screened_out", True)
        trial.set_user_attr("fail_reason", reason)
        if len(self.study.directions) == 1:  # as screening does: TPE ranks pruned trials by this
            trial.report(score["score"], 0)
        self.study.tell(trial, state=TrialState.PRUNED)
        self._event(f"trial {trial.number}", "screened", f"trial {trial.number} not trained: {reason}",
                    arch=arch, mflops=cost.mflops)
        return True

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        entry = self.running.get(trial_id)
        if entry is not None and not result.get("final"):
            _add_to_curve(entry.curve, result)

    def _event(self, label: str, state: str, message: str, arch: ArchSpec | None = None,
               mean_ne: float | None = None, mflops: float | None = None) -> None:
        self._notify(TrialEvent(label, state, message, mean_ne, mflops, arch.summary() if arch else ""),
                     self.finished)

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        entry = self.running.pop(trial_id, None)
        if entry is None:
            return
        if entry.preset is None:
            self.finished += 1
        if error or result is None:
            reason = "trial raised an error (see the Ray trial log)" if error else "no result"
            if entry.preset is not None and self._awaiting_target:
                self._hold(entry, {"mean_ne": float("nan"), "final": True, "fail_reason": reason})
                return
            self._end(entry, TrialState.FAIL, reason)
            return
        # Ray does not pass the result that made the scheduler stop a trial to on_trial_result, and
        # the last epoch comes inside the final result (see trainable).
        _add_to_curve(entry.curve, result)
        if not result.get("final"):
            self._end(entry, TrialState.PRUNED, f"stopped early by the scheduler after epoch {result.get('epoch')}")
            return
        if entry.preset is not None and self._awaiting_target:
            self._hold(entry, result)
            return
        self._finish(entry, result)

    def _hold(self, entry: _Running, result: dict) -> None:
        """A preset training's result, kept until the scalarised target is known. With several
        processes on the study it is also published (a study attribute), so that each of them
        resolves the target — and plans ``search.tune_presets`` — from every preset's result, not
        from those it trained itself."""
        self._preset_results.append((entry, result))
        if self.claims.shared:
            self.study.set_user_attr(_HELD + entry.preset_key, {
                "mean_ne": _final_ne(result),
                "mflops": entry.cost.mflops, "preset": entry.preset, "tuning": entry.tuning})
        self._resolve_target()

    def _finish(self, entry: _Running, result: dict) -> None:
        """Record a trial that reported its final result (failed inside, or trained)."""
        ne = _final_ne(result)
        if ne is None:
            self._end(entry, TrialState.FAIL, result.get("fail_reason") or "validation NE is not finite")
            return
        if result.get("weights_ref") is not None:  # trained on a node without the driver's disk
            import ray

            path = Path(result["weights"])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.with_suffix(".tmp").write_bytes(ray.get(result["weights_ref"]))
            path.with_suffix(".tmp").replace(path)
        values = objective_values(self.search, ne, entry.cost, self.target_mflops)
        cost = entry.cost.to_dict()
        if result.get("latency_ms") is not None:  # measured again where the trial ran (a GPU's own latency)
            cost.update(latency_ms=result["latency_ms"], latency_device=result.get("device"))
        attrs = {"arch": entry.arch.to_dict(), "cost": cost,
                 "metrics": json.loads(result["metrics"]), "weights": result["weights"],
                 "curve": entry.curve, "best_epoch": result.get("best_epoch"), "node": result.get("node"),
                 "device": result.get("device"), **({"teacher": result["teacher"]} if result.get("teacher") else {}),
                 **({"data_folder": result["data_folder"]} if result.get("data_folder") else {}),
                 "train_seconds": result.get("train_seconds"), **({"train": entry.train} if entry.train else {})}
        text = f"NE {ne:.4f}, {entry.cost.mflops:.3f} MFLOPs"
        if entry.preset is not None:
            params, distributions = self.preset_points.get(entry.preset, (None, None))
            if params is not None and entry.tuning:  # the preset's parameters with its tuning's values
                train_params, train_distributions = self.space.train_point(entry.train)
                params, distributions = {**params, **train_params}, {**distributions, **train_distributions}
            self.study.add_trial(optuna.trial.create_trial(
                values=values, user_attrs={**attrs, "preset": entry.preset,
                                           **({"preset_tuning": entry.tuning} if entry.tuning else {})},
                params=params, distributions=distributions,
                constraints=constraint_values(self.budget, entry.cost,
                                              target_cap(self.search, self.target_mflops)) or None))
            self.claims.release(entry.preset_key)
            label = preset_label(entry.preset, entry.tuning)
        else:
            for key, value in attrs.items():
                entry.trial.set_user_attr(key, value)
            self.study.tell(entry.trial, values)
            self._settle_twins(entry)
            label = f"trial {entry.trial.number}"
        self._event(label, "complete", f"{label}: {text}", entry.arch, ne, entry.cost.mflops)

    # Ray Tune pickles its configuration (for its own experiment restore). The study holds a
    # storage connection, so pickle where it lives instead and reopen it on unpickling.
    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items()
                 if k not in ("study", "_notify", "running", "proposer", "tuner", "gate", "_heartbeat_stop",
                              "claims")}
        state["_study_ref"] = (self.study.study_name, self.study._storage)
        return state

    def __setstate__(self, state: dict) -> None:
        name, storage = state.pop("_study_ref")
        self.__dict__.update(state)
        self.study = optuna.load_study(study_name=name, storage=storage)
        self.running, self.proposer, self.tuner, self.gate = {}, None, None, None
        self._notify = lambda event, finished: None
        self._heartbeat_stop = None
        self.claims = PresetClaims("", name)  # a copy claims nothing; the driver's searcher holds the locks

    def save(self, checkpoint_path: str) -> None:
        """Nothing to checkpoint: the Optuna study is the searcher's durable state."""

    def restore(self, checkpoint_path: str) -> None:
        """See ``save``: resuming reopens the study instead."""

    # -- bookkeeping -------------------------------------------------------------------------
    def _start_heartbeat(self) -> threading.Event | None:
        """On a storage with heartbeats (PostgreSQL), keep this worker's running trials alive so
        that another worker's ``recover_interrupted_trials`` leaves them alone."""
        interval = heartbeat_interval(self.study)
        if not interval:
            return None
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                for entry in list(self.running.values()):
                    for trial in ([entry.trial] if entry.trial is not None else []) + list(entry.twins):
                        self._beat(trial)

        threading.Thread(target=beat, daemon=True, name="unirank-heartbeat").start()
        return stop

    def _beat(self, trial: optuna.Trial) -> None:
        if heartbeat_interval(self.study):
            try:
                self.study._storage.record_heartbeat(trial._trial_id)
            except Exception:  # noqa: BLE001 - a missed beat is retried at the next interval
                pass

    def fail_unfinished(self, reason: str) -> None:
        """Trials Ray stopped without a result (wall-clock budget, Ctrl-C) are recorded FAIL."""
        if self._heartbeat_stop is not None:
            self._heartbeat_stop.set()
        for trial_id in list(self.running):
            entry = self.running.pop(trial_id)
            self.finished += entry.preset is None
            self._end(entry, TrialState.FAIL, reason)
        self.claims.close()

    def _end(self, entry: _Running, state: TrialState, reason: str) -> None:
        name = "pruned" if state == TrialState.PRUNED else "failed"
        if entry.trial is None:
            self.claims.release(entry.preset_key)
            label = preset_label(entry.preset, entry.tuning)
            self._event(label, name, f"preset {label} did not finish: {reason}", entry.arch)
            return
        entry.trial.set_user_attr("fail_reason", reason)
        entry.trial.set_user_attr("curve", entry.curve)
        self.study.tell(entry.trial, state=state)
        self._settle_twins(entry)
        label = f"trial {entry.trial.number}"
        self._event(label, name, f"{label} {name}: {reason}", entry.arch, mflops=entry.cost.mflops)

    def _record_target(self, source: str) -> None:
        self.study.set_user_attr("target_mflops", self.target_mflops)
        self.study.set_user_attr("target_mflops_source", source)
        self._log(f"scalarised objective: target {self.target_mflops:.4g} MFLOPs = {source}")

    def _running_twin(self, arch: ArchSpec, train: dict) -> _Running | None:
        """A trial being trained now with the same architecture and training (``point_key``)."""
        key = point_key(arch.to_dict(), train)
        return next((e for e in self.running.values()
                     if e.trial is not None and point_key(e.arch.to_dict(), e.train) == key), None)

    def _settle_twins(self, entry: _Running) -> None:
        """Trials that waited on ``entry`` take its outcome (values and weights, or its state)."""
        if not entry.twins:
            return
        frozen = self.study._storage.get_trial(entry.trial._trial_id)
        for twin in entry.twins:
            for key in ("metrics", "weights", "fail_reason", "train"):
                if key in frozen.user_attrs:
                    twin.set_user_attr(key, frozen.user_attrs[key])
            if frozen.state == TrialState.COMPLETE:
                self.study.tell(twin, frozen.values)
            else:
                self.study.tell(twin, state=TrialState.FAIL if frozen.state == TrialState.FAIL else TrialState.PRUNED)
        entry.twins = []

    def _evaluated_twin(self, arch: ArchSpec, train: dict) -> optuna.trial.FrozenTrial | None:
        """A finished trial of the same architecture trained the same way (the same searched
        training values as they train — ``effective_train`` —, a preset trained with the study's;
        the same teacher or none)."""
        key = point_key(arch.to_dict(), train)
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if trial._trial_id not in self.finished_keys:  # a finished trial's attributes no longer change
                self.finished_keys[trial._trial_id] = (
                    point_key(trial.user_attrs.get("arch"), trial.user_attrs.get("train", {}))
                    if not trial.user_attrs.get("infeasible") and trial.user_attrs.get("teacher") == self.teacher
                    else None)
            if self.finished_keys[trial._trial_id] == key:
                return trial
        return None


def _add_to_curve(curve: list, result: dict) -> None:
    """Append the [epoch, validation NE] a result carries, once per epoch."""
    epoch = result.get("epoch", result.get("preset_epoch"))
    if epoch is None or (curve and curve[-1][0] == epoch):
        return
    curve.append([epoch, result.get("epoch_mean_ne", result["mean_ne"])])

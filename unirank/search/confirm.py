"""Confirmation: the search's best candidates trained again from more training seeds before a
winner is named (``search.confirm``).

One training's validation NE carries its seed's noise (initialisation, batch order), as large as
the differences between the best candidates of a search, so the lowest single value is partly
luck: on MovieLens the one-training winner was worse on average than other top candidates of the
same study (``benchmarks/search_headroom.py``). Here the ``top`` best searched candidates and the
best preset are trained from ``seeds`` more seeds (``train.seed`` + 1, + 2, …) as Ray Tune trials
with the study's protocol and resources, each with its searched training values; each gets the
mean validation NE over all its trainings (the search's own included), and the winner is the
lowest mean objective:
- ``objective: pareto``: mean NE, among candidates at no more MFLOPs than the best preset (the
  question a user asks first: did the search beat the hand-designed model at its cost?); without
  presets, among all;
- ``objective: scalarized``: the penalised value at the mean NE.

``per: architecture`` counts the ``top`` in distinct architectures, each by its best training:
the finalists' tuning (``search.tune``) trains each of the best architectures with several
training values, so the best trainings are often one architecture's (runs s53–s55 of
``benchmarks/search_vs_presets.py``: the three best trainings of a search were one or two
architectures in 13 of 15 searches), and the confirmation then tells training values apart more
than architectures. Measured on those runs it chose winners that retrain worse than ``trial``'s
(``docs/search_vs_presets.md``): telling training values apart pays more there.

Each training's result is its own study user attribute (``confirm:<trial>:<seed>``), written when
it ends: an interrupted confirmation resumes where it stopped, a later invocation that finds new
top candidates trains only those, and several workers on one storage never overwrite each other.
Validation rows only: the test split is never read.
"""
from __future__ import annotations

import math
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

import optuna

from unirank.config import StudyConfig
from unirank.search.evolution import arch_key
from unirank.search.objectives import penalised_ne
from unirank.search.study import TrialRecord, trial_records

if TYPE_CHECKING:
    from unirank.search.trainable import TrialSetup

_KEY = "confirm:"


@dataclass
class Confirmed:
    """A candidate with every training of it: ``ne[seed]`` = validation NE."""

    record: TrialRecord
    ne: dict[int, float]
    value: float  # the objective at the mean NE (what the winner is chosen by)

    @property
    def mean_ne(self) -> float:
        return statistics.mean(self.ne.values())

    @property
    def std_ne(self) -> float:
        return statistics.stdev(self.ne.values()) if len(self.ne) > 1 else 0.0


def _value(cfg: StudyConfig, target: float | None, mean_ne: float, mflops: float) -> float:
    if cfg.search.objective == "scalarized" and target:
        return penalised_ne(cfg.search, mean_ne, mflops, target)
    return mean_ne


def _target(study: optuna.Study, cfg: StudyConfig) -> float | None:
    return cfg.search.target_mflops or study.user_attrs.get("target_mflops")


def _teacher(records: list[TrialRecord], teacher: str | None) -> list[TrialRecord]:
    """The trials trained like this invocation trains (the same teacher, or none)."""
    return [r for r in records if r.same_as_trial is None and r.weights and (r.teacher or None) == (teacher or None)]


def chosen(study: optuna.Study, cfg: StudyConfig, teacher: str | None = None) -> list[TrialRecord]:
    """The best preset and the ``search.confirm.top`` best searched candidates (see the module doc)."""
    records = _teacher(trial_records(study), teacher)
    target = _target(study, cfg)
    rank = lambda r: _value(cfg, target, r.mean_ne, r.mflops)  # noqa: E731
    presets = sorted((r for r in records if r.preset), key=rank)
    searched = [r for r in records if not r.preset]
    if cfg.search.objective == "pareto" and presets:
        searched = [r for r in searched if r.mflops <= presets[0].mflops]
    searched = sorted(searched, key=rank)
    if cfg.search.confirm.per == "architecture":  # each architecture by its best training
        first: dict[str, TrialRecord] = {}
        for r in searched:
            first.setdefault(arch_key(r.arch.to_dict()), r)
        searched = list(first.values())
    return presets[:1] + searched[:cfg.search.confirm.top]


def seeds(cfg: StudyConfig) -> list[int]:
    """The extra training seeds; the search's own training used ``train.seed``."""
    return [cfg.train.seed + i for i in range(1, cfg.search.confirm.seeds + 1)]


def results(study: optuna.Study) -> dict[int, dict[int, float]]:
    """trial number → {seed: validation NE} of every confirmation training recorded in the study."""
    out: dict[int, dict[int, float]] = {}
    for key, value in study.user_attrs.items():
        if key.startswith(_KEY):
            number, seed = (int(x) for x in key[len(_KEY):].split(":"))
            out.setdefault(number, {})[seed] = float(value["mean_ne"])
    return out


def confirmed(study: optuna.Study, cfg: StudyConfig) -> list[Confirmed]:
    """Every candidate with confirmation trainings, best first (an empty list when none)."""
    done = results(study)
    if not done:
        return []
    target = _target(study, cfg)
    out = []
    for r in trial_records(study):
        if r.number in done and r.same_as_trial is None:
            ne = {cfg.train.seed: r.mean_ne, **done[r.number]}
            out.append(Confirmed(r, ne, _value(cfg, target, statistics.mean(ne.values()), r.mflops)))
    return sorted(out, key=lambda c: c.value)


def complete(rows: list[Confirmed], cfg: StudyConfig) -> list[Confirmed]:
    """Of ``confirmed``'s rows, those trained from every confirmation seed (all, without search.confirm)."""
    wanted = len(seeds(cfg)) + 1 if cfg.search.confirm else 0
    return [c for c in rows if len(c.ne) >= wanted]


def winner(study: optuna.Study, cfg: StudyConfig) -> Confirmed | None:
    """The lowest mean objective among candidates trained from every confirmation seed."""
    return next(iter(complete(confirmed(study, cfg), cfg)), None)


def _jobs(study: optuna.Study, cfg: StudyConfig, teacher: str | None) -> list[dict]:
    done = results(study)
    return [{"arch": r.arch.to_dict(), "train": {**r.train, "seed": s}, "key": f"confirm-{r.number:05d}-s{s}",
             "trial": r.number, "seed": s}
            for r in chosen(study, cfg, teacher) for s in seeds(cfg) if s not in done.get(r.number, {})]


def run_confirmation(study: optuna.Study, cfg: StudyConfig, setup: "TrialSetup", concurrency: int,
                     seconds_left: float | None, teacher: str | None = None,
                     log: Callable[[str], None] = print) -> Confirmed | None:
    """Train what is left of the confirmation (Ray must be initialised) and return the winner."""
    import ray.tune as tune

    from unirank.search.runner import _CLOCK_SLACK_S

    jobs = _jobs(study, cfg, teacher)
    if jobs and seconds_left is not None and seconds_left <= 0:
        log(f"confirmation: {len(jobs)} trainings left, no time left (budget.max_wall_minutes); "
            "run the search again to finish it")
        jobs = []
    if jobs:
        names = sorted({j['trial'] for j in jobs})
        log(f"confirmation: {len(jobs)} trainings (trials {', '.join(map(str, names))}; seeds "
            f"{', '.join(map(str, seeds(cfg)))})")
        ended = [0]

        class Record(tune.Callback):
            def on_trial_complete(self, iteration, trials, trial, **info) -> None:
                job, result = trial.config["job"], trial.last_result or {}
                ended[0] += 1
                if result.get("final") and not result.get("fail_reason") and math.isfinite(result["mean_ne"]):
                    study.set_user_attr(f"{_KEY}{job['trial']}:{job['seed']}",
                                        {"mean_ne": result["mean_ne"], "mean_auc": result.get("mean_auc")})
                    log(f"{time.strftime('%H:%M:%S')} confirmation {ended[0]}/{len(jobs)}: trial {job['trial']} "
                        f"seed {job['seed']}: NE {result['mean_ne']:.4f}")
                else:
                    log(f"confirmation {ended[0]}/{len(jobs)}: trial {job['trial']} seed {job['seed']} failed: "
                        f"{result.get('fail_reason', 'no result')}")

            def on_trial_error(self, iteration, trials, trial, **info) -> None:
                job = trial.config["job"]
                ended[0] += 1
                log(f"confirmation {ended[0]}/{len(jobs)}: trial {job['trial']} seed {job['seed']} failed: "
                    "its training raised an error (Ray Tune's trial log has it)")

        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(_confirm_trial, setup=setup), cfg.search.resources()),
            param_space={"job": tune.grid_search(jobs)},
            tune_config=tune.TuneConfig(max_concurrent_trials=concurrency, reuse_actors=True,
                                        time_budget_s=seconds_left),
            run_config=tune.RunConfig(name=f"{cfg.study_name}-confirm-{time.strftime('%Y%m%d-%H%M%S')}",
                                      storage_path=str(cfg.output_dir / "ray_results"), verbose=0,
                                      callbacks=[Record()]),
        )
        started = time.perf_counter()
        tuner.fit()
        # Ray Tune ends fit() quietly on Ctrl-C (SIGINT): trainings that neither ended nor were cut by
        # the clock mean the confirmation was interrupted; it says so (exit status 130, as the search
        # does) instead of naming a winner from what it had, and a rerun trains what is left
        out_of_time = seconds_left is not None and time.perf_counter() - started > seconds_left - _CLOCK_SLACK_S
        if ended[0] < len(jobs) and not out_of_time:
            raise KeyboardInterrupt
    best = winner(study, cfg)
    if best is not None:
        log(f"confirmed winner: {best.record.label} (mean validation NE {best.mean_ne:.4f} ± {best.std_ne:.4f} over "
            f"{len(best.ne)} trainings, {best.record.mflops:.3f} MFLOPs)")
    return best


def _confirm_trial(config: dict, setup: "TrialSetup") -> None:
    from unirank.search.trainable import run_trial

    run_trial(config["job"], setup)

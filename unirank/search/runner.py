"""run_study: one `unirank search` invocation, from a StudyConfig to trials in Optuna storage.

Data are prepared (and cached) once in the driver; Ray Tune runs each candidate as a trial on a
local Ray runtime (or an existing cluster with ``search.address``); the Optuna study decides and
remembers. Rerunning the same config resumes the same study: finished trials stay, trials left
RUNNING by a killed process are marked FAIL and retried once, and ``budget.trials`` more are run
(capped by ``budget.total_trials``).
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from unirank.config import StudyConfig
from unirank.data.column_files import column_files
from unirank.data.coverage import cold_validation_lines, unseen_shares
from unirank.data.dataset import load_prepared, prepare_dataset
from unirank.data.preprocess import PreprocessState
from unirank.errors import UnirankError
from unirank.search.agreement import Agreement, validation_agreement
from unirank.search.progress import SearchProgress
from unirank.search.searcher import OptunaArchSearcher, allowed_trials
from unirank.search.lock import search_lock
from unirank.search.study import (open_study_for_search, recover_interrupted_trials, storage_url,
                                  trial_records)
from unirank.search.trainable import TrialSetup, run_trial
from unirank.space.presets import get_preset
from unirank.space.search_space import SearchSpace
from unirank.train.id_dropout import check_features


@dataclass
class SearchSummary:
    output_dir: Path
    storage: str
    study_name: str
    trials_in_study: int
    completed_this_run: int
    interrupted_marked_failed: int
    seconds: float
    agreement: Agreement | None = None  # validation's two halves over the study's trained candidates


def start_ray(address: str | None) -> None:
    """Connect to the Ray cluster at ``address``; without one, start a local runtime of its own on
    every CPU of the machine, even where `ray start` left a cluster running. A search that finds Ray
    already running (started by this, or by its caller) uses it and leaves it running."""
    import ray

    ray.init(address=address or "local", include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, num_cpus=None if address else os.cpu_count())


def _teacher_label(teacher, features) -> str:
    """What every student records as its teacher (with the representation's width when it reads it)."""
    if teacher is None:
        return ""
    return teacher.name + (f" + {len(features.teacher)} representation features" if features.teacher else "")


def run_study(cfg: StudyConfig, show_progress: bool = True) -> SearchSummary:
    """Run one search invocation; on SQLite under the study's lock (one process at a time)."""
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    with search_lock(storage_url(cfg)):
        return _run_study(cfg, show_progress)


# seconds of budget.max_wall_minutes that may be left when Ray Tune's time budget ends a run (the search's, its confirmation's)
_CLOCK_SLACK_S = 5.0


def _run_study(cfg: StudyConfig, show_progress: bool) -> SearchSummary:
    started = time.perf_counter()

    def seconds_left() -> float:
        """What is left of budget.max_wall_minutes, which covers the whole invocation."""
        return cfg.budget.max_wall_minutes * 60 - (time.perf_counter() - started)
    out = cfg.output_dir
    presets = {name: get_preset(name) for name in cfg.search.presets}
    cache_dir = prepare_dataset(cfg.data, out / "cache")
    features = PreprocessState.model_validate_json((cache_dir / "preprocess.json").read_text()).feature_spec()
    check_features(cfg.train.id_dropout_features, features)  # before any trial, not in each
    for line in cold_validation_lines(unseen_shares(load_prepared(cache_dir))):
        print(line, flush=True)
    study = open_study_for_search(cfg)
    interrupted = recover_interrupted_trials(study)
    teacher, teacher_file = None, ""
    if cfg.search.distill is not None:  # its logits cached before any trial starts
        from unirank.search.teacher import prepare_teacher

        teacher, teacher_file, cache_dir = prepare_teacher(cfg, study, cache_dir)
        features = PreprocessState.model_validate_json((cache_dir / "preprocess.json").read_text()).feature_spec()
        print(f"distilling every candidate from {teacher.name} (train.distill_alpha {cfg.train.distill_alpha}"
              + (f"; its representation as {len(features.teacher)} input features" if features.teacher else "") + ")",
              flush=True)
    screened = None
    if cfg.search.screen is not None:
        from unirank.search.screening import screen_candidates

        screened = screen_candidates(study, cfg, SearchSpace(cfg.space, features), load_prepared(cache_dir),
                                     log=lambda line: print(line, flush=True), started=started)
    before = len(trial_records(study))

    import ray
    from ray import tune

    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    for name in ("ray", "ray.tune", "ray.train"):
        logging.getLogger(name).setLevel(logging.WARNING)
    started_ray = not ray.is_initialized()
    if started_ray:
        start_ray(cfg.search.address)
    cpus, gpus = ray.cluster_resources().get("CPU", 1), ray.cluster_resources().get("GPU", 0)
    if cfg.search.gpus_per_trial and gpus < cfg.search.gpus_per_trial:
        raise UnirankError(f"search.gpus_per_trial: {cfg.search.gpus_per_trial} GPU per trial, but the Ray "
                           f"cluster has {gpus:g} GPU(s); set it to 0 to train on CPUs")
    concurrency = cfg.search.concurrency(cpus, gpus)

    train = cfg.train.model_copy(update={"device": cfg.search.trial_device(cfg.train.device)})
    # the prepared data, for nodes that cannot read the driver's disk (search.shared_disk)
    several_nodes = sum(1 for node in ray.nodes() if node.get("Alive")) > 1
    sent = [*column_files(cache_dir), *([teacher_file] if teacher_file else []), "preprocess.json"]  # json last
    data_ref = (ray.put({name: (cache_dir / name).read_bytes() for name in sent})
                if cfg.search.shared_disk is False or several_nodes else None)
    setup = TrialSetup(cache_dir=str(cache_dir), trials_dir=str(out / "trials"),
                       driver_node=ray.get_runtime_context().get_node_id(),
                       shared_disk=cfg.search.shared_disk,
                       data_ref=data_ref, train=train.model_dump(mode="json"),
                       teacher_file=teacher_file, teacher=_teacher_label(teacher, features),
                       threads=cfg.train.threads or max(1, int(cfg.search.cpus_per_trial)))
    with SearchProgress(study, total=allowed_trials(cfg.budget, study), enabled=show_progress) as progress:
        searcher = OptunaArchSearcher(study, SearchSpace(cfg.space, features), features, cfg.budget, presets,
                                      cfg.search, on_change=progress.update,
                                      gate=screened.gate if screened is not None else None,
                                      train_defaults=cfg.train.model_dump(mode="json"), storage=storage_url(cfg),
                                      teacher=_teacher_label(teacher, features) or None)
        scheduler = None
        if cfg.search.scheduler == "asha":
            from ray.tune.schedulers import ASHAScheduler

            scheduler = ASHAScheduler(time_attr="epoch", metric="mean_ne", mode="min",
                                      max_t=cfg.train.max_epochs, grace_period=cfg.search.asha_grace_epochs,
                                      reduction_factor=cfg.search.asha_reduction_factor)
        tuner = tune.Tuner(
            tune.with_resources(tune.with_parameters(run_trial, setup=setup), cfg.search.resources()),
            tune_config=tune.TuneConfig(
                search_alg=searcher, scheduler=scheduler, num_samples=-1, max_concurrent_trials=concurrency,
                reuse_actors=True,  # keep trial workers (imports, cached tensors) between trials
                # the wall-clock budget covers the whole invocation (preprocessing, screening, trials)
                time_budget_s=max(1.0, seconds_left()) if cfg.budget.max_wall_minutes else None,
            ),
            run_config=tune.RunConfig(name=f"{cfg.study_name}-{time.strftime('%Y%m%d-%H%M%S')}",
                                      storage_path=str(out / "ray_results"), verbose=0,
                                      failure_config=tune.FailureConfig(max_failures=cfg.search.trial_retries)),
        )
        try:
            tuner.fit()
        finally:
            searcher.fail_unfinished("stopped before finishing (budget or interrupt)")
        # Ray Tune ends fit() quietly on Ctrl-C (SIGINT) once it has saved its state: a run that ends
        # before the searcher has said it is finished, and not by the wall-clock budget, was
        # interrupted, and says so (exit status 130) instead of reporting a finished search
        if not searcher.done and not (cfg.budget.max_wall_minutes and seconds_left() < _CLOCK_SLACK_S):
            raise KeyboardInterrupt
    if cfg.search.confirm is not None:
        from unirank.search.confirm import run_confirmation

        left = seconds_left() if cfg.budget.max_wall_minutes else None
        run_confirmation(study, cfg, setup, concurrency, left, teacher=searcher.teacher,
                         log=lambda line: print(line, flush=True))
    if started_ray:
        ray.shutdown()
    records = trial_records(study)
    return SearchSummary(out, storage_url(cfg), cfg.study_name, len(study.get_trials(deepcopy=False)),
                         len(records) - before, interrupted, time.perf_counter() - started,
                         validation_agreement(records))

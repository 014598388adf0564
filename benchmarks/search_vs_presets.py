"""Does the search beat the hand-designed presets, tuned? And the default sampler random search?

    python benchmarks/search_vs_presets.py [--data census movielens synthetic] [--seeds 5]
        [--trials 12] [--tune 4] [--top-presets 2] [--workers 2]
    python benchmarks/search_vs_presets.py --tag T … --tune-jobs FILE   (the same arguments as run T)
    python benchmarks/search_vs_presets.py --run-tune-jobs FILE [--workers N]
    python benchmarks/search_vs_presets.py --tag T --resume-from EARLIER [--drop-tuning] --trials N …
        (EARLIER's searches, resumed)

Per dataset (``studies/<study>.yaml``: data, split, widened space, training protocol; ``VARIANTS``
such as ``movielens_random``, the same study split at random, when named in ``--data``) and search
seed s:
1. **search**: ``unirank search`` with the study's default sampler, every preset trained first as
   an observation the sampler learns from (presets are points of the space), training
   hyperparameters searched with the architecture (``TRAIN_SPACES[--train-space]``; a space named in
   ``PROTOCOLS`` also changes the study's training protocol for every training of the run — searches,
   the presets' tunings, ``winners_retrained``), ``--trials`` searched candidates;
2. **random**: the same study with ``search.sampler=random`` and no presets, given the same
   wall-clock as (1) (``budget.max_wall_minutes``; at most 48 candidates);
3. **tuned presets**: the ``--top-presets`` presets with the best validation NE in (1) of seed 0,
   each tuned over the same training values with ``--tune`` trainings (seed s): the study's own
   values, then combinations drawn at random, distinct as they train (a weight decay too small to
   act is none, ``effective_train``; runs up to s20 told them apart as values); a preset's result
   is its best-validation training. With ``--tune-presets-in-search`` the presets are tuned inside
   each search instead (``search.tune_presets``: its ``--top-presets`` best presets, ``--tune``
   trainings each with the same draws, before the sampler's first proposal), so the search learns
   from the tuned presets and caps its candidates at the best one's MFLOPs, the one it is judged
   against. With ``--tune-finalists TOP TRIALS`` (``search.tune``) the
   search's last TRIALS candidates tune its TOP best architectures the same way
   (``--tune-finalists 2 6``: like the presets, four trainings per finalist;
   ``--searched-finalists``: no preset's architecture is a
   finalist, ``search.tune.presets: false``); ``--also-against TAG`` judges the winners against an
   earlier run's tuned presets as well (same seeds). Without ``--tune-finalists`` the searched side
   runs with the study's ``search.tune`` — from s24 on, the default tunes 2 finalists with the last
   third of the candidates (``unirank.config.default_tune``); random search never tunes;
4. the search's winner: its best validation NE among searched candidates with MFLOPs ≤ the best
   tuned preset's (by validation NE); with ``--confirm TOP SEEDS`` the finished study is run again
   with ``search.confirm`` and the winner is the lowest mean validation NE over its trainings
   (the search's own weights are the ones tested); both evaluated on the test split, which
   nothing else reads.
Verdicts: the winner beats the best tuned preset in a seed when its test NE is lower by more than
the seeds' std (larger of the two), and likewise for the mean pooled test AUC (higher) — also
reported: in how many seeds it is better by any margin, and the paired test-NE difference; the
default sampler beats random when the hypervolume of its front of everything it trained
(MFLOPs, mean validation NE; one reference point per dataset) is larger. Resumable: finished
units are kept under runs/benchmarks/search_vs_presets/<tag>/ and skipped when rerun; a search cut
short resumes its study (the random side, given a wall-clock, starts over). A run that moves
between machines (a lent GPU and back): ``--test-ahead K`` tests each search's K best candidates by
validation NE and its preset trials as soon as it ends, and ``--portable-state FILE`` (the run's
own arguments, ``--test-ahead`` included) tests every search the same way, ended or cut short, and
packs the folder without weights (run s49 on movielens_history, ~30 trainings a seed: 117 MB
compressed with them and Ray's logs, 1.7 MB for three seeds without); a search cut short resumes
from it, and its candidates trained later are tested when it ends. ``--only-seeds S …`` runs those
seeds' searches alone and stops (a run shared between machines; the whole run then reports).
``--first-seed K`` makes the search seeds K … K + ``--seeds`` − 1 instead of 0 … (the same command on
fresh seeds: the searches' samplers, the presets' tunings and ``winners_retrained``'s fresh seeds
all follow the search seed; its folders are search-K …).

The presets' tunings (step 3) need no study: once each dataset's first search seed has finished,
``--tune-jobs FILE`` (with the run's own arguments) writes the tunings still to do as JSON and
stops; ``--run-tune-jobs FILE`` runs them on any machine with this repository and the data (many
cores: ``--workers``), each result written under runs/…/<tag>/<data>/tuned/, which then travels
back beside the run; the run finds them there and tunes only what is missing.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (REPO, SHARED_DATA, Confirm, add_confirm_args, check_verdict_seeds,  # noqa: E402
                                confirm_from, machine, prepare_caches, read_jobs, test_metrics, train_and_test,
                                unirank_search, write_section, worker_pool)

RUNS = REPO / "runs" / "benchmarks" / "search_vs_presets"  # a run's folder: RUNS / tag
# where and how a trial ran is not one of its searched values: a retraining runs on the study's device
# (CPU, or UNIRANK_TRAIN_DEVICE's GPU in float32) from its own seed, whatever machine the search trained on
PLACEMENT = {"seed", "device", "precision"}
PRESETS = ["shared_bottom_mlp", "dlrm", "dcnv2", "deepfm", "autoint", "mmoe", "ple", "star"]
# the presets that read a behaviour history, for a study that has one (``--presets``)
SEQUENCE_PRESETS = ["din", "bst", "interformer"]
KNOWN_PRESETS = PRESETS + SEQUENCE_PRESETS
DATA = {"census": ("census.yaml", [f"data.path={SHARED_DATA / 'census_income' / 'census-income.test.gz'}"]),
        "movielens": ("movielens.yaml", [f"data.path={SHARED_DATA / 'movielens_100k'}"]),
        "synthetic": ("quickstart.yaml", [])}
# the same data split another way, run only when named (``--data``): MovieLens's study splits by
# time, and 82% of its validation rows come from users no training row has (cold users,
# benchmarks/cold_rows.py); a random split (BARS's MovieLens CTR data, FuxiCTR's benchmark, is split
# 7:2:1 at random) validates on the test's distribution. ``movielens_gap`` keeps the time split's
# test and validation rows but leaves out of training the 15% of rows just before validation: on
# the plain time split validation starts where training ends and the test 15% of the rows later;
# with the gap validation too starts a period after training, so what a model learnt of a user is
# validated, as it is tested, on that user's later ratings (``data.split.gap_fraction``)
VARIANTS = {"movielens_random": ("movielens.yaml", [*DATA["movielens"][1], "data.split.by=random"]),
            "movielens_gap": ("movielens.yaml", [*DATA["movielens"][1], "data.split.gap_fraction=0.15"]),
            # the same ratings and time split with each user's last 50 ratings before this one (movie,
            # genre, rating given) and the movie's genres: a cold user of the time split is cold to an
            # id but not to its own history (run with ``--presets … din bst interformer``)
            "movielens_history": ("movielens_history.yaml", DATA["movielens"][1])}
STUDIES = {**DATA, **VARIANTS}
# the training hyperparameters searched with the architecture (and tuned for the presets), ``--train-space``;
# regularised adds FuxiCTR's embedding L2 (train.embedding_l2) and a higher learning rate
TRAIN_SPACES = {
    "basic": {"lr": [0.0003, 0.001, 0.003], "weight_decay": [0.0, 1e-5, 1e-4], "batch_size": [256, 512, 1024]},
    "regularised": {"lr": [0.0003, 0.001, 0.003, 0.01], "weight_decay": [0.0, 1e-5, 1e-4],
                    "embedding_l2": [0.0, 1e-5, 5e-5, 2e-4], "batch_size": [256, 512, 1024]},
    # regularised with a weight decay that acts: AdamW multiplies weights by 1 - lr·wd per step, so
    # regularised's 1e-5 is exactly 0 in float32 at lr <= 0.001 (unirank.train.optim.decays) and 1e-4
    # moves them ~1e-7 a step; 0.01 is PyTorch's AdamW default, 0.1 the common strong setting
    "adamw": {"lr": [0.0003, 0.001, 0.003, 0.01], "weight_decay": [0.0, 0.01, 0.1],
              "embedding_l2": [0.0, 1e-5, 5e-5, 2e-4], "batch_size": [256, 512, 1024]},
}
# the same values searched, with a training protocol every training of the run follows (searches,
# the presets' tunings, winners_retrained): the study's ``train`` section changed by these
TRAIN_SPACES["regularised_evals4"] = TRAIN_SPACES["regularised"]
TRAIN_SPACES["calibrated"] = TRAIN_SPACES["regularised"]
TRAIN_SPACES["calibrated_evals1"] = TRAIN_SPACES["regularised"]
TRAIN_SPACES["calibrated_ema"] = TRAIN_SPACES["regularised"]
PROTOCOLS = {"regularised_evals4": {"evals_per_epoch": 4},
             # Platt scaling per portfolio on validation (train.calibrate), measured 4 times an epoch
             "calibrated": {"calibrate": True, "evals_per_epoch": 4},
             # the same scaling measured once an epoch, as every run before s25
             "calibrated_evals1": {"calibrate": True},
             # calibrated, measuring and keeping the weights' moving average (benchmarks/weight_average.py)
             "calibrated_ema": {"calibrate": True, "evals_per_epoch": 4, "ema_decay": 0.99}}
MAX_CANDIDATES = 48


# UNIRANK_TRAIN_DEVICE=cuda: every training of the run (searches, the presets' tunings,
# winners_retrained) on the machine's GPU, a search training two at a time on it
# (search.gpus_per_trial 0.5) as it does on two CPU cores, in float32 as on CPUs (not the bf16
# autocast `train.precision: auto` gives on a GPU); the protocol is otherwise the same.
# UNIRANK_GPU_SHARE: another share per trial, for several seeds' searches at once on one GPU
# (with --max-concurrent 2 each still proposes as on two CPU cores)
TRAIN_DEVICE = os.environ.get("UNIRANK_TRAIN_DEVICE", "cpu")
GPU_SHARE = float(os.environ.get("UNIRANK_GPU_SHARE", "0.5"))  # of the GPU, per search trial there
ON_CPU = " (trainings on CPU, one thread each)"


def _overrides(data: str, train_space: str = "basic") -> list[str]:
    device = [] if TRAIN_DEVICE == "cpu" else [f"train.device={TRAIN_DEVICE}", "train.precision=fp32",
                                               f"search.gpus_per_trial={GPU_SHARE}"]
    return [*STUDIES[data][1], *(f"space.train.{k}={json.dumps(v)}" for k, v in TRAIN_SPACES[train_space].items()),
            *(f"train.{k}={json.dumps(v)}" for k, v in PROTOCOLS.get(train_space, {}).items()), *device]


def _config(data: str, train_space: str = "basic", extra: tuple[str, ...] = ()):
    from unirank.config import load_config

    return load_config(REPO / "studies" / STUDIES[data][0], [*_overrides(data, train_space), *extra])


def _search(out: Path, data: str, seed: int, sampler: str | None, trials: int, presets: list[str],
            minutes: float | None, extra: tuple[str, ...] = (), confirm: tuple[int, int] | None = None,
            train_space: str = "basic") -> dict:
    """One ``unirank search`` unit; with ``confirm`` (top, seeds): the finished study of that unit
    run again with no new candidates and ``search.confirm``, so that only the confirmation trains."""
    done = out / ("done.json" if confirm is None else f"confirmed-{confirm.infix.removeprefix('_confirm')}.json")
    if done.is_file():
        return json.loads(done.read_text())
    if confirm is None and (minutes or not (out / "study.json").is_file()):
        shutil.rmtree(out, ignore_errors=True)  # a budget of candidates cut short resumes its study; a clock starts over
    sets = [*_overrides(data, train_space), f"output.dir={out}", f"search.seed={seed}",
            f"search.presets={json.dumps(presets)}",
            f"budget.trials={trials if confirm is None else 0}", f"budget.total_trials={trials}",
            "search.cpus_per_trial=1"]
    if sampler:
        sets.append(f"search.sampler={sampler}")
    if minutes:
        sets.append(f"budget.max_wall_minutes={minutes:.2f}")
    if confirm is not None:
        sets.append(confirm.override)
    sets.extend(extra)
    started = time.perf_counter()
    unirank_search(f"studies/{STUDIES[data][0]}", sets, str(out))
    result = {"seconds": time.perf_counter() - started, "machine": _training_machine()}
    done.write_text(json.dumps(result))
    return result


def _machines(folder: Path) -> set[str]:
    """The machines the search units of a dataset ran on (from their done files)."""
    lines = {json.loads(p.read_text()).get("machine", "not recorded (before this field)")
             for p in folder.glob("*/done.json")}
    older = {True: " (trainings on the GPU or CPU: not recorded)", False: ON_CPU}
    return {line if "trainings on" in line else line + older["GPU" in line] for line in lines} or {"not run"}


def _training_machine() -> str:
    """This machine and where its trainings run; a search moved between machines records the last."""
    return machine() + (ON_CPU if TRAIN_DEVICE == "cpu"
                        else f" (trainings on {TRAIN_DEVICE}, float32, {GPU_SHARE:g} of it each)")


def _confirmed_winner(out: Path, max_mflops: float, confirm: Confirm):
    """The searched candidate with the lowest confirmed mean validation objective at ≤ ``max_mflops``,
    among the candidates ``confirm``'s rule chose: a study confirmed under both rules (``per``)
    holds the other rule's confirmations too, which a fresh run with this one would not have."""
    from unirank.config import ConfirmConfig
    from unirank.search.confirm import chosen, complete, confirmed
    from unirank.search.study import open_study_from_dir

    study, cfg = open_study_from_dir(out)
    rule = ConfirmConfig(top=confirm.top, seeds=confirm.seeds, per=confirm.per)
    cfg = cfg.model_copy(update={"search": cfg.search.model_copy(update={"confirm": rule})})
    picked = {r.number for r in chosen(study, cfg)}
    rows = [c for c in complete(confirmed(study, cfg), cfg) if c.record.number in picked]
    return next((c for c in rows if not c.record.preset and c.record.mflops <= max_mflops), None)


def _winner(out: Path, max_mflops: float, confirm: Confirm | None = None):
    """(record, validation NE) of a search unit's winner: its searched candidate with the best
    validation NE at ≤ ``max_mflops`` — with ``confirm``, the lowest confirmed mean instead; None
    when no searched candidate fits."""
    eligible = [r for r in _records(out) if r.preset is None and r.mflops <= max_mflops]
    pick = min(eligible, key=lambda r: r.mean_ne) if eligible else None
    ne = pick.mean_ne if pick else None
    if confirm:  # the lowest mean over the confirmation's trainings (validation only)
        confirmed = _confirmed_winner(out, max_mflops, confirm)
        pick, ne = (confirmed.record, confirmed.mean_ne) if confirmed else (pick, ne)
    return (pick, ne) if pick else None


def preset_arch(record) -> str | None:
    """The preset whose architecture a searched candidate has (proposed again with other training
    values: by ``search.tune``, which retrains the best architectures so far, presets included
    unless ``search.tune.presets`` is false, or by the sampler), or None."""
    from unirank.space import PRESETS as ARCHS

    arch = record.arch.to_dict()
    return next((name for name, spec in ARCHS.items() if spec.to_dict() == arch), None)


def arch_note(preset: str | None) -> str:
    """What follows a winner's name in a table when it has a preset's architecture."""
    return f" ({preset}'s architecture)" if preset else ""


def best_presets(tuned: Path, seeds: list[int]) -> dict:
    """Per seed, the tuned preset with the best validation NE (a folder of ``<preset>-<seed>.json``)."""
    return {s: min((json.loads(p.read_text()) for p in tuned.glob(f"*-{s}.json")), key=lambda r: r["ne"])
            for s in seeds}


def _records(out: Path) -> list:
    from unirank.search.study import open_study_from_dir, trial_records

    study, _ = open_study_from_dir(out)
    return [r for r in trial_records(study) if r.same_as_trial is None]


def _dropped_dense(out: Path) -> int | None:
    """Searched candidates of the study that dropped the dense features (``keep_group_dense``);
    None when the space does not select feature groups."""
    from unirank.search.study import open_study_from_dir

    study, _ = open_study_from_dir(out)
    keep = [t.params["keep_group_dense"] for t in study.trials  # trained ones (not those refused untrained)
            if "keep_group_dense" in t.params and not t.user_attrs.get("preset") and t.state.name == "COMPLETE"
            and not t.user_attrs.get("infeasible") and "same_as_trial" not in t.user_attrs]
    return sum(not k for k in keep) if keep else None


def _test_metrics(out: Path, record, redo: bool = False) -> dict:
    """A trial's (``record``, of search unit ``out``) stored weights evaluated on the test split, kept in
    ``export/trial-N/test_metrics.json`` so that a rerun elsewhere — without the weights — reports the
    same figures. Without weights or stored figures: an error, or with ``redo`` (``--redo-untested``,
    for winners) its search training done again on this machine and tested, marked ``redone``."""
    dest = out / "export" / f"trial-{record.number}" / "test_metrics.json"
    if dest.is_file():
        return json.loads(dest.read_text())
    from unirank.export.bundle import weights_in
    from unirank.models import build_model
    from unirank.search.study import open_study_from_dir
    from unirank.train.checkpoint import load_weights

    weights = weights_in(out, record.weights)
    if (not weights or not weights.is_file()) and not redo:
        raise SystemExit(f"search_vs_presets: {out} trial {record.number}: weights missing ({record.weights}) and no "
                         "test_metrics.json beside them (a folder packed by --portable-state before it was tested; "
                         "--redo-untested trains it again here)")
    if not weights or not weights.is_file():  # its search training done again on this machine, then tested
        cfg = open_study_from_dir(out)[1]
        train = {k: v for k, v in record.train.items() if k not in PLACEMENT}
        result = train_and_test(cfg, record.arch, out / "cache", cfg.train.seed, **train)
        metrics = {"test_ne": result["test_ne"], "test_auc": result["test_auc"], "redone": _training_machine()}
    else:
        dataset = _unit_data(out)
        metrics = test_metrics(load_weights(build_model(record.arch, dataset.features), weights).eval(), dataset)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(metrics))
    return metrics


@functools.lru_cache(maxsize=2)
def _unit_data(out: Path):
    """A search unit's prepared data (its own cache under this version's key: same file, same config,
    the same preprocessing state as its trials)."""
    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.search.study import open_study_from_dir

    return load_prepared(prepare_dataset(open_study_from_dir(out)[1].data, out / "cache"))


def _test_ahead(out: Path, records: list, top: int) -> None:
    """``--test-ahead``: the test metrics of the ``top`` searched candidates with the best validation
    NE and of every preset trial, kept beside where their bundles go as soon as the search ends (the
    winner is still chosen on validation alone, later); the run's folder then reports without the
    weights (``--portable-state``). A candidate outside the ``top`` never enters it later (its value
    is final), so testing a search cut short now and its later candidates when it ends covers it."""
    ranked = sorted((r for r in records if r.preset is None), key=lambda r: r.mean_ne)[:top]
    for record in [*ranked, *(r for r in records if r.preset is not None)]:
        _test_metrics(out, record)


def portable_state(root: Path, into: Path, test_ahead: int = 0) -> None:
    """``--portable-state FILE``: the run's folder as a .tar.gz without what neither its report nor
    a resumed search reads: data caches and Ray's logs everywhere; in a search unit that was tested
    ahead its weights and exported bundles too, test_metrics.json kept. With ``--test-ahead K`` every
    unit, ended or cut short, is tested ahead first (its K best so far and its presets), so none keeps
    weights; without it only units that ended and were tested do."""
    import tarfile

    units = sorted(db.parent for db in root.rglob("study.db"))
    for unit in units if test_ahead else ():
        _test_ahead(unit, _records(unit), test_ahead)
    tested = {unit.relative_to(REPO) for unit in units if any(unit.glob("export/*/test_metrics.json"))
              and (test_ahead or (unit / "done.json").is_file())}

    def keep(info: tarfile.TarInfo):
        name = Path(info.name)
        if {"cache", "ray_results"} & set(name.parts):
            return None
        if info.isfile() and any(unit in name.parents for unit in tested) and (
                name.suffix in (".safetensors", ".pt2") or "export" in name.parts and name.name != "test_metrics.json"):
            return None
        return info

    with tarfile.open(into, "w:gz") as tar:
        tar.add(root, arcname=str(root.relative_to(REPO)), filter=keep)


# how presets are tuned; --tuned-from refuses tunings made otherwise (before s17: TPE with two random
# draws first, which re-proposed a point it had trained in 93 of 100 4-training tunings simulated ad
# hoc with random objective values over the regularised values — fewer distinct trainings than said;
# s17–s20: distinct as values, so two draws could differ by a weight decay too small to act and be
# one training, as the search's finalists, tuned by `search.tune`, never are)
TUNER = "study's values, then random draws distinct as they train"


def _tune(job: tuple) -> dict:
    """One preset's training hyperparameters tuned over ``TRAIN_SPACES[space]`` with ``n`` trainings:
    the study's own values, then combinations drawn at random (seeded), distinct as they train — what
    ``search.tune`` does for the search's finalists."""
    data, name, seed, n, dest, space = job
    train_space = TRAIN_SPACES[space]
    if Path(dest).is_file():
        return json.loads(Path(dest).read_text())
    import torch

    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.models import build_model
    from unirank.proxies.cost import measure_cost
    from unirank.search.finalists import tuning_draws
    from unirank.space import PRESETS as ARCHS
    from unirank.train import fit, seed_everything

    torch.set_num_threads(1)
    cfg = _config(data, space)
    dataset = load_prepared(prepare_dataset(cfg.data, Path(dest).parent.parent / "cache"))
    own = {k: cfg.train.model_dump()[k] for k in train_space}
    started, runs = time.perf_counter(), []
    # the draws search.tune_presets makes for the same preset and seed (--tune-presets-in-search)
    for values in tuning_draws(ARCHS[name].to_dict(), own, train_space, n, f"{name}-{seed}"):
        seed_everything(seed)
        model = build_model(ARCHS[name], dataset.features)
        result = fit(model, dataset, cfg.train.model_copy(update={**values, "seed": seed}))
        runs.append({"train": values, "ne": result.val.mean_ne, **test_metrics(model, dataset)})
    best = min(runs, key=lambda r: r["ne"])
    out = {**best, "preset": name, "seed": seed, "mflops": measure_cost(ARCHS[name], dataset.features).mflops,
           "tried": len(runs), "tuner": TUNER, "runs": runs, "seconds": time.perf_counter() - started,
           "machine": machine()}
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    Path(dest).write_text(json.dumps(out))
    return out


# how presets are tuned with --tune-presets-in-search: inside each search, before its first proposal
TUNER_IN_SEARCH = ("search.tune_presets: in each search before its first proposal, the study's values, then "
                   "random draws distinct as they train (those of the tuner before it)")


def _tuned_in_search(out: Path, seed: int, dest: Path) -> list[dict]:
    """The presets ``search.tune_presets`` tuned in search unit ``out``, as ``_tune`` writes them
    (``dest/<preset>-<seed>.json``; the best training's test metrics from its stored weights)."""
    records = [r for r in _records(out) if r.preset]
    results = []
    for name in sorted({r.preset for r in records if r.preset_tuning}):
        path = dest / f"{name}-{seed}.json"
        if not path.is_file():
            runs = sorted((r for r in records if r.preset == name), key=lambda r: r.preset_tuning or 0)
            best = min(runs, key=lambda r: r.mean_ne)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({
                "train": best.train, "ne": best.mean_ne, **_test_metrics(out, best), "preset": name,
                "seed": seed, "mflops": best.mflops, "tried": len(runs), "tuner": TUNER_IN_SEARCH, "trial": best.number,
                "runs": [{"train": r.train, "ne": r.mean_ne, "trial": r.number} for r in runs],
                "machine": json.loads((out / "done.json").read_text())["machine"]}))
        results.append(json.loads(path.read_text()))
    return results


def _pool_line(folder: Path, best: dict, args) -> str:
    """The summary line on where each search aimed and what it had to choose from: its own capped
    target (the study's ``target_mflops_source``) and its trained searched candidates at no more
    MFLOPs than the best tuned preset (the winner's pool); empty without a capped target."""
    from unirank.search.study import open_study_from_dir

    if args.over_target != "infeasible":
        return ""
    sources, pools = [], []
    for s in args.seed_list:
        study, _ = open_study_from_dir(folder / f"search-{s}")
        sources.append(study.user_attrs.get("target_mflops_source", "none recorded"))
        pools.append(sum(r.preset is None and r.mflops <= best[s]["mflops"] for r in _records(folder / f"search-{s}")))
    return (f"- the cap each search aimed at (its target): {'; '.join(sources)}; its trained searched candidates at "
            f"no more MFLOPs than the best tuned preset (those the winner is chosen from), per seed: "
            f"{', '.join(map(str, pools))}\n")


def _top_presets(data: str, args, root: Path) -> list[str]:
    """The ``--top-presets`` presets by validation NE with the study's training values in the first search seed."""
    preset_ne = {r.preset: r.mean_ne for r in _records(root / data / f"search-{args.seed_list[0]}") if r.preset}
    return sorted(preset_ne, key=preset_ne.get)[:args.top_presets]


def _tune_jobs(data: str, top: list[str], args, root: Path) -> list[tuple]:
    """``_tune``'s jobs of a dataset: (data, preset, seed, trainings, destination, train space)."""
    return [(data, name, s, args.tune, str(root / data / "tuned" / f"{name}-{s}.json"), args.train_space)
            for name in top for s in args.seed_list]


def write_tune_jobs(path: Path, args, root: Path) -> None:
    """The preset tunings still to do, as JSON (destinations relative to the repository), for
    ``--run-tune-jobs`` on another machine; needs each dataset's first search seed (its presets' NE)."""
    todo = []
    for data in args.data:
        first = root / data / f"search-{args.seed_list[0]}"
        if not (first / "done.json").is_file():
            raise SystemExit(f"search_vs_presets: --tune-jobs: {first} has not finished "
                             "(its presets' validation NE chooses the presets to tune)")
        todo += [{"data": d, "preset": name, "seed": s, "trainings": n, "space": space,
                  "dest": str(Path(dest).relative_to(REPO))}
                 for d, name, s, n, dest, space in _tune_jobs(data, _top_presets(data, args, root), args, root)
                 if not Path(dest).is_file()]
    path.write_text(json.dumps(todo))
    print(f"{len(todo)} preset tunings to do written to {path}")


def run_tune_jobs(path: Path, workers: int) -> None:
    """The tunings of a ``--tune-jobs`` file, ``workers`` at a time, each written to its destination
    under this repository (which then travels back beside the run); data caches prepared first."""
    entries = read_jobs(path, "--run-tune-jobs", "--tune-jobs", {"data", "preset", "seed", "trainings", "space", "dest"},
                        lambda j: j["data"] in STUDIES and j["space"] in TRAIN_SPACES and j["preset"] in KNOWN_PRESETS,
                        "a known data, train space and preset")
    jobs = [(j["data"], j["preset"], j["seed"], j["trainings"], str(REPO / j["dest"]), j["space"]) for j in entries]
    prepare_caches((_config(j[0], j[5]).data, Path(j[4]).parent.parent / "cache") for j in jobs
                   if not Path(j[4]).is_file())
    with worker_pool(workers) as pool:
        for done, out in enumerate(pool.map(_tune, jobs), 1):
            print(f"{done}/{len(jobs)} {out['preset']} seed {out['seed']}: val NE {out['ne']:.4f} "
                  f"({out['seconds']:.0f} s)", flush=True)


def _verdicts(presets: dict, winners: dict) -> tuple[float, float, dict]:
    """(test-NE margin, test-AUC margin, {seed: (beats in NE, beats in AUC)}): a winner beats the
    best tuned preset when it is better by more than the seeds' std (the larger of the two sides')."""
    found = [w for w in winners.values() if w]
    spread_ne = max(statistics.stdev([b["test_ne"] for b in presets.values()]),
                    statistics.stdev([w["test_ne"] for w in found]) if len(found) > 1 else 0.0)
    spread_auc = max(statistics.stdev([b["test_auc"] for b in presets.values()]),
                     statistics.stdev([w["test_auc"] for w in found]) if len(found) > 1 else 0.0)
    return spread_ne, spread_auc, {s: (bool(w) and presets[s]["test_ne"] - w["test_ne"] > spread_ne,
                                       bool(w) and w["test_auc"] - presets[s]["test_auc"] > spread_auc)
                                   for s, w in winners.items()}


def _against(tuned: Path, winners: dict, seeds: list[int], tag: str) -> str:
    """The summary line of the same winners judged against another run's tuned presets."""
    best = best_presets(tuned, seeds)
    spread_ne, spread_auc, beats = _verdicts(best, winners)
    # a winner above that run's best preset's MFLOPs is not at "no more MFLOPs": no verdict
    fits = {s: bool(winners[s]) and winners[s]["mflops"] <= best[s]["mflops"] for s in seeds}
    return (f"- judged against the presets tuned in run `{tag}` instead (best per seed by validation NE: "
            + ", ".join(f"{b['preset']} {b['test_ne']:.4f}" for b in best.values())
            + f"; tuned by: {best[seeds[0]].get('tuner', 'TPE, two random draws first')}): the winner beats it by more "
            f"than the seeds' std (test NE {spread_ne:.4f}, test AUC {spread_auc:.4f}) in test NE in "
            f"{sum(beats[s][0] and fits[s] for s in seeds)} of {len(seeds)} seeds, pooled test AUC in "
            f"{sum(beats[s][1] and fits[s] for s in seeds)} of {len(seeds)}\n")


def _default_tune_note(search: Path, args) -> str:
    """A line when the searched side ran with the study's default ``search.tune`` (no
    ``--tune-finalists``; ``unirank.config.default_tune``), read from the study it made."""
    from unirank.search.study import open_study_from_dir

    tune = open_study_from_dir(search)[1].search.tune
    if args.tune_finalists or tune is None:
        return ""
    return (f"\n- finalists tuned by the study's default `search.tune` (left out): the last {tune.trials} of the "
            f"{args.trials} searched candidates retrain the {tune.top} best architectures with other training values")


def _resume_from(earlier: str, data: str, root: Path, seeds: list[int], drop_tuning: bool = False) -> None:
    """``--resume-from``: run ``earlier``'s finished searches of ``data`` copied under this run's
    folder (with their retrainings, which this run's identical models reuse) and marked unfinished,
    so that each resumes its study up to ``--trials`` candidates; once only (a copy already there is
    the run's own, resumed or resuming). With ``drop_tuning`` each copy keeps only what ``earlier``
    searched before its finalist tuning (``_drop_tuning``)."""
    source = RUNS / earlier / data
    if (root / data).exists():
        return
    missing = [s for s in seeds if not (source / f"search-{s}" / "done.json").is_file()]
    if missing:
        raise SystemExit(f"search_vs_presets: --resume-from {earlier}: {source} has no finished search of "
                         f"seed(s) {', '.join(map(str, missing))}")
    saved = ({s: json.loads((source / f"search-{s}" / "study.json").read_text()) for s in seeds}
             if drop_tuning else {})  # the study each copy is cut back to
    untuned = [s for s in saved if not saved[s]["config"]["search"].get("tune")]
    if untuned:  # checked before anything is copied
        raise SystemExit(f"search_vs_presets: --drop-tuning: {source}'s search of seed(s) "
                         f"{', '.join(map(str, untuned))} tuned no finalists (no search.tune in its study.json)")
    shutil.copytree(source, root / data, ignore=shutil.ignore_patterns("random-*"))
    for s in seeds:  # the resumed search writes its study.json anew (storage: the copy's database)
        if drop_tuning:
            _drop_tuning(root / data / f"search-{s}", saved[s])
        (root / data / f"search-{s}" / "done.json").unlink()


def _drop_tuning(folder: Path, saved: dict) -> None:
    """The copied study of ``folder`` cut back to the trials its run proposed before ``search.tune``
    began (the searcher tunes once it has launched ``budget.total_trials - search.tune.trials``
    searched candidates; Optuna numbers trials as they are proposed), with the dropped trials'
    folders: a prefix of the run, which resumed to ``--trials`` is a fresh run of that budget that
    tunes its finalists once, at its end (the sampler's proposals do not depend on the budget).
    ``saved``: the earlier run's study.json of that search (its ``search.tune`` checked by
    ``_resume_from``)."""
    import optuna

    from unirank.search.searcher import searched_candidate

    searched = saved["config"]["budget"]["total_trials"] - saved["config"]["search"]["tune"]["trials"]
    storage = optuna.storages.RDBStorage(f"sqlite:///{folder / 'study.db'}")
    study = optuna.load_study(study_name=saved["study_name"], storage=storage)
    trials = study.get_trials(deepcopy=False)
    launched = [t.number for t in trials if searched_candidate(t)]  # as trained_count counts, any end
    cut = launched[searched] if len(launched) > searched else len(trials)
    kept = [t for t in trials if t.number < cut]
    fresh = folder / "study.db.prefix"
    fresh.unlink(missing_ok=True)
    target = optuna.storages.RDBStorage(f"sqlite:///{fresh}")
    prefix = optuna.create_study(storage=target, study_name=saved["study_name"], directions=study.directions)
    for key, value in study.user_attrs.items():
        prefix.set_user_attr(key, value)
    for key, value in storage.get_study_system_attrs(storage.get_study_id_from_name(saved["study_name"])).items():
        target.set_study_system_attr(target.get_study_id_from_name(saved["study_name"]), key, value)
    prefix.add_trials(kept)  # numbered 0, 1, … in order: the same numbers as before
    fresh.replace(folder / "study.db")
    for t in trials[len(kept):]:
        shutil.rmtree(folder / "trials" / f"{t.number:05d}", ignore_errors=True)


def _resumed_note(args) -> str:
    """The header's sentence on ``--resume-from`` (and ``--drop-tuning``); empty without it."""
    if not args.resume_from:
        return ""
    tuning = args.tune_finalists[1] if args.tune_finalists else None
    if args.drop_tuning:
        return (f" The searches are run `{args.resume_from}`'s, resumed without its finalist tuning (`--resume-from "
                f"{args.resume_from} --drop-tuning`): each study kept the candidates `{args.resume_from}` searched "
                f"before `search.tune` began and continued to {args.trials} searched candidates, the last "
                f"{tuning or 'few'} tuning the finalists — the budget and order of a fresh run of as many candidates.")
    return (f" The searches are run `{args.resume_from}`'s, resumed (`--resume-from {args.resume_from}`): each "
            f"finished study continued to {args.trials} searched candidates, and `search.tune` took the last "
            f"{tuning or 'candidates'} of each of the two runs.")


def run(data: str, args, root: Path) -> str:
    from unirank.search.pareto import hypervolume_2d

    searched, randoms = {}, {}
    # the same for both sides (searched and random): trials at once and the --set overrides
    both = (*((f"search.max_concurrent={args.max_concurrent}",) if args.max_concurrent else ()), *args.set)
    extra = tuple(f"search.{k}={v}" for k, v in (("sampler", args.sampler), ("objective", args.objective),
                                                  ("over_target", args.over_target)) if v)
    if args.tune_finalists:  # the searched side only: random search has no finalists to tune
        extra += (f"search.tune={{top: {args.tune_finalists[0]}, trials: {args.tune_finalists[1]}"
                  f"{', presets: false' if args.searched_finalists else ''}}}",)
    if args.tune_presets_in_search:  # the searched side's presets tuned first: the baseline, and its observations
        extra += (f"search.tune_presets={{top: {args.top_presets}, trainings: {args.tune}}}",)
    extra += both

    if args.resume_from:
        _resume_from(args.resume_from, data, root, args.seed_list, args.drop_tuning)

    def one_seed(s: int) -> None:
        print(f"[{data}] seed {s}: search ({args.sampler or 'default sampler'}, presets as observations) …", flush=True)
        t = _search(root / data / f"search-{s}", data, s, None, args.trials, args.presets, None, extra,
                    train_space=args.train_space)
        if args.confirm:
            print(f"[{data}] seed {s}: confirmation of the best candidates ({args.confirm[1]} more seeds) …", flush=True)
            _search(root / data / f"search-{s}", data, s, None, args.trials, args.presets, None, extra,
                    confirm=args.confirm, train_space=args.train_space)
        searched[s] = _records(root / data / f"search-{s}")
        if args.test_ahead:
            _test_ahead(root / data / f"search-{s}", searched[s], args.test_ahead)
        if args.random:
            print(f"[{data}] seed {s}: random search, same wall-clock ({t['seconds'] / 60:.1f} min) …", flush=True)
            _search(root / data / f"random-{s}", data, s, "random", MAX_CANDIDATES, [], t["seconds"] / 60, both,
                    train_space=args.train_space)
            randoms[s] = _records(root / data / f"random-{s}")
        else:
            randoms[s] = []

    import threading
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()  # set by a failed or interrupted seed: the queued seeds do not start

    def unit(s: int) -> None:
        if stop.is_set():
            return
        try:
            one_seed(s)
        except BaseException:
            stop.set()
            raise

    with ThreadPoolExecutor(args.parallel) as threads:  # each unit is a `unirank search` subprocess
        list(threads.map(unit, args.only_seeds if args.only_seeds is not None else args.seed_list))
    if args.only_seeds is not None:  # a share of the run: the rest, the tunings and the report come later
        return ""
    top = _top_presets(data, args, root)
    if args.tune_presets_in_search:
        tuned = [t for s in args.seed_list for t in _tuned_in_search(root / data / f"search-{s}", s, root / data / "tuned")]
        top = sorted({t["preset"] for t in tuned})
    elif args.tuned_from:  # the same tuning (seeds, training values, split) of an earlier run: reused
        tuned_from = RUNS / args.tuned_from / data / "tuned"
        (root / data / "tuned").mkdir(parents=True, exist_ok=True)
        top = sorted({p.name.rsplit("-", 1)[0] for p in tuned_from.glob("*.json")})
        for p in tuned_from.glob("*.json"):
            earlier = json.loads(p.read_text())
            if set(earlier["train"]) != set(TRAIN_SPACES[args.train_space]):
                raise SystemExit(f"search_vs_presets: {p} was tuned over other training values than "
                                 f"--train-space {args.train_space}'s")
            if earlier.get("tuner") != TUNER:
                raise SystemExit(f"search_vs_presets: {p} was tuned otherwise (TPE, which repeats points) "
                                 f"than this version ({TUNER})")
            shutil.copyfile(p, root / data / "tuned" / p.name)
    if not args.tune_presets_in_search:
        jobs = _tune_jobs(data, top, args, root)
        print(f"[{data}] tuning presets {', '.join(top)}: {len(jobs)} searches of {args.tune} trainings", flush=True)
        with worker_pool(args.workers) as pool:
            tuned = list(pool.map(_tune, jobs))
    rows, wins_ne, wins_auc, wins_hv, wins_own = [], 0, 0, 0, 0
    best = {s: min((r for r in tuned if r["seed"] == s), key=lambda r: r["ne"]) for s in args.seed_list}
    winners = {}
    for s in args.seed_list:
        won = _winner(root / data / f"search-{s}", best[s]["mflops"], args.confirm)
        winners[s] = ({"trial": won[0].number, "ne": won[1], "mflops": won[0].mflops,
                       "preset_arch": preset_arch(won[0]),
                       "dropped": list(won[0].arch.embedding.dropped),
                       **_test_metrics(root / data / f"search-{s}", won[0], redo=args.redo_untested)} if won else None)
    every = [(r.mflops, r.mean_ne) for rs in (*searched.values(), *randoms.values()) for r in rs]
    reference = (1.05 * max(p[0] for p in every), 1.05 * max(p[1] for p in every))
    hv = {s: (hypervolume_2d([(r.mflops, r.mean_ne) for r in searched[s]], reference),
              hypervolume_2d([(r.mflops, r.mean_ne) for r in randoms[s]], reference),
              hypervolume_2d([(r.mflops, r.mean_ne) for r in searched[s] if r.preset is None], reference))
          for s in args.seed_list} if args.random else {}
    spread_ne, spread_auc, beats = _verdicts(best, winners)
    for s in args.seed_list:
        b, w = best[s], winners[s]
        beat_ne, beat_auc = beats[s]
        wins_ne, wins_auc = wins_ne + beat_ne, wins_auc + beat_auc
        if hv:
            wins_hv, wins_own = wins_hv + (hv[s][0] > hv[s][1]), wins_own + (hv[s][2] > hv[s][1])
        searched_n = sum(r.preset is None for r in searched[s])
        rows.append(f"| {s} | {b['preset']} ({b['train']}) | {b['ne']:.4f} | {b['test_ne']:.4f} | {b['test_auc']:.4f} | "
                    f"{b['mflops']:.4f} | "
                    + (f"trial {w['trial']}{arch_note(w['preset_arch'])} | {w['ne']:.4f} | {w['test_ne']:.4f} | {w['test_auc']:.4f} | {w['mflops']:.4f} | "
                       if w else "none ≤ preset MFLOPs | | | | | ")
                    + f"{'yes' if beat_ne else 'no'} / {'yes' if beat_auc else 'no'} | "
                    + (f"{hv[s][0]:.4f} ({hv[s][2]:.4f}) vs {hv[s][1]:.4f} ({searched_n} vs {len(randoms[s])} searched) |"
                       if hv else f"not run ({searched_n} searched) |"))
    head = ("| seed | best tuned preset (training values) | val NE | test NE | test pooled AUC | MFLOPs | "
            "search winner | val NE | test NE | test pooled AUC | MFLOPs | beats: test NE / AUC | "
            f"hypervolume: {args.sampler or 'default'} sampler (its searched candidates alone) vs random |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    paired = [(best[s], winners[s]) for s in args.seed_list if winners[s]]
    diffs = [w["test_ne"] - b["test_ne"] for b, w in paired]
    dropped = [_dropped_dense(root / data / f"search-{s}") for s in args.seed_list]
    summary = ((f"- the winner's test NE is lower than the best tuned preset's (any margin) in "
                f"{sum(d < 0 for d in diffs)} of {args.seeds} seeds, its validation NE in "
                f"{sum(w['ne'] < b['ne'] for b, w in paired)} of {args.seeds}; paired test-NE difference "
                f"{statistics.mean(diffs):+.4f} ± {statistics.stdev(diffs) if len(diffs) > 1 else 0.0:.4f}\n"
                if diffs else "")
               + ("- trained again from its search seed and training values on this machine for its test (its "
                  "search weights were not kept; one training's test figures are this training's): "
                  + ", ".join(f"seed {s} trial {winners[s]['trial']} ({winners[s]['redone']})" for s in args.seed_list
                              if winners[s] and winners[s].get("redone")) + "\n"
                  if any(w and w.get("redone") for w in winners.values()) else "")
               + (f"- winners with a preset's architecture (proposed again with other training values, by "
                  f"{'the sampler' if args.searched_finalists else '`search.tune` or the sampler'}): "
                  f"{sum(bool(w['preset_arch']) for _, w in paired)} of {args.seeds}\n" if args.tune_finalists else "")
               + ("- features the winner dropped: "
                  + "; ".join(f"seed {s}: {', '.join(w['dropped']) or 'none'}" for s, w in winners.items() if w) + "\n"
                  if any(w and w["dropped"] for w in winners.values()) else "")
               + _pool_line(root / data, best, args)
               + (f"- searched candidates that dropped the dense features, per seed: "
                  f"{', '.join(str(d) for d in dropped)} (of {args.trials})\n" if None not in dropped else "")
               + f"- the search's winner beats the best tuned preset by more than the seeds' std (test NE "
               f"{spread_ne:.4f}, test AUC {spread_auc:.4f}) at no more MFLOPs: test NE in {wins_ne} of "
               f"{args.seeds} seeds, pooled test AUC in {wins_auc} of {args.seeds}\n"
               + (_against(root.parent / args.also_against / data / "tuned", winners, args.seed_list, args.also_against)
                  if args.also_against else "")
               + (f"- the {args.sampler or 'default'} sampler's front hypervolume (everything it trained, presets included) beats random "
                  f"search's (same wall-clock) in {wins_hv} of {args.seeds} seeds; counting only its searched candidates, "
                  f"in {wins_own} of {args.seeds}\n" if hv else "- random search not run (`--no-random`)\n")
               + (f"- presets tuned: {', '.join(top)} (in each search, `search.tune_presets`: its best "
                  f"{args.top_presets} by validation NE with the study's training values), {args.tune} trainings "
                  "each per seed, before the sampler's first proposal; the capped target is the best of them"
                  if args.tune_presets_in_search else
                  f"- presets tuned: {', '.join(top)} (the best {args.top_presets} by validation NE "
                  f"with the study's training values, seed {args.seed_list[0]}), {args.tune} trainings each per seed")
               + (f" (the tunings of run `{args.tuned_from}`, reused)" if args.tuned_from else "")
               + _default_tune_note(root / data / f"search-{args.seed_list[0]}", args)
               + "\n- presets tuned on: " + "; ".join(sorted({t.get("machine", "not recorded (before this field)")
                                                              for t in tuned}))
               + f"\n- searches ran on: {'; '.join(sorted(_machines(root / data)))}")
    return f"### {data}\n\n{head}\n" + "\n".join(rows) + "\n\n" + summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(STUDIES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, metavar="K",
                        help="the search seeds are K … K + --seeds − 1 (a run on fresh seeds; default 0)")
    parser.add_argument("--trials", type=int, default=12, help="searched candidates of the default sampler")
    parser.add_argument("--tune", type=int, default=4, help="trainings per tuned preset per seed")
    parser.add_argument("--top-presets", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--presets", nargs="+", default=PRESETS, choices=KNOWN_PRESETS)
    parser.add_argument("--tag", help="the run's name (its folder and its own section); default: today's date")
    parser.add_argument("--sampler", choices=["tpe", "tpe_hv", "nsga2", "random", "gp", "predictor", "evolution", "local",
                                                  "tpe_local"],
                        help="the searched side's sampler (default: the study's)")
    parser.add_argument("--objective", choices=["pareto", "scalarized"], help="default: the study's")
    parser.add_argument("--over-target", choices=["penalize", "infeasible"],
                        help="search.over_target with the scalarised objective (infeasible: an iso-FLOPs search)")
    parser.add_argument("--max-concurrent", type=int, help="trials at once per search")
    parser.add_argument("--parallel", type=int, default=1, help="search seeds run at once")
    parser.add_argument("--no-random", dest="random", action="store_false", help="skip the random-search side")
    parser.add_argument("--train-space", choices=list(TRAIN_SPACES), default="basic",
                        help="the training values searched with the architecture and tuned for the presets")
    parser.add_argument("--tuned-from", help="reuse the tuned presets of this earlier tag (same seeds and values)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="a study override for every search unit, e.g. search.gpus_per_trial=0.0625")
    add_confirm_args(parser, "search.confirm: the winner is the best mean over SEEDS more trainings of the TOP best")
    parser.add_argument("--redo-untested", action="store_true",
                        help="a winner whose search weights were not kept (nor tested ahead) is trained again here "
                             "from its search seed and training values for its test figures (said in the section)")
    parser.add_argument("--also-against", metavar="TAG",
                        help="also judge the winners against the presets tuned in this earlier run (same seeds)")
    parser.add_argument("--tune-finalists", nargs=2, type=int, metavar=("TOP", "TRIALS"),
                        help="search.tune: the last TRIALS of --trials tune the TOP best architectures' training values")
    parser.add_argument("--searched-finalists", action="store_true",
                        help="with --tune-finalists: search.tune.presets false (no preset's architecture is a finalist)")
    parser.add_argument("--tune-presets-in-search", action="store_true",
                        help="search.tune_presets: each search tunes its --top-presets best presets (--tune trainings) "
                             "before its first proposal, and those tunings are the presets it is judged against")
    parser.add_argument("--resume-from", metavar="TAG",
                        help="resume this earlier run's finished searches (copied) up to --trials candidates")
    parser.add_argument("--drop-tuning", action="store_true",
                        help="with --resume-from: keep what the earlier run searched before its finalist tuning, "
                             "so that the finalists are tuned once, at the end of --trials (a fresh run's budget)")
    parser.add_argument("--test-ahead", type=int, default=0, metavar="K",
                        help="test metrics of each search's K best candidates and its presets kept as it ends")
    parser.add_argument("--only-seeds", type=int, nargs="+", metavar="S",
                        help="run these seeds' search units and stop, without the tunings or a report (a run "
                             "shared between machines: the other seeds elsewhere, then the whole run once more)")
    parser.add_argument("--portable-state", type=Path, metavar="FILE",
                        help="write the run's folder without weights and caches to FILE (.tar.gz) and stop")
    parser.add_argument("--tune-jobs", type=Path, metavar="FILE",
                        help="write the preset tunings still to do (after each dataset's search seed 0) and stop")
    parser.add_argument("--run-tune-jobs", type=Path, metavar="FILE",
                        help="run the tunings of a --tune-jobs file (--workers at a time) and stop")
    args = parser.parse_args()
    args.confirm = confirm_from(parser, args)
    if args.run_tune_jobs:
        return run_tune_jobs(args.run_tune_jobs, args.workers)
    if args.searched_finalists and not args.tune_finalists:
        parser.error("--searched-finalists: needs --tune-finalists")
    if args.drop_tuning and not args.resume_from:
        parser.error("--drop-tuning: needs --resume-from")
    if args.tune_presets_in_search and (args.tuned_from or args.tune_jobs):
        parser.error("--tune-presets-in-search: the presets are tuned in the searches (no --tuned-from, --tune-jobs)")
    args.seed_list = check_verdict_seeds(parser, args.seeds, args.first_seed)
    if args.only_seeds is not None and not set(args.only_seeds) <= set(args.seed_list):
        parser.error(f"--only-seeds: expected seeds of {args.seed_list[0]}–{args.seed_list[-1]} (--first-seed "
                     f"{args.first_seed}, --seeds {args.seeds}), got {args.only_seeds}")
    named, tag = args.tag is not None, args.tag or time.strftime("%Y-%m-%d")
    root = RUNS / tag
    if args.tune_jobs:
        return write_tune_jobs(args.tune_jobs, args, root)
    if args.portable_state:
        return portable_state(root, args.portable_state, args.test_ahead)
    variant = "".join(f"_{v}" for v in (args.sampler, args.objective) if v)  # its own section
    variant += "_capped" if args.over_target == "infeasible" else ""
    variant += args.confirm.infix if args.confirm else ""
    variant += f"_tune{args.tune_finalists[0]}x{args.tune_finalists[1]}" if args.tune_finalists else ""
    variant += "_searched" if args.searched_finalists else ""
    variant += "_presetsfirst" if args.tune_presets_in_search else ""
    if variant and set(args.data) != set(DATA):  # a run on some datasets does not replace another's section
        variant += "".join(f"_{d}" for d in args.data)
    if variant and named:  # nor a run of another space or protocol (its own tag)
        variant += f"_{tag}"
    parts = ["## The search against the tuned presets, and the default sampler against random search\n"
             if not variant else f"## The search against the tuned presets: sampler {args.sampler or 'default'}, "
             f"objective {args.objective or 'default'}"
             + (" with the target MFLOPs as a hard cap (`search.over_target: infeasible`: candidates above the "
                "best preset's MFLOPs are not trained)" if args.over_target == "infeasible" else "")
             + (f", winner confirmed (`search.confirm`: the {args.confirm[0]} best searched "
                + ("architectures (`per: architecture`, each by its best training)" if args.confirm.per == "architecture"
                   else "candidates") + " and the best preset "
                f"trained from {args.confirm[1]} more seeds after the search, outside the wall-clock random search "
                f"is given; the winner's val NE is its mean)" if args.confirm else "")
             + (f", finalists tuned (`search.tune`: the last {args.tune_finalists[1]} of the {args.trials} searched "
                f"candidates retrain the {args.tune_finalists[0]} best "
                + ("searched architectures (`search.tune.presets: false`: no preset's architecture)"
                   if args.searched_finalists else "architectures")
                + " so far with other training values)" if args.tune_finalists else "")
             + (", the presets tuned inside each search before its first proposal (`search.tune_presets`)"
                if args.tune_presets_in_search else "")
             + (f", run `{tag}`" if named else "") + "\n",
             f"`python benchmarks/search_vs_presets.py` (protocol in its docstring): {args.seeds} search seeds"
             + (f" ({args.seed_list[0]}–{args.seed_list[-1]}, `--first-seed {args.first_seed}`)" if args.first_seed else "")
             + ", "
             f"{args.trials} searched candidates + the {len(args.presets)} presets as observations"
             + (f" + the {args.top_presets * (args.tune - 1)} trainings of their tuning" if args.tune_presets_in_search else "")
             + "; training values "
             f"searched: {json.dumps(TRAIN_SPACES[args.train_space])}."
             + (f" Every training (searches, the presets' tunings) with the study's `train` changed by "
                f"{json.dumps(PROTOCOLS[args.train_space])} (`--train-space {args.train_space}`)."
                if args.train_space in PROTOCOLS else "")
             + (f" Study overrides of every search: `{' '.join(args.set)}`." if args.set else "")
             + _resumed_note(args)]
    for data in args.data:
        section = run(data, args, root)
        if args.only_seeds is not None:
            continue
        print(section, flush=True)
        parts.append(section)
        write_section("search_vs_presets" + variant, "\n\n".join(parts))


if __name__ == "__main__":
    main()

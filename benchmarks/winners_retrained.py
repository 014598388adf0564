"""The search's winners against the best tuned presets, each retrained from fresh seeds.

    python benchmarks/winners_retrained.py --tag s17 --train-space regularised
        [--data census movielens synthetic] [--seeds 5] [--retrain 3] [--workers 2]
        [--confirm TOP SEEDS [--confirm-per architecture]] [--jobs FILE] [--refit VAL_FRACTION]
    python benchmarks/winners_retrained.py --run-jobs FILE [--workers N]

A ``search_vs_presets`` run judges one training of each side: the winner's own weights against the
tuned preset's best-validation training. One training's test NE carries the noise of its seed
(initial weights, batch order); that noise is in every paired difference and in the seeds' std the
verdict takes as its margin. Here, per dataset and search seed of run TAG, the same two models —
the winner (its ArchSpec and the training values searched with it, from the study) and the best tuned
preset (its ArchSpec and its best training values) — are each trained again from ``--retrain``
fresh seeds (seeds neither the search nor the tuning used; the same seeds for both sides) and
judged by their mean test NE and mean pooled test AUC with the run's rule (``_verdicts``: better by
more than the seeds' std of those means, the larger side's). Nothing is chosen again: the winner
and the preset are the ones the run picked on validation, and the test split is read once per
training. The run's own one-training verdict is printed beside it, and how lucky each side's choice
was: the validation NE of the training it was chosen on (the winner's confirmed mean with
``--confirm``) against the mean of its retrainings. (``search_headroom.py`` asks another question
of the same runs: whether any of a search's best few candidates is better than the preset, averaged
over training seeds; this one re-judges the verdict each search seed gave.)

With ``--refit F`` (splits by time only) each retraining is followed by the production step of a
time split: the same model, same seed, trained again on the data split with only the last F of the
rows before the test as validation (the test rows are the same; vocabularies and normalisation
fitted on that longer training, so users first seen in the old validation period are known), with
the study's early stopping on the new, short validation (the latest rows before the test), then
tested. Both sides get it; what each side is stays the run's choice. It asks
whether validation and test disagree on MovieLens because of the 15% of time between training and
test (``cold_users``: what the model learnt of a user earlier predicts them worse than their base
rate 15% later).

Trainings are kept under runs/benchmarks/search_vs_presets/<tag>/<data>/retrained/ and skipped when
rerun. ``--jobs FILE`` writes the trainings still to do as self-contained JSON (architecture,
training values, seed, destination) and stops; ``--run-jobs FILE`` runs such a file's trainings on
any machine with this repository and the data (no studies needed), each result written to its
destination, which then travels back beside the run.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (REPO, Confirm, add_confirm_args, check_verdict_seeds, confirm_from,  # noqa: E402
                                machine, prepare_caches, read_jobs,
                                train_and_test, write_section, worker_pool)
from benchmarks.search_vs_presets import (DATA, PLACEMENT, PROTOCOLS, RUNS, STUDIES, TRAIN_SPACES, _config,  # noqa: E402
                                          _test_metrics, _verdicts, _winner, arch_note, best_presets, preset_arch)



def fresh_seed(search_seed: int, r: int) -> int:
    """The r-th retraining seed of a search seed: the search's candidates train from the study's
    ``train.seed`` (0), its confirmation from the next seeds, the presets' tuning from the search
    seed — these start far above all of them."""
    return 10_000 + 100 * search_seed + r


def choices(tag: str, data: str, seeds: list[int], confirm: Confirm | None) -> tuple[dict, dict]:
    """What run ``tag`` chose per seed: ({seed: best tuned preset}, {seed: (winner record, its
    validation NE) or None})."""
    root = RUNS / tag / data
    best = best_presets(root / "tuned", seeds)
    return best, {s: _winner(root / f"search-{s}", best[s]["mflops"], confirm) for s in seeds}


def jobs_for(tag: str, data: str, retrain: int, space: str, chosen: tuple[dict, dict],
             refit: float | None = None) -> list[dict]:
    """Every retraining of a dataset of run ``tag``: (winner, best tuned preset) × seeds × retrain."""
    from unirank.space import PRESETS as ARCHS

    root = RUNS / tag / data
    study_train = _config(data, space).train.model_dump()
    (best, won_by_seed), jobs = chosen, []
    for s, won in won_by_seed.items():
        sides = [("preset", best[s]["preset"], ARCHS[best[s]["preset"]].to_dict(), best[s]["train"])]
        if won:  # its ArchSpec and the training values searched with it, from the study
            train = {k: v for k, v in won[0].train.items() if k not in PLACEMENT and v != study_train.get(k)}
            sides.append(("winner", f"trial {won[0].number}", won[0].arch.to_dict(), train))
        jobs += [{"data": data, "space": space, "side": side, "name": name, "search_seed": s,
                  "seed": fresh_seed(s, r), "arch": arch, "train": train,  # a file per model: --confirm's own
                  "refit": refit, "dest": str((root / "retrained" / (f"{side}-{s}-{name.replace(' ', '')}-{r}"
                                                                      + (f"-refit{refit:g}" if refit else "")
                                                                      + ".json")).relative_to(REPO))}
                 for side, name, arch, train in sides for r in range(retrain)]
    return jobs


def train_job(job: dict) -> dict:
    """One retraining (one thread on a CPU), its result written to ``job['dest']``; a finished one is read back."""
    dest = REPO / job["dest"]
    if dest.is_file():
        return json.loads(dest.read_text())
    import torch

    from unirank.space.arch import ArchSpec

    torch.set_num_threads(1)
    if job.get("refit"):
        return _refit_job(job)
    cfg = _config(job["data"], job["space"])
    result = {**{k: job[k] for k in ("side", "name", "search_seed", "seed", "train")}, "machine": machine(),
              **train_and_test(cfg, ArchSpec.from_dict(job["arch"]), dest.parent.parent / "cache", job["seed"],
                               **job["train"])}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(result))
    return result


def _refit_config(data: str, space: str, refit: float):
    """The study of a refit: the same, with only the last ``refit`` of the rows before the test as validation."""
    return _config(data, space, (f"data.split.val_fraction={refit}",))


def _caches(jobs: list[dict]):
    """(data config, cache folder) of every training still to do (its refit's too)."""
    for j in jobs:
        if not (REPO / j["dest"]).is_file():
            cache = (REPO / j["dest"]).parent.parent / "cache"
            yield _config(j["data"], j["space"]).data, cache
            if j.get("refit"):
                yield _refit_config(j["data"], j["space"], j["refit"]).data, cache


def _refit_job(job: dict) -> dict:
    """The job's first training (its own file, shared with a run without ``--refit``), then the
    refit: trained on the longer training split, tested; val_ne stays the first training's."""
    from unirank.space.arch import ArchSpec

    dest = REPO / job["dest"]
    first = train_job({**job, "refit": None, "dest": job["dest"].replace(f"-refit{job['refit']:g}", "")})
    cfg = _refit_config(job["data"], job["space"], job["refit"])
    again = train_and_test(cfg, ArchSpec.from_dict(job["arch"]), dest.parent.parent / "cache", job["seed"],
                           **job["train"])
    result = {**first, **{k: again[k] for k in again if k.startswith("test_")}, "refit": job["refit"],
              "refit_epoch": again["best_epoch"], "refit_seconds": again["seconds"], "first_test_ne": first["test_ne"]}
    dest.write_text(json.dumps(result))
    return result


def run_jobs(path: Path, workers: int) -> None:
    """The trainings of a ``--jobs`` file, ``workers`` at a time; each data cache prepared first."""
    jobs = read_jobs(path, "--run-jobs", "--jobs",
                     {"data", "space", "side", "name", "search_seed", "seed", "arch", "train", "dest"},
                     lambda j: j["data"] in STUDIES and j["space"] in TRAIN_SPACES, "a known data and train space")
    prepare_caches(_caches(jobs))
    with worker_pool(workers) as pool:
        for done, result in enumerate(pool.map(train_job, jobs), 1):
            print(f"{done}/{len(jobs)} {result['side']} {result['name']} seed {result['seed']}: "
                  f"test NE {result['test_ne']:.4f}", flush=True)


def _sides(results: list[dict], seeds: list[int]) -> tuple[dict, dict]:
    """({seed: preset's means}, {seed: winner's means or None}) over the retrainings."""
    def mean(side: str, s: int) -> dict | None:
        runs = [r for r in results if r["side"] == side and r["search_seed"] == s]
        return {"name": runs[0]["name"], "mflops": runs[0]["mflops"], "n": len(runs),
                "test_ne": statistics.mean(r["test_ne"] for r in runs),
                "test_auc": statistics.mean(r["test_auc"] for r in runs),
                "val_ne": statistics.mean(r["val_ne"] for r in runs),
                "ne_sd": statistics.stdev(r["test_ne"] for r in runs) if len(runs) > 1 else 0.0} if runs else None
    return {s: mean("preset", s) for s in seeds}, {s: mean("winner", s) for s in seeds}


def report(tag: str, data: str, seeds: list[int], results: list[dict], chosen: tuple[dict, dict],
           redo: bool = False) -> str:
    presets, winners = _sides(results, seeds)
    spread_ne, spread_auc, beats = _verdicts(presets, winners)
    root = RUNS / tag / data
    best, won_by_seed = chosen  # the run's own verdict: one training of each side
    once, luck = {}, {"winner": [], "preset": []}  # luck: the choosing training's val NE − the retrainings' mean
    for s in seeds:
        won = won_by_seed[s]
        once[s] = _test_metrics(root / f"search-{s}", won[0], redo=redo) if won else None
        luck["preset"].append(best[s]["ne"] - presets[s]["val_ne"])
        if won and winners[s]:
            luck["winner"].append(won[1] - winners[s]["val_ne"])
    once_ne, once_auc, once_beats = _verdicts(best, once)
    rows = [f"| {s} | {p['name']} | {p['test_ne']:.4f} ± {p['ne_sd']:.4f} | {p['test_auc']:.4f} | "
            + (f"{w['name']}{arch_note(preset_arch(won_by_seed[s][0]))} | {w['test_ne']:.4f} ± {w['ne_sd']:.4f} | "
               f"{w['test_auc']:.4f} | {w['test_ne'] - p['test_ne']:+.4f} | " if w else "none | | | | ")
            + f"{'yes' if beats[s][0] else 'no'} / {'yes' if beats[s][1] else 'no'} |"
            for s, p, w in ((s, presets[s], winners[s]) for s in seeds)]
    diffs = [winners[s]["test_ne"] - presets[s]["test_ne"] for s in seeds if winners[s]]
    noise = statistics.median(side[s]["ne_sd"] for side in (presets, winners) for s in seeds if side[s])
    n = max(r["n"] for r in (*presets.values(), *winners.values()) if r)
    return (f"### {data}\n\n| seed | best tuned preset | mean test NE ± sd ({n} trainings) | mean pooled test AUC | "
            f"search winner | mean test NE ± sd | mean pooled test AUC | difference in test NE | "
            f"beats: test NE / AUC |\n|---|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
            f"- retrained, the winner beats the best tuned preset by more than the seeds' std (test NE "
            f"{spread_ne:.4f}, test AUC {spread_auc:.4f}): test NE in {sum(b[0] for b in beats.values())} of "
            f"{len(seeds)} seeds, pooled test AUC in {sum(b[1] for b in beats.values())} of {len(seeds)}; better by any "
            f"margin in {sum(d < 0 for d in diffs)} of {len(seeds)}; paired difference {statistics.mean(diffs):+.4f} "
            f"± {statistics.stdev(diffs) if len(diffs) > 1 else 0.0:.4f}\n"
            f"- validation NE of the training that was chosen, against the mean of the retrainings (mean over "
            f"seeds; below 0: the choice was lucky): winner {statistics.mean(luck['winner']):+.4f}, best tuned "
            f"preset {statistics.mean(luck['preset']):+.4f}\n"
            f"- one training's test NE from its seed alone (sd over the {n} retrainings of one model, median "
            f"over the models): {noise:.4f}\n"
            f"- trainings ran on: {'; '.join(sorted({r.get('machine', 'not recorded') for r in results}))} "
            f"(on CPU, one thread each)\n"
            f"- the run's own verdict (one training of each side: the winner's search weights, the preset's "
            f"best tuning training): test NE in {sum(b[0] for b in once_beats.values())} of {len(seeds)} (margin "
            f"{once_ne:.4f}), pooled test AUC in {sum(b[1] for b in once_beats.values())} of {len(seeds)} "
            f"(margin {once_auc:.4f})\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", help="the search_vs_presets run whose winners are retrained")
    parser.add_argument("--train-space", choices=list(TRAIN_SPACES), help="that run's --train-space")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(STUDIES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, metavar="K", help="that run's --first-seed")
    parser.add_argument("--retrain", type=int, default=3, help="fresh trainings of each side per search seed")
    parser.add_argument("--workers", type=int, default=2)
    add_confirm_args(parser, "that run's --confirm")
    parser.add_argument("--redo-untested", action="store_true", help="as search_vs_presets.py --redo-untested")
    parser.add_argument("--jobs", type=Path, help="write the trainings still to do to this JSON file and stop")
    parser.add_argument("--run-jobs", type=Path, metavar="FILE", help="run the trainings of a --jobs file and stop")
    parser.add_argument("--refit", type=float, metavar="VAL_FRACTION",
                        help="time splits: test each model after training it again with only this last share "
                             "of the rows before the test as validation")
    args = parser.parse_args()
    args.confirm = confirm_from(parser, args)
    if args.run_jobs:
        return run_jobs(args.run_jobs, args.workers)
    if not args.tag or not args.train_space:
        parser.error("--tag and --train-space are required (unless --run-jobs)")
    seeds = check_verdict_seeds(parser, args.seeds, args.first_seed)
    if args.refit is not None:
        if not 0 < args.refit < 0.15:
            parser.error("--refit: expected a share of the rows in (0, 0.15)")
        for data in args.data:
            split = _config(data, args.train_space).data.split
            if split.by != "time" or split.cuts is not None:
                parser.error(f"--refit: {data} is split {split.by}{' by cuts' if split.cuts else ''}; it needs a "
                             "split by time with val_fraction and test_fraction (the test rows stay the same)")
    for data in args.data:
        if not (RUNS / args.tag / data / "tuned").is_dir():
            raise SystemExit(f"winners_retrained: no run {args.tag!r} of {data} under {RUNS} (its tuned/ folder)")
    chosen = {d: choices(args.tag, d, seeds, args.confirm) for d in args.data}  # studies read once
    jobs = {d: jobs_for(args.tag, d, args.retrain, args.train_space, chosen[d], args.refit) for d in args.data}
    if args.jobs:
        todo = [j for js in jobs.values() for j in js if not (REPO / j["dest"]).is_file()]
        args.jobs.write_text(json.dumps(todo))
        print(f"{len(todo)} trainings to do written to {args.jobs}")
        return
    confirmed = (args.confirm.infix if args.confirm else "") + (
        f"_refit{args.refit:g}".replace(".", "") if args.refit else "") + (
        f"_retrain{args.retrain}" if args.retrain != 3 else "")  # another count: its own section beside the 3
    parts = [f"## The search's winners against the best tuned presets, each retrained from {args.retrain} fresh "
             f"seeds (run `{args.tag}`"
             + (f", winner confirmed: `{args.confirm.flags}`" if args.confirm else "")
             + (f", each training refit with the last {args.refit:g} of the rows before the test as validation "
                f"(`--refit {args.refit:g}`)" if args.refit else "")
             + ")\n\n`python benchmarks/winners_retrained.py` (protocol in its docstring): "
             f"the winner and the best tuned preset of each search seed of `search_vs_presets` run `{args.tag}`, "
             f"trained again from the same {args.retrain} fresh seeds each; their mean test metrics judged with "
             f"that run's rule."
             + (f" Every training with the study's `train` changed by {json.dumps(PROTOCOLS[args.train_space])} "
                f"(`--train-space {args.train_space}`)." if args.train_space in PROTOCOLS else "") + "\n"]
    with worker_pool(args.workers) as pool:
        for data in args.data:
            print(f"[{data}] {len(jobs[data])} trainings …", flush=True)
            prepare_caches(_caches(jobs[data]))
            section = report(args.tag, data, seeds, list(pool.map(train_job, jobs[data])), chosen[data],
                             args.redo_untested)
            print(section, flush=True)
            parts.append(section)
            write_section(f"winners_retrained_{args.tag}{confirmed}" + "".join(f"_{d}" for d in args.data
                                                                     if set(args.data) != set(DATA)),
                          "\n\n".join(parts))


if __name__ == "__main__":
    main()

"""Does measuring and keeping the weights' moving average (``train.ema_decay``) train better models?

    python benchmarks/weight_average.py [--data census movielens synthetic] [--decay 0.99]
        [--lr 0.001 0.003 0.01] [--seeds 3] [--workers 2]

Per dataset of ``search_vs_presets`` (its study, split and the ``calibrated`` protocol every run
from s26 on trains with) the best tuned preset of the runs without averaging (``PRESET``: DCNv2
on Census-Income as in s19, DeepFM on MovieLens as in 4 of s38's 5 seeds, DLRM on the synthetic
data as in all of s38's) is trained at each
learning rate of ``--lr`` (the values the searches and the presets' tunings draw from, but 0.0003;
the study's other training values) from ``--seeds`` seeds (0…n−1), without and with
``train.ema_decay`` = ``--decay``: every measurement of validation, the early stop and the weights
kept are then the moving average's. Reported per learning rate: validation NE, test NE and pooled
test AUC as mean ± std over the seeds, and the paired difference in validation and in test NE
(with − without, same seed; below 0: the average is better). Validation is what a search would
choose on; the test split is read once per training. Trainings are kept under
``runs/benchmarks/weight_average/`` and skipped when rerun.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import (REPO, machine, mean_std, paired_change, prepare_caches,  # noqa: E402
                               train_and_test, write_section)
from benchmarks.search_vs_presets import PROTOCOLS, STUDIES, _config  # noqa: E402

ROOT = REPO / "runs" / "benchmarks" / "weight_average"
PRESET = {"census": "dcnv2", "movielens": "deepfm", "synthetic": "dlrm"}
SPACE = "calibrated"


def _train(job: dict) -> dict:
    """One training (one thread); its result file is read back when it exists."""
    dest = Path(job["dest"])
    if dest.is_file():
        return json.loads(dest.read_text())
    import torch

    from unirank.space import PRESETS

    torch.set_num_threads(1)
    result = {**{k: job[k] for k in ("lr", "decay", "seed")}, "machine": machine(),
              **train_and_test(_config(job["data"], SPACE), PRESETS[job["preset"]], ROOT / job["data"] / "cache",
                               job["seed"], lr=job["lr"], ema_decay=job["decay"], device="cpu")}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(result))
    return result


def _paired(results: list[dict], lr: float, decay: float, key: str) -> str:
    base = {r["seed"]: r[key] for r in results if r["lr"] == lr and r["decay"] == 0}
    return paired_change([r[key] - base[r["seed"]] for r in results if r["lr"] == lr and r["decay"] == decay])


def report(data: str, preset: str, results: list[dict], lrs: list[float], decay: float, seeds: int) -> str:
    rows = []
    for lr in lrs:
        for d in (0.0, decay):
            runs = [r for r in results if r["lr"] == lr and r["decay"] == d]
            paired = ("– | –" if d == 0 else f"{_paired(results, lr, d, 'val_ne')} | {_paired(results, lr, d, 'test_ne')}")
            rows.append(f"| {lr:g} | {'ema ' + format(d, 'g') if d else 'last weights'} | "
                        f"{mean_std([r['val_ne'] for r in runs])} | {mean_std([r['test_ne'] for r in runs])} | "
                        f"{mean_std([r['test_auc'] for r in runs])} | {statistics.median(r['best_epoch'] for r in runs):g} | "
                        f"{paired} |")
    return (f"### {data}: {preset}, {seeds} seeds per row\n\n"
            "| lr | weights measured and kept | val NE | test NE | pooled test AUC | best epoch (median) | "
            "val NE: ema − last (paired) | test NE: ema − last (paired) |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(PRESET), choices=list(PRESET))
    parser.add_argument("--decay", type=float, default=0.99)
    parser.add_argument("--lr", nargs="+", type=float, default=[0.001, 0.003, 0.01])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not 0 < args.decay < 1:
        parser.error(f"--decay: expected 0 < decay < 1, got {args.decay}")
    if args.seeds < 2:
        parser.error(f"--seeds: expected at least 2 (a std over seeds), got {args.seeds}")
    if any(lr <= 0 for lr in args.lr):
        parser.error(f"--lr: expected positive rates, got {args.lr}")
    jobs = {d: [{"data": d, "preset": PRESET[d], "lr": lr, "decay": decay, "seed": s,
                 "dest": str(ROOT / d / f"{PRESET[d]}-lr{lr:g}-ema{decay:g}-{s}.json")}
                for lr in args.lr for decay in (0.0, args.decay) for s in range(args.seeds)] for d in args.data}
    prepare_caches((_config(d, SPACE).data, ROOT / d / "cache") for d in args.data)
    parts = [f"## Weights averaged over training (`train.ema_decay`) against the last weights\n\n"
             f"`python benchmarks/weight_average.py` (protocol in its docstring): each dataset's preset, the "
             f"study's training values but the learning rate, with the `{SPACE}` protocol "
             f"({json.dumps(PROTOCOLS[SPACE])}); mean ± std over the seeds."]
    ran_on = set()
    with ProcessPoolExecutor(args.workers) as pool:
        for data in args.data:
            results = []
            for done, r in enumerate(pool.map(_train, jobs[data]), 1):
                results.append(r)
                print(f"{data} {done}/{len(jobs[data])}: lr {r['lr']:g} ema {r['decay']:g} seed {r['seed']}: "
                      f"val NE {r['val_ne']:.4f}", flush=True)
            ran_on |= {r["machine"] for r in results}
            parts.append(report(data, PRESET[data], results, args.lr, args.decay, args.seeds))
    parts.append(f"- trainings ran on: {'; '.join(sorted(ran_on))} (CPU, one thread each)\n")
    print(write_section("weight_average", "\n\n".join(parts)))


if __name__ == "__main__":
    main()

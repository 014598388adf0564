"""Orchestration overhead: a 20-trial study through Ray Tune vs the same 20 trainings in one process.

    python benchmarks/orchestration_overhead.py [--trials 20] [--repeats 1]

The study (random sampler, seed 0, no presets, quickstart data at 60k rows, ≤ 4 epochs) runs
through `run_study`: local Ray, 2 concurrent trials of 1 CPU each, Optuna SQLite storage, data
cache, weights written. Then the same ArchSpecs are trained one after another in this process
with the same protocol (`fit`, 1 thread and 2 threads). Ratio = Ray wall / sequential wall;
below 1 means the concurrency more than pays for Ray's start-up and bookkeeping.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()

    import torch

    from unirank.config import load_config
    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.models import build_model
    from unirank.search.runner import run_study
    from unirank.search.study import open_study_from_dir, trial_records
    from unirank.train import fit, seed_everything

    out = REPO / "runs" / "benchmarks" / "overhead"
    overrides = [f"output.dir={out}", "search.sampler=random", "search.presets=[]", "data.num_rows=60000",
                 f"budget.trials={args.trials}", "train.max_epochs=4"]
    ray_walls, seq1_walls, seq2_walls = [], [], []
    for _ in range(args.repeats):
        shutil.rmtree(out, ignore_errors=True)
        cfg = load_config(REPO / "studies" / "quickstart.yaml", overrides)
        prepare_dataset(cfg.data, out / "cache")  # both sides start from a prepared cache
        started = time.perf_counter()
        run_study(cfg, show_progress=False)
        ray_walls.append(time.perf_counter() - started)
        study, _ = open_study_from_dir(out)
        archs = [r.arch for r in trial_records(study)]
        dataset = load_prepared(prepare_dataset(cfg.data, out / "cache"))
        for threads, walls in ((1, seq1_walls), (2, seq2_walls)):
            torch.set_num_threads(threads)
            started = time.perf_counter()
            for arch in archs:
                seed_everything(cfg.train.seed)
                fit(build_model(arch, dataset.features), dataset, cfg.train)
            walls.append(time.perf_counter() - started)
        print(f"ray {ray_walls[-1]:.1f} s, sequential 1 thread {seq1_walls[-1]:.1f} s, "
              f"2 threads {seq2_walls[-1]:.1f} s ({len(archs)} trained trials)", flush=True)
    r, s1, s2 = (statistics.median(w) for w in (ray_walls, seq1_walls, seq2_walls))
    rows = ["| run | wall s | ratio Ray / this |", "|---|---|---|",
            f"| Ray Tune study, 2 concurrent trials × 1 CPU | {r:.1f} | — |",
            f"| same trials sequentially, 1 thread | {s1:.1f} | {r / s1:.3f} |",
            f"| same trials sequentially, 2 threads | {s2:.1f} | {r / s2:.3f} |"]
    print("\n".join(rows))
    body = (f"## Orchestration overhead: {args.trials} trials through Ray Tune vs in one process\n\n"
            f"Median of {args.repeats} run(s); the Ray side includes Ray start-up, Optuna SQLite storage, "
            "cost measurement and weight files.\n\n" + "\n".join(rows))
    write_section("orchestration_overhead", body)


if __name__ == "__main__":
    main()

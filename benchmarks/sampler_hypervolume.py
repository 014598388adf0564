"""Search quality by sampler on Census-Income: hypervolume of the (MFLOPs, mean NE) front.

    python benchmarks/sampler_hypervolume.py [--trials 12] [--seeds 3]

Each sampler (random, TPE, NSGA-II, predictor-based) runs the census study with the same trial
budget and protocol (studies/census.yaml, no presets) for each seed, through Ray Tune on this
machine. The hypervolume of each run's front of trained trials is computed against one reference
point shared by all runs (1.05 × the worst MFLOPs and NE seen in any run); mean ± std over seeds.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, mean_std, write_section  # noqa: E402

CENSUS = SHARED_DATA / "census_income" / "census-income.test.gz"
SAMPLERS = ("random", "tpe", "nsga2", "predictor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    if not CENSUS.is_file():
        sys.exit(f"error: {CENSUS} not found (see ../shared/data/README.md)")

    from unirank.config import load_config
    from unirank.search.pareto import hypervolume_2d
    from unirank.search.runner import run_study
    from unirank.search.study import open_study_from_dir, trial_records

    fronts, seconds = {}, {}
    for sampler in SAMPLERS:
        for seed in range(args.seeds):
            out = REPO / "runs" / "benchmarks" / "hypervolume" / f"{sampler}-{seed}"
            cfg = load_config(REPO / "studies" / "census.yaml", [
                f"data.path={CENSUS}", f"output.dir={out}", f"search.sampler={sampler}",
                f"search.seed={seed}", "search.presets=[]", f"budget.trials={args.trials}",
                f"budget.total_trials={args.trials}", f"train.max_epochs={args.epochs}"])
            started = time.perf_counter()
            run_study(cfg, show_progress=False)
            seconds[(sampler, seed)] = time.perf_counter() - started
            study, _ = open_study_from_dir(out)
            fronts[(sampler, seed)] = [(r.mflops, r.mean_ne) for r in trial_records(study) if r.preset is None]
            print(f"{sampler} seed {seed}: {len(fronts[(sampler, seed)])} trials, "
                  f"{seconds[(sampler, seed)]:.0f} s", flush=True)
    every = [p for points in fronts.values() for p in points]
    reference = (1.05 * max(p[0] for p in every), 1.05 * max(p[1] for p in every))
    rows = ["| sampler | hypervolume (mean ± std) | best mean NE | wall s per run |", "|---|---|---|---|"]
    for sampler in SAMPLERS:
        volumes = [hypervolume_2d(fronts[(sampler, s)], reference) for s in range(args.seeds)]
        best = [min(p[1] for p in fronts[(sampler, s)]) for s in range(args.seeds)]
        rows.append(f"| {sampler} | {mean_std(volumes)} | {mean_std(best)} | "
                    f"{statistics.mean(seconds[(sampler, s)] for s in range(args.seeds)):.0f} |")
    print("\n".join(rows))
    body = (f"## Census-Income: front hypervolume by sampler ({args.trials} trials, {args.seeds} seeds)\n\n"
            f"Objectives (MFLOPs, mean validation NE), both minimised; reference point "
            f"({reference[0]:.3f} MFLOPs, NE {reference[1]:.4f}); ≤ {args.epochs} epochs per trial; "
            f"space and protocol of `studies/census.yaml`.\n\n" + "\n".join(rows))
    write_section("sampler_hypervolume", body)


if __name__ == "__main__":
    main()

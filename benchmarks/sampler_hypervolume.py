"""Search quality by sampler on Census-Income: hypervolume of the (MFLOPs, mean NE) front.

    python benchmarks/sampler_hypervolume.py [--trials 12] [--seeds 5] [--samplers ...] [--tag TAG]

Each sampler (random, TPE, NSGA-II, predictor-based, evolution) runs the census study with the same trial
budget and protocol (studies/census.yaml, no presets) for each seed, through Ray Tune on this
machine. The hypervolume of each run's front of trained trials is computed against one reference
point shared by all runs (1.05 × the worst MFLOPs and NE seen in any run); mean ± std over seeds,
and per sampler in how many seeds its hypervolume beats random search's (same seed). Run folders
carry --tag (default: the date), so a new tag measures every run afresh.
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
SAMPLERS = ("random", "tpe", "nsga2", "predictor", "evolution")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--tag", default=time.strftime("%Y-%m-%d"))
    parser.add_argument("--epochs", type=int, default=5)
    args = parser.parse_args()
    if not CENSUS.is_file():
        sys.exit(f"error: {CENSUS} not found (see ../shared/data/README.md)")

    from unirank.config import load_config
    from unirank.search.pareto import hypervolume_2d
    from unirank.search.runner import run_study
    from unirank.search.study import open_study_from_dir, trial_records

    fronts, seconds = {}, {}
    samplers = args.samplers if "random" in args.samplers else ["random", *args.samplers]
    for sampler in samplers:
        for seed in range(args.seeds):
            out = REPO / "runs" / "benchmarks" / "hypervolume" / args.tag / f"{sampler}-{seed}"
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
    rows = ["| sampler | hypervolume (mean ± std) | beats random's hypervolume | best mean NE | wall s per run |",
            "|---|---|---|---|---|"]
    volume = {k: hypervolume_2d(points, reference) for k, points in fronts.items()}
    for sampler in samplers:
        volumes = [volume[(sampler, s)] for s in range(args.seeds)]
        best = [min(p[1] for p in fronts[(sampler, s)]) for s in range(args.seeds)]
        wins = "" if sampler == "random" else \
            f"{sum(volume[(sampler, s)] > volume[('random', s)] for s in range(args.seeds))} of {args.seeds} seeds"
        rows.append(f"| {sampler} | {mean_std(volumes)} | {wins} | {mean_std(best)} | "
                    f"{statistics.mean(seconds[(sampler, s)] for s in range(args.seeds)):.0f} |")
    leader = max(samplers, key=lambda x: statistics.mean(volume[(x, s)] for s in range(args.seeds)))
    rows.append(f"\nLargest mean hypervolume: **{leader}**.")
    print("\n".join(rows))
    body = (f"## Census-Income: front hypervolume by sampler ({args.trials} trials, {args.seeds} seeds)\n\n"
            f"Objectives (MFLOPs, mean validation NE), both minimised; reference point "
            f"({reference[0]:.3f} MFLOPs, NE {reference[1]:.4f}); ≤ {args.epochs} epochs per trial; "
            f"space and protocol of `studies/census.yaml`.\n\n" + "\n".join(rows))
    write_section("sampler_hypervolume", body)


if __name__ == "__main__":
    main()

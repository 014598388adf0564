"""Proxy-screened search vs full-training search at the same wall-clock budget (Census-Income).

    python benchmarks/proxy_search.py [--minutes 4] [--seeds 3] [--pool 64] [--keep 0.15]

Per seed, two real `unirank search studies/census.yaml` runs, one after the other on the same
machine, each with `budget.max_wall_minutes` = --minutes covering everything it does (data,
screening, trials), no presets, TPE, 2 concurrent trials:
- full: TPE proposes, every candidate is trained fully;
- screened: `search.screen` (pool --pool, keep --keep): the warm-up proxy scores the pool first (one
  scoring process per CPU) and the best that are predicted to finish in the time left are trained
  fully, best first; then TPE continues.
Reported: best mean validation NE among trained candidates and the hypervolume of the
(MFLOPs, NE) front against one reference point for all runs (1.1 × the largest MFLOPs seen, NE 1.0);
for the screened runs also the screening's seconds and how the predicted training times compare
with the measured ones.
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, write_section  # noqa: E402

CENSUS = SHARED_DATA / "census_income" / "census-income.test.gz"
OUT = REPO / "runs" / "benchmarks" / "proxy_search"


def _search(mode: str, seed: int, minutes: float, pool: int, keep: float) -> Path:
    out = OUT / f"{mode}-seed{seed}"
    if (out / "done.json").is_file():  # resumable: a finished run is kept
        return out
    shutil.rmtree(out, ignore_errors=True)
    args = [sys.executable, "-m", "unirank", "search", "studies/census.yaml", "--quiet",
            "--set", f"data.path={CENSUS}", "--set", f"output.dir={out}", "--set", f"search.seed={seed}",
            "--set", "search.presets=[]", "--set", "budget.trials=1000", "--set", f"budget.max_wall_minutes={minutes}",
            "--set", "search.sampler=tpe", "--set", "search.cpus_per_trial=1"]
    if mode == "screened":
        args += ["--set", f"search.screen.pool={pool}", "--set", f"search.screen.keep={keep}"]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"error: {mode} seed {seed} failed: {done.stderr.strip()[-500:]}")
    print(next((line for line in done.stdout.splitlines() if line.startswith(("study", "screening"))), ""), flush=True)
    (out / "done.json").write_text("{}")
    return out


def _open(out: Path):
    from unirank.search.study import open_study_from_dir

    return open_study_from_dir(out)[0]


def _points(study) -> list[tuple[float, float]]:
    from unirank.search.study import trial_records

    return [(r.mflops, r.mean_ne) for r in trial_records(study) if r.preset is None and r.same_as_trial is None]


def _screening(study) -> tuple[dict, list[float]]:
    """The study's screening record and measured / predicted training seconds of queued trials."""
    from optuna.trial import TrialState

    ratios = [t.user_attrs["train_seconds"] / t.user_attrs["predicted_train_seconds"]
              for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("predicted_train_seconds") and t.user_attrs.get("train_seconds")]
    return study.user_attrs.get("screening", {}), ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=4.0)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--pool", type=int, default=64)
    parser.add_argument("--keep", type=float, default=0.15)
    args = parser.parse_args()
    if not CENSUS.is_file():
        sys.exit(f"error: {CENSUS} not found (see ../shared/data/README.md)")
    from unirank.search.pareto import hypervolume_2d

    runs, studies = {}, {}
    for seed in range(args.seeds):
        for mode in ("full", "screened"):
            studies[(mode, seed)] = _open(_search(mode, seed, args.minutes, args.pool, args.keep))
            runs[(mode, seed)] = _points(studies[(mode, seed)])
            best = min(ne for _, ne in runs[(mode, seed)])
            print(f"seed {seed} {mode:>8}: {len(runs[(mode, seed)])} trained, best NE {best:.4f}", flush=True)
    reference = (1.1 * max(x for pts in runs.values() for x, _ in pts), 1.0)
    rows = ["| seed | search | trained candidates | best mean NE | hypervolume (MFLOPs × NE) |", "|---|---|---|---|---|"]
    summary = {"full": ([], []), "screened": ([], [])}
    for (mode, seed), pts in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        best, hv = min(ne for _, ne in pts), hypervolume_2d(pts, reference)
        summary[mode][0].append(best)
        summary[mode][1].append(hv)
        rows.append(f"| {seed} | {mode} | {len(pts)} | {best:.4f} | {hv:.4f} |")
    for mode, (bests, hvs) in summary.items():
        rows.append(f"| mean | {mode} | | {statistics.mean(bests):.4f} | {statistics.mean(hvs):.4f} |")
    notes = []
    for seed in range(args.seeds):
        info, ratios = _screening(studies[("screened", seed)])
        spent = info.get("warmup_seconds", 0) + info.get("scoring_seconds", 0)
        ratio = (f"; measured / predicted training time of the queued trials: median {statistics.median(ratios):.2f} "
                 f"(min {min(ratios):.2f}, max {max(ratios):.2f})" if ratios else "")
        notes.append(f"- seed {seed}: screening {spent:.0f} s (warm-up {info.get('warmup_seconds', 0):.0f} s), "
                     f"{info.get('kept')} queued, {info.get('too_slow', 0)} better-ranked left out as too slow{ratio}")
    wins = sum(s < f for s, f in zip(summary["screened"][0], summary["full"][0]))
    hv_wins = sum(s > f for s, f in zip(summary["screened"][1], summary["full"][1]))
    body = (f"## Proxy-screened vs full-training search at equal wall-clock (Census-Income)\n\n"
            f"Each run: `unirank search studies/census.yaml` with `budget.max_wall_minutes={args.minutes:g}` "
            f"(covering data, screening and trials), TPE, no presets, 2 concurrent one-CPU trials. "
            f"*screened* adds `search.screen` (pool {args.pool}, keep {args.keep:.0%}; warm-up and "
            f"fine-tuning defaults). Reference point for the "
            f"hypervolume: ({reference[0]:.3f} MFLOPs, NE 1.0). Screened search had the better best NE in "
            f"{wins} of {args.seeds} seeds and the larger hypervolume in {hv_wins} of {args.seeds}.\n\n"
            + "\n".join(rows) + "\n\nScreening per seed:\n" + "\n".join(notes))
    print(body)
    write_section("proxy_search", body)


if __name__ == "__main__":
    main()

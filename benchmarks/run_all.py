"""The real-data benchmark suite: presets vs search on Census-Income and MovieLens-100K.

    python benchmarks/run_all.py [--data census movielens] [--seeds 3] [--trials 24] [--workers 2]

Resumable: every finished unit (one preset × seed, one search, one retrain) is saved under
runs/benchmarks/run_all/<data>/ and skipped when rerun. Runtime on a 2-core CPU machine: about
23 minutes for both datasets with the defaults (measured 2026-11-23).

Per dataset (`studies/<data>.yaml`: data, split, space, training protocol):
1. every preset trained with the study's protocol, training seeds 0..seeds-1;
2. the search (`unirank search`, TPE, no presets, `--trials` trained candidates) with search
   seeds 0..seeds-1, told the best preset's MFLOPs as its hard budget (`budget.max_mflops`), as a
   team setting out to replace that model at no more cost would;
3. per search seed, the --top best searched architectures whose MFLOPs ≤ the best preset's are
   retrained with the same training seeds as the presets, and the one with the best mean
   validation NE is that search's result (re-evaluating the top few with more seeds, as one does
   before shipping, instead of trusting one lucky run);
4. every training also reports the NE on the test split, which neither the search nor the
   selection ever saw: the unbiased comparison.
Writes the results table (validation and test mean NE, test pooled AUC per objective, MFLOPs,
params; mean ± std over training seeds) and the Pareto plot (all searched trials of all seeds,
presets marked) into BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, mean_std, unirank_search, write_section  # noqa: E402

DATA = {"census": ("census.yaml", [f"data.path={SHARED_DATA / 'census_income' / 'census-income.test.gz'}"]),
        "movielens": ("movielens.yaml", [f"data.path={SHARED_DATA / 'movielens_100k'}"])}
OUT = REPO / "runs" / "benchmarks" / "run_all"


def _config(data: str):
    from unirank.config import load_config

    study, overrides = DATA[data]
    return load_config(REPO / "studies" / study, overrides)


def _train(job: tuple[str, str, dict, int, str]) -> dict:
    """Train one architecture with one training seed; cached in ``dest``."""
    data, label, arch_dict, seed, dest = job
    if Path(dest).is_file():
        cached = json.loads(Path(dest).read_text())
        # units from before the test AUC column, or of another architecture (a preset changed), are trained again
        if "test_auc" in cached and cached.get("arch") == arch_dict:
            return {**cached, "label": label}
    import torch

    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.models import build_model
    from unirank.proxies.cost import measure_cost
    from unirank.space.arch import ArchSpec
    from unirank.train import fit, seed_everything
    from unirank.train.fit import evaluate

    torch.set_num_threads(1)
    cfg = _config(data)
    dataset = load_prepared(prepare_dataset(cfg.data, OUT / "cache"))
    arch = ArchSpec.model_validate(arch_dict)
    seed_everything(seed)
    started = time.perf_counter()
    model = build_model(arch, dataset.features)
    result = fit(model, dataset, cfg.train.model_copy(update={"seed": seed}))
    test = evaluate(model, dataset.splits["test"], dataset.features)  # fit leaves the best epoch's weights
    cost = measure_cost(arch, dataset.features)
    out = {"label": label, "seed": seed, "ne": result.val.mean_ne, "test_ne": test.mean_ne,
           "auc": {k: v["pooled_auc"] for k, v in result.val.objectives.items()},
           "test_auc": {k: v["pooled_auc"] for k, v in test.objectives.items()}, "mflops": cost.mflops,
           "params": cost.params, "seconds": time.perf_counter() - started, "arch": arch_dict}
    Path(dest).parent.mkdir(parents=True, exist_ok=True)
    Path(dest).write_text(json.dumps(out))
    return out


def _search(data: str, seed: int, trials: int, max_mflops: float) -> Path:
    out = OUT / data / f"search-seed{seed}"
    done = out / "done.json"
    if done.is_file() and json.loads(done.read_text()).get("max_mflops") == max_mflops:
        return out
    shutil.rmtree(out, ignore_errors=True)  # unfinished, or run under another budget
    study, overrides = DATA[data]
    sets = [*overrides, f"output.dir={out}", f"search.seed={seed}", "search.presets=[]", f"budget.total_trials={trials}",
            f"budget.trials={trials}", "search.cpus_per_trial=1", f"budget.max_mflops={max_mflops}"]
    started = time.perf_counter()
    unirank_search(f"studies/{study}", sets, f"{data} seed {seed}")
    done.write_text(json.dumps({"seconds": time.perf_counter() - started, "max_mflops": max_mflops}))
    return out


def _searched(out: Path) -> list:
    from unirank.search.study import open_study_from_dir, trial_records

    study, _ = open_study_from_dir(out)
    return [r for r in trial_records(study) if r.preset is None and r.same_as_trial is None]


def run(data: str, seeds: int, trials: int, workers: int, top: int) -> str:
    from unirank.data.dataset import prepare_dataset
    from unirank.space import PRESETS as ALL

    PRESETS = {n: a for n, a in ALL.items() if a.sequence is None}  # these data have no behaviour sequence

    prepare_dataset(_config(data).data, OUT / "cache")
    jobs = [(data, name, PRESETS[name].to_dict(), s, str(OUT / data / "presets" / f"{name}-{s}.json"))
            for name in PRESETS for s in range(seeds)]
    print(f"[{data}] presets: {len(jobs)} trainings", flush=True)
    with ProcessPoolExecutor(workers) as pool:
        presets = list(pool.map(_train, jobs))
    by_preset = {n: [r for r in presets if r["label"] == n] for n in PRESETS}
    best_preset = min(by_preset, key=lambda n: _mean(by_preset[n]))
    limit = by_preset[best_preset][0]["mflops"]
    searched, retrain_jobs = {}, []
    for s in range(seeds):
        print(f"[{data}] search seed {s} ({trials} trials) …", flush=True)
        searched[s] = _searched(_search(data, s, trials, limit))
        # budget.max_mflops=limit: every trained candidate is within the best preset's MFLOPs
        for best in sorted(searched[s], key=lambda r: r.mean_ne)[:top]:
            retrain_jobs += [(data, f"search seed {s}: trial {best.number}", best.arch.to_dict(), t,
                              str(OUT / data / "retrain" / f"seed{s}-trial{best.number}-{t}.json"))
                             for t in range(seeds)]
    print(f"[{data}] retraining the top {top} of each search: {len(retrain_jobs)} trainings", flush=True)
    with ProcessPoolExecutor(workers) as pool:
        retrained = list(pool.map(_train, retrain_jobs))
    candidates = {}
    for r in retrained:
        candidates.setdefault(r["label"], []).append(r)
    by_search = {}
    for s in range(seeds):
        mine = {k: v for k, v in candidates.items() if k.startswith(f"search seed {s}:")}
        label = min(mine, key=lambda k: _mean(mine[k]))
        by_search[label] = mine[label]
    return _section(data, by_preset, best_preset, by_search, searched, seeds, trials, top)


def _mean(runs: list[dict], key: str = "ne") -> float:
    """Mean over training seeds of one architecture's ``key`` (validation ``ne`` or ``test_ne``)."""
    return statistics.mean(r[key] for r in runs)


def _row(label: str, runs: list[dict]) -> str:
    objectives = sorted(runs[0]["auc"])
    return (f"| {label} | {mean_std([r['ne'] for r in runs])} | {mean_std([r['test_ne'] for r in runs])} | "
            + " | ".join(mean_std([r["test_auc"][o] for r in runs]) for o in objectives)
            + f" | {runs[0]['mflops']:.4f} | {runs[0]['params']:,} |")


def _verdict(label: str, runs: list[dict], best_preset: str, preset_runs: list[dict], key: str) -> str:
    ne, bp = [r[key] for r in runs], [r[key] for r in preset_runs]
    gap = _mean(preset_runs, key) - _mean(runs, key)
    spread = max(statistics.stdev(bp), statistics.stdev(ne)) if len(ne) > 1 else 0.0
    return (f"{label}: {'beats' if gap > spread else 'does not beat'} {best_preset} by "
            f"{gap:+.4f} {'validation' if key == 'ne' else 'test'} NE (seed std {spread:.4f}) at "
            f"{runs[0]['mflops']:.4f} vs {preset_runs[0]['mflops']:.4f} MFLOPs")


def _section(data, by_preset, best_preset, by_search, searched, seeds, trials, top) -> str:
    objectives = sorted(next(iter(by_preset.values()))[0]["auc"])
    head = ("| architecture | validation mean NE | test mean NE | " + " | ".join(f"test pooled AUC {o}" for o in objectives)
            + " | MFLOPs | params |\n" + "|---|---|---|" + "---|" * len(objectives) + "---|---|")
    rows = [_row(n, runs) for n, runs in sorted(by_preset.items(), key=lambda kv: _mean(kv[1]))]
    rows += [_row(f"**{label}**", runs) for label, runs in sorted(by_search.items())]
    verdicts = [_verdict(label, runs, best_preset, by_preset[best_preset], key)
                for label, runs in sorted(by_search.items()) for key in ("ne", "test_ne")]
    overall = min(by_search, key=lambda k: _mean(by_search[k]))
    verdicts.append("best searched architecture over the search seeds (by validation NE), on the test split: "
                    + _verdict(overall, by_search[overall], best_preset, by_preset[best_preset], "test_ne"))
    wins = sum(_mean(by_preset[best_preset], "test_ne") > _mean(runs, "test_ne") for runs in by_search.values())
    verdicts.append(f"searches whose result has a lower test NE than {best_preset}: {wins} of {len(by_search)}")
    verdicts.append(_dominance(by_preset, by_search, searched))
    figure = _plot(data, by_preset, searched, by_search)
    return (f"### {data}\n\nPresets: {seeds} training seeds each; the best preset is the one with the best "
            f"mean validation NE. Search: {seeds} search seeds × {trials} trained candidates (TPE, no "
            f"presets, `budget.max_mflops` = the best preset's MFLOPs); per search, its top {top} candidates (single-run validation NE) at ≤ the best "
            f"preset's MFLOPs retrained with the same {seeds} training seeds, the best mean validation "
            f"NE kept. Mean ± std over training seeds; the test split was used by nothing but this "
            f"table.\n\n"
            + head + "\n" + "\n".join(rows) + "\n\n" + "\n".join(f"- {v}" for v in verdicts)
            + (f"\n\n![{data}: Pareto front of the searched trials and the presets]({figure})" if figure else ""))


def _dominance(by_preset: dict, by_search: dict, searched: dict) -> str:
    """Which preset points (mean validation NE, MFLOPs) the search dominates or ties: by the
    retrained results (means over seeds, like the presets) and by the single-run front."""
    def covered(points: list[tuple[float, float]]) -> list[str]:
        return [n for n, runs in by_preset.items()
                if any(x <= runs[0]["mflops"] and y <= _mean(runs) for x, y in points)]

    retrained = covered([(runs[0]["mflops"], _mean(runs)) for runs in by_search.values()])
    front = covered([(r.mflops, r.mean_ne) for rs in searched.values() for r in rs])
    missing = [n for n in by_preset if n not in front]
    return (f"preset points dominated or tied (lower or equal MFLOPs and mean validation NE): by a retrained "
            f"search result {len(retrained)} of {len(by_preset)}; by the searched front {len(front)} of "
            f"{len(by_preset)}" + (f" (not: {', '.join(missing)})" if missing else ""))


def _plot(data: str, by_preset: dict, searched: dict, by_search: dict) -> str | None:
    import plotly.graph_objects as go

    from unirank.dashboard.png import write_png
    from unirank.search.pareto import pareto_front

    points = [(r.mflops, r.mean_ne) for rs in searched.values() for r in rs]
    front = sorted(points[i] for i in pareto_front(points))
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="searched (all seeds)", mode="markers", x=[p[0] for p in points],
                             y=[p[1] for p in points], marker=dict(size=7, color="steelblue", opacity=0.6)))
    fig.add_trace(go.Scatter(name="search front", mode="lines+markers", line=dict(shape="hv", color="crimson"),
                             x=[p[0] for p in front], y=[p[1] for p in front]))
    fig.add_trace(go.Scatter(name="presets (mean of seeds)", mode="markers+text", textposition="top center",
                             x=[runs[0]["mflops"] for runs in by_preset.values()],
                             y=[_mean(runs) for runs in by_preset.values()],
                             text=list(by_preset), marker=dict(size=12, symbol="diamond", color="darkorange")))
    fig.add_trace(go.Scatter(name="search results, retrained (mean of seeds)", mode="markers",
                             x=[runs[0]["mflops"] for runs in by_search.values()],
                             y=[_mean(runs) for runs in by_search.values()],
                             text=list(by_search), marker=dict(size=13, symbol="star", color="seagreen")))
    # zoom on the presets' neighbourhood: far worse candidates (dropped key features) are cut off
    preset_ne = [_mean(runs) for runs in by_preset.values()]
    low = min([*preset_ne, *(p[1] for p in points)])
    high = max(preset_ne) + 2 * (max(preset_ne) - low)
    hidden = sum(p[1] > high for p in points)
    fig.update_layout(title=f"{data}: mean validation NE vs MFLOPs"
                      + (f" ({hidden} searched points above the chart)" if hidden else ""),
                      xaxis_title="MFLOPs per example", yaxis_title="mean validation NE", xaxis_type="log",
                      yaxis_range=[low - 0.1 * (high - low), high], template="plotly_white")
    path = write_png(fig, REPO / "benchmarks" / "figures" / f"run_all_{data}.png", 1000, 560)
    return str(path.relative_to(REPO)) if path else None


def _unit_minutes(workers: int) -> float:
    """Wall-clock the saved units took: training seconds / workers + search seconds."""
    trainings = sum(json.loads(f.read_text()).get("seconds") or 0 for f in OUT.glob("*/*/*.json")
                    if f.parent.name in ("presets", "retrain"))
    searches = sum(json.loads(f.read_text()).get("seconds") or 0 for f in OUT.glob("*/search-seed*/done.json"))
    return (trainings / workers + searches) / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=24)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--top", type=int, default=3, help="searched candidates retrained per search seed")
    args = parser.parse_args()
    started = time.perf_counter()
    parts = ["## Real data: the search against the hand-designed presets\n",
             "Commands: `python benchmarks/run_all.py` (all of this section); the searches are "
             "`unirank search studies/<data>.yaml --set search.seed=S --set search.presets=[] "
             f"--set budget.trials={args.trials} --set budget.max_mflops=<best preset's MFLOPs>`. Splits: Census-Income random 70/15/15 (seed 0); "
             "MovieLens-100K by time (earliest 70% train, next 15% validation, latest 15% test)."]
    for data in args.data:
        parts.append(run(data, args.seeds, args.trials, args.workers, args.top))
    parts.append(f"\nThis invocation: {(time.perf_counter() - started) / 60:.0f} minutes. Compute the units "
                 f"took when they ran (trainings spread over {args.workers} processes, searches one after "
                 f"another): about {_unit_minutes(args.workers):.0f} minutes; a rerun reuses finished units.")
    write_section("run_all", "\n\n".join(parts))
    print("\n\n".join(parts))


if __name__ == "__main__":
    main()

"""Proxy-screened search vs full-training search at the same wall-clock budget (Census-Income).

    python benchmarks/proxy_search.py [--minutes 6] [--seeds 8] [--pool 48] [--keep 0.125] [--queue-share 0.5] [--gate 0.5] [--scorer finetuned] [--tag TAG] [--section NAME]

Per seed, real `unirank search studies/census.yaml` runs, one after the other on the same
machine, each with `budget.max_wall_minutes` = --minutes covering everything it does (data,
screening, trials), no presets, TPE, 2 concurrent trials:
- full: TPE proposes, every candidate is trained fully;
- screened (one run per --scorer, with --geometry-weight for the finetuned scorer):
  `search.screen` (pool --pool, keep --keep): the warm-up proxy scores the pool first (one
  scoring process per CPU; training rows only) and the best that are predicted
  to finish within --queue-share of the time left are trained fully, fastest first; then TPE
  continues for the rest, each proposal trained only if its proxy score is within the best --gate
  share of the pool's (0: no gate).
Reported: best mean validation NE among trained candidates and the hypervolume of the
(MFLOPs, NE) front against one reference point for all runs (1.1 × the largest MFLOPs seen, NE 1.0),
per seed and as mean ± std over seeds, with paired tests (Wilcoxon signed-rank and paired t) of
each screened arm against full training;
for the screened runs also the screening's seconds and how the predicted training times compare
with the measured ones; and a plot of every run's best NE so far against seconds since it started.
Every invocation trains its own full-training run per seed (run folders carry --tag, default the
date): no run is reused across invocations or variants. Within a tag, finished runs are kept
(under runs/benchmarks/proxy_search/) and not rerun, so a killed benchmark resumes.
"""
from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, unirank_search, write_section  # noqa: E402

CENSUS = SHARED_DATA / "census_income" / "census-income.test.gz"
OUT = REPO / "runs" / "benchmarks" / "proxy_search"


def _arms(args: argparse.Namespace) -> dict[str, tuple[str, float] | None]:
    """Run label → (scorer, geometry weight): full training (None), one screened search per scorer."""
    arms: dict[str, tuple[str, float] | None] = {"full": None}
    for scorer in args.scorer:
        label = f"screened {scorer}" + (f" w={args.geometry_weight:g}" if scorer == "finetuned" and args.geometry_weight else "")
        arms[label] = (scorer, args.geometry_weight)
    return arms


def _run_dir(screen: tuple[str, float] | None, seed: int, args: argparse.Namespace) -> Path:
    settings = f"full-{args.minutes:g}min"
    if screen is not None:
        scorer, weight = screen
        settings = (f"screened-{args.minutes:g}min-pool{args.pool}-keep{args.keep:g}-{scorer}-w{weight:g}"
                    f"-share{args.queue_share:g}" + (f"-gate{args.gate:g}" if args.gate else ""))
    return OUT / args.tag / f"{settings}-seed{seed}"


def _search(mode: str, screen: tuple[str, float] | None, seed: int, args: argparse.Namespace) -> Path:
    out = _run_dir(screen, seed, args)
    if (out / "done.json").is_file():  # resumable: a finished run is kept
        return out
    shutil.rmtree(out, ignore_errors=True)
    sets = [f"data.path={CENSUS}", f"output.dir={out}", f"search.seed={seed}", "search.presets=[]",
            "budget.trials=1000", f"budget.max_wall_minutes={args.minutes}", "search.sampler=tpe",
            "search.cpus_per_trial=1"]
    if screen is not None:
        sets += [f"search.screen.pool={args.pool}", f"search.screen.keep={args.keep}",
                 f"search.screen.scorer={screen[0]}", f"search.screen.geometry_weight={screen[1]}",
                 f"search.screen.queue_share={args.queue_share}", f"search.screen.gate={args.gate or 'null'}"]
    started = time.time()
    done = unirank_search("studies/census.yaml", sets, f"{mode} seed {seed}")
    print(next((line for line in done.stdout.splitlines() if line.startswith(("study", "screening"))), ""), flush=True)
    (out / "done.json").write_text(json.dumps({"started": started, "seconds": time.time() - started}))
    return out


def _history(out: Path, study, searched: list) -> list[tuple[float, float]]:
    """(seconds since the run started, best NE so far) at the end of every trained candidate
    (``searched``: the run's searched records, see ``_searched``)."""
    started = json.loads((out / "done.json").read_text()).get("started")
    if started is None:  # runs from before the start time was recorded: the lock is taken first
        started = (out / "study.db.lock").stat().st_mtime
    trials = study.get_trials(deepcopy=False)
    ends = sorted((trials[r.number].datetime_complete.timestamp() - started, r.mean_ne)
                  for r in searched if trials[r.number].datetime_complete)
    history, best = [], float("inf")
    for seconds, ne in ends:
        best = min(best, ne)
        history.append((seconds, best))
    return history


def _plot(histories: dict, minutes: float, name: str) -> str | None:
    import plotly.graph_objects as go

    from unirank.dashboard.png import write_png

    fig = go.Figure()
    colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
    dashes = ["dot", "solid", "dash", "dashdot"]
    arms = sorted({mode for mode, _ in histories}, key=lambda arm: (arm != "full", arm))
    for (mode, seed), points in sorted(histories.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        xs = [x for x, _ in points] + [minutes * 60]
        ys = [y for _, y in points] + [points[-1][1]]
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", line_shape="hv", name=f"seed {seed} {mode}",
                                 line=dict(color=colours[seed % len(colours)],
                                           dash=dashes[arms.index(mode) % len(dashes)], width=2)))
    best = min(y for points in histories.values() for _, y in points)
    fig.update_layout(title="Census-Income: best validation NE so far (colour: seed; dotted: full training)",
                      xaxis_title="seconds since the search started (data, screening, trials)",
                      yaxis_title="best mean validation NE", yaxis_range=[best - 0.002, best + 0.03],
                      template="plotly_white")
    path = write_png(fig, REPO / "benchmarks" / "figures" / f"{name}.png", 1000, 520)
    return str(path.relative_to(REPO)) if path else None


def _open(out: Path):
    from unirank.search.study import open_study_from_dir

    return open_study_from_dir(out)[0]


def _searched(study) -> list:
    """Trial records of the candidates the search trained (no presets, no twins)."""
    from unirank.search.study import trial_records

    return [r for r in trial_records(study) if r.preset is None and r.same_as_trial is None]


def _screening(study) -> tuple[dict, list[float]]:
    """The study's screening record and measured / predicted training seconds of queued trials."""
    from optuna.trial import TrialState

    ratios = [t.user_attrs["train_seconds"] / t.user_attrs["predicted_train_seconds"]
              for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
              if t.user_attrs.get("predicted_train_seconds") and t.user_attrs.get("train_seconds")]
    return study.user_attrs.get("screening", {}), ratios


def _gate_counts(study) -> str:
    """How the proxy gate treated TPE's proposals after the queue (empty without a gate)."""
    from optuna.trial import TrialState

    gated = [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
             if "proxy" in t.user_attrs and "proxy_rank" not in t.user_attrs]
    if not gated:
        return ""
    rejected = [t for t in gated if t.user_attrs.get("screened_out")]
    uncovered = sum(t.user_attrs["proxy"].get("covered") == 0.0 for t in gated)
    return (f"; gate: {len(gated)} TPE proposals scored ({uncovered} beyond the warmed store), "
            f"{len(rejected)} not trained")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=6.0)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--pool", type=int, default=48)
    parser.add_argument("--keep", type=float, default=0.125)
    parser.add_argument("--queue-share", type=float, default=0.5,
                        help="search.screen.queue_share: the share of the time left the queue may fill")
    parser.add_argument("--gate", type=float, default=0.5,
                        help="search.screen.gate: train a TPE proposal only if scored within this best share of the pool (0: no gate)")
    from unirank.config import ScreenConfig

    parser.add_argument("--scorer", nargs="+", default=[ScreenConfig().scorer],
                        choices=["warmup_loss", "finetuned", "sigeo"], help="one screened search per scorer")
    parser.add_argument("--geometry-weight", type=float, default=ScreenConfig().geometry_weight,
                        help="finetuned scorer's geometry weight")
    parser.add_argument("--tag", default=time.strftime("%Y-%m-%d"),
                        help="run folder tag: a new tag trains every run afresh")
    parser.add_argument("--section", default="proxy_search", help="the BENCHMARKS.md section to write")
    args = parser.parse_args()
    if not CENSUS.is_file():
        sys.exit(f"error: {CENSUS} not found (see ../shared/data/README.md)")
    from unirank.search.pareto import hypervolume_2d

    weights_by_arm = _arms(args)
    arms = list(weights_by_arm)
    from scipy.stats import ttest_rel, wilcoxon
    runs, studies, histories = {}, {}, {}
    for seed in range(args.seeds):
        for arm, weight in weights_by_arm.items():
            out = _search(arm, weight, seed, args)
            studies[(arm, seed)] = _open(out)
            searched = _searched(studies[(arm, seed)])
            runs[(arm, seed)] = [(r.mflops, r.mean_ne) for r in searched]
            histories[(arm, seed)] = _history(out, studies[(arm, seed)], searched)
            best = min(ne for _, ne in runs[(arm, seed)])
            print(f"seed {seed} {arm:>8}: {len(runs[(arm, seed)])} trained, best NE {best:.4f}", flush=True)
    reference = (1.1 * max(x for pts in runs.values() for x, _ in pts), 1.0)
    rows = ["| seed | search | trained candidates | best mean NE | hypervolume (MFLOPs × NE) |", "|---|---|---|---|---|"]
    summary = {arm: ([], []) for arm in arms}
    for (arm, seed), pts in sorted(runs.items(), key=lambda kv: (kv[0][1], arms.index(kv[0][0]))):
        best, hv = min(ne for _, ne in pts), hypervolume_2d(pts, reference)
        summary[arm][0].append(best)
        summary[arm][1].append(hv)
        rows.append(f"| {seed} | {arm} | {len(pts)} | {best:.4f} | {hv:.4f} |")
    for arm, (bests, hvs) in summary.items():
        rows.append(f"| mean ± std | {arm} | | {statistics.mean(bests):.4f} ± {statistics.stdev(bests):.4f} | "
                    f"{statistics.mean(hvs):.4f} ± {statistics.stdev(hvs):.4f} |")
    notes, verdicts = [], []
    for arm in arms[1:]:
        for seed in range(args.seeds):
            info, ratios = _screening(studies[(arm, seed)])
            spent = info.get("warmup_seconds", 0) + info.get("scoring_seconds", 0)
            ratio = (f"; measured / predicted training time of the queued trials: median "
                     f"{statistics.median(ratios):.2f} (min {min(ratios):.2f}, max {max(ratios):.2f})" if ratios else "")
            notes.append(f"- {arm}, seed {seed}: screening {spent:.0f} s (warm-up {info.get('warmup_seconds', 0):.0f} s), "
                         f"{info.get('kept')} queued, {info.get('too_slow', 0)} better-ranked left out as too slow{ratio}"
                         f"{_gate_counts(studies[(arm, seed)])}")
        wins = sum(s < f for s, f in zip(summary[arm][0], summary["full"][0]))
        hv_wins = sum(s > f for s, f in zip(summary[arm][1], summary["full"][1]))
        tests = []
        for what, k in (("best NE", 0), ("hypervolume", 1)):
            a, b = summary[arm][k], summary["full"][k]
            diff = [x - y for x, y in zip(a, b)]
            w_p = wilcoxon(a, b).pvalue if any(diff) else 1.0
            t_p = ttest_rel(a, b).pvalue if statistics.pstdev(diff) > 0 else 1.0
            tests.append(f"{what}: mean difference {statistics.mean(diff):+.4f}, Wilcoxon p = {w_p:.3f}, "
                         f"paired t p = {t_p:.3f}")
        verdicts.append(f"*{arm}* had the better best NE than full training in {wins} of {args.seeds} seeds and "
                        f"the larger hypervolume in {hv_wins} of {args.seeds} (paired over seeds — "
                        + "; ".join(tests) + ").")
    weights = ", ".join(f"{label}" for label in arms[1:])
    gate = f"gate {args.gate:g}" if args.gate else "no gate"
    body = (f"## Proxy-screened vs full-training search at equal wall-clock (Census-Income; queue share "
            f"{args.queue_share:g}, {gate})\n\n"
            f"Each run: `unirank search studies/census.yaml` with `budget.max_wall_minutes={args.minutes:g}` "
            f"(covering data, screening and trials), TPE, no presets, 2 concurrent one-CPU trials, one after "
            f"the other on the same machine; every run of this table was trained for it (tag `{args.tag}`). "
            f"*screened* adds `search.screen` (pool {args.pool}, keep "
            f"{args.keep:.0%}, {weights}, queue share {args.queue_share:g}; warm-up and "
            f"fine-tuning defaults; the proxy reads training rows only): the queue is the best by proxy score predicted to end within "
            f"{args.queue_share:.0%} of the time left, trained fastest first; TPE has the rest"
            + (f", and trains a proposal only if its proxy score is within the best {args.gate:.0%} of the pool's"
               if args.gate else "") + ". Reference point for the "
            f"hypervolume: ({reference[0]:.3f} MFLOPs, NE 1.0). " + " ".join(verdicts) + "\n\n"
            + "\n".join(rows) + "\n\nScreening per run:\n" + "\n".join(notes))
    plot = _plot(histories, args.minutes, args.section)
    if plot:
        body += f"\n\n![best NE so far against wall-clock seconds, every run]({plot})"
    print(body)
    write_section(args.section, body)


if __name__ == "__main__":
    main()

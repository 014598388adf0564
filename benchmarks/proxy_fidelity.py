"""How well each proxy ranks architectures: Kendall τ / Spearman ρ against full training.

    python benchmarks/proxy_fidelity.py [--data synthetic census movielens] [--archs 36] [--workers 2]

Per dataset: sample ``--archs`` distinct architectures from the study's space (Optuna
RandomSampler, seed 0), train each fully with the study's protocol (one CPU thread per run;
validation NE = ground truth), and compute on the same candidates, from one warmed supernet:
- the three scorers of ``unirank.proxies.warmup``: ``warmup_loss`` (inherited weights),
  ``finetuned`` (after 4% of a full training's steps; w = 0 and w = 0.25 geometry weight) and
  ``sigeo`` (the paper's ZiCo + Fisher–Rao − training loss, no fine-tuning);
- the zero-cost proxies at initialisation (grad_norm, snip, synflow, naswot, zico, fisher, params);
- the low-fidelity baseline: train alone from initialisation for as many steps as the warm-up
  proxy spends per candidate (its share of the warm-up plus its fine-tuning), take its NE on the
  proxy's held-out training rows.
No proxy reads a validation or test row (``unirank/proxies/rows.py``). The scorer is chosen on
the first dataset of ``--data`` (synthetic by default) and reported on the others.
Cost per candidate = its seconds (warm-up: the shared warm-up divided by the pool size, plus
scoring), as a fraction of the mean full-training seconds. Every proxy is oriented so that lower
predicts better; τ and ρ are against validation NE (1.0 = same order).
Studies: `studies/census.yaml`, `studies/movielens.yaml`, `studies/quickstart.yaml` (synthetic;
``synthetic_history``: with a 20-event history, so sequence encoders are among the candidates).
"""
from __future__ import annotations

import argparse
import statistics
from dataclasses import replace
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, write_section  # noqa: E402

CENSUS = SHARED_DATA / "census_income" / "census-income.test.gz"
MOVIELENS = SHARED_DATA / "movielens_100k"
# The scorers compared (label → WarmupConfig fields); each reads the same warmed supernet.
SCORERS = {"warmup_loss": {"scorer": "warmup_loss"},
           "finetuned (w=0)": {"scorer": "finetuned", "geometry_weight": 0.0},
           "finetuned (w=0.25)": {"scorer": "finetuned", "geometry_weight": 0.25},
           "sigeo (paper)": {"scorer": "sigeo"}}
STUDIES = {"census": ("census.yaml", [f"data.path={CENSUS}"]), "synthetic": ("quickstart.yaml", []),
           "movielens": ("movielens.yaml", [f"data.path={MOVIELENS}"]),
           # the synthetic data with a 20-event history: the space's sequence encoders are sampled too
           "synthetic_history": ("quickstart.yaml", ["data.history_length=20"])}


def _config(name: str):
    from unirank.config import load_config

    study, overrides = STUDIES[name]
    return load_config(REPO / "studies" / study, overrides)


def _full(job: tuple[str, str, dict]) -> dict:
    """Full training of one candidate; cached under runs/benchmarks/proxy_fidelity/ (by arch)."""
    import hashlib
    import json

    data, cache, arch = job
    key = hashlib.sha256(json.dumps([data, arch], sort_keys=True).encode()).hexdigest()[:16]
    saved = REPO / "runs" / "benchmarks" / "proxy_fidelity" / data / f"{key}.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    result = _train_fully(data, cache, arch)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(result))
    return result


def _train_fully(data: str, cache: str, arch: dict) -> dict:
    import torch

    from unirank.data.dataset import load_prepared
    from unirank.models import build_model
    from unirank.space.arch import ArchSpec
    from unirank.train import fit, seed_everything

    torch.set_num_threads(1)
    dataset = load_prepared(Path(cache))
    cfg = _config(data)
    seed_everything(cfg.train.seed)
    started = time.perf_counter()
    result = fit(build_model(ArchSpec.model_validate(arch), dataset.features), dataset, cfg.train)
    return {"ne": result.val.mean_ne, "seconds": time.perf_counter() - started,
            "examples": result.epochs_run * len(dataset.splits["train"])}


def _cheap(job: tuple[str, str, dict, int]) -> dict:
    """Zero-cost proxies and the short-training baseline of one candidate (one thread)."""
    import torch

    from unirank.data.dataset import load_prepared
    from unirank.models import build_model
    from unirank.proxies.short_train import short_train_ne
    from unirank.proxies.zero_cost import ZERO_COST
    from unirank.space.arch import ArchSpec

    torch.set_num_threads(1)
    data, cache, arch_dict, steps = job
    dataset = load_prepared(Path(cache))
    cfg = _config(data)
    arch = ArchSpec.model_validate(arch_dict)
    batches = list(dataset.splits["train"].batches(cfg.train.batch_size,
                                                    torch.Generator().manual_seed(0)))[:4]
    out = {}
    for name, proxy in ZERO_COST.items():
        torch.manual_seed(0)
        model = build_model(arch, dataset.features)
        started = time.perf_counter()
        out[name] = (proxy(model, batches), time.perf_counter() - started)
    started = time.perf_counter()
    ne = short_train_ne(arch, dataset, steps, cfg.train.batch_size, cfg.train.lr)
    out[f"short_train_{steps}_steps"] = (ne, time.perf_counter() - started)
    return out


def _sample(cfg, features, n: int, seed: int = 0):
    import optuna

    from unirank.space.search_space import SearchSpace

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = SearchSpace(cfg.space, features)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    archs = []
    while len(archs) < n:
        trial = study.ask()
        arch = space.suggest(trial)
        study.tell(trial, 0.0)
        if arch not in archs:
            archs.append(arch)
    return archs


def run(data: str, n: int, workers: int) -> tuple[str, dict]:
    import torch
    from scipy.stats import kendalltau, spearmanr

    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.proxies.warmup import WarmupConfig, WarmupScorer, finetune_steps

    cfg = _config(data)
    cache = prepare_dataset(cfg.data, REPO / "runs" / "benchmarks" / "cache")
    dataset = load_prepared(cache)
    archs = _sample(cfg, dataset.features, n)
    jobs = [(data, str(cache), a.to_dict()) for a in archs]
    print(f"[{data}] {len(archs)} architectures: full training with {workers} workers …", flush=True)
    with ProcessPoolExecutor(workers) as pool:
        full = list(pool.map(_full, jobs))
    torch.set_num_threads(1)
    warm_cfg = WarmupConfig(batch_size=cfg.train.batch_size, max_epochs=cfg.train.max_epochs)
    scorer = WarmupScorer(dataset, archs, warm_cfg)  # one warm-up shared by every scorer
    scored = {}
    for label, fields in SCORERS.items():
        scorer.cfg = replace(warm_cfg, **fields)
        started = time.perf_counter()
        scored[label] = (scorer.score_pool(workers=1), time.perf_counter() - started)
    stats = scorer.stats
    # The short-training baseline gets the finetuned proxy's training steps per candidate: its
    # share of the warm-up's path-steps plus the fine-tuning steps (equal training compute).
    steps = finetune_steps(warm_cfg, len(dataset.splits["train"])) + -(-stats.paths_trained // len(archs))
    with ProcessPoolExecutor(workers) as pool:
        cheap = list(pool.map(_cheap, [(*job, steps) for job in jobs]))
    ne = [f["ne"] for f in full]
    full_seconds = statistics.mean(f["seconds"] for f in full)
    proxies = {label: ([scores[a]["score"] for a in archs], (stats.seconds + seconds) / len(archs))
               for label, (scores, seconds) in scored.items()}
    for name in cheap[0]:
        proxies[name] = ([c[name][0] for c in cheap], statistics.mean(c[name][1] for c in cheap))
    rows = []
    for name, (values, seconds) in proxies.items():
        tau = kendalltau(values, ne).statistic
        rho = spearmanr(values, ne).statistic
        rows.append((name, tau, rho, seconds / full_seconds))
        print(f"[{data}] {name:>30}: τ {tau:+.3f}  ρ {rho:+.3f}  cost {100 * seconds / full_seconds:.2f}% of full",
              flush=True)
    best = max((r for r in rows if r[0] in SCORERS), key=lambda r: r[1])
    figure = _scatter(data, ne, proxies[best[0]][0], best[1], best[0])
    summary = {"rows": rows, "full_seconds": full_seconds, "stats": stats, "n": len(archs), "warm_cfg": warm_cfg,
               "figure": figure, "finetune": finetune_steps(warm_cfg, len(dataset.splits["train"])),
               "full_examples": statistics.mean(f["examples"] for f in full),
               "scoring": {label: seconds for label, (_, seconds) in scored.items()}}
    return data, summary


def _scatter(data: str, ne: list[float], proxy: list[float], tau: float, label: str) -> str | None:
    import plotly.graph_objects as go

    from unirank.dashboard.png import write_png

    fig = go.Figure(go.Scatter(x=proxy, y=ne, mode="markers", marker=dict(size=9)))
    fig.update_layout(title=f"{data}: {label} score vs full-training NE (Kendall τ {tau:.3f})",
                      xaxis_title=f"{label} score (lower predicts better)",
                      yaxis_title="full-training validation NE", template="plotly_white")
    path = write_png(fig, REPO / "benchmarks" / "figures" / f"proxy_fidelity_{data}.png", 900, 520)
    return str(path.relative_to(REPO)) if path else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["synthetic", "census", "movielens"], choices=list(STUDIES))
    parser.add_argument("--archs", type=int, default=36)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--section", default="proxy_fidelity", help="BENCHMARKS.md section to write")
    args = parser.parse_args()
    for name, needed in (("census", CENSUS), ("movielens", MOVIELENS)):
        if name in args.data and not needed.exists():
            sys.exit(f"error: {needed} not found (see ../shared/data/README.md)")
    results = [run(data, args.archs, args.workers)[1] for data in args.data]
    chooser = args.data[0]
    by_data = {d: {r[0]: r[1] for r in s["rows"]} for d, s in zip(args.data, results)}
    chosen = max(SCORERS, key=lambda label: by_data[chooser][label])
    from unirank.config import ScreenConfig
    default_w = ScreenConfig().geometry_weight
    alone = len(args.data) == 1 and args.section != "proxy_fidelity"
    title = f"on {chooser}" if alone else "how well cheap scores rank architectures"
    parts = [f"## Proxy fidelity: {title}\n",
             "Kendall τ and Spearman ρ between each proxy and the fully trained validation NE of the same "
             "architectures (randomly sampled from the study's space; every proxy oriented so that lower "
             "predicts better, so +1 is a perfect ranking). No proxy reads a validation or test row: the "
             "loss terms and the short-training baseline use rows held out of the *training* split. Cost = "
             "seconds per candidate as a share of one full training (same machine, one thread each; the "
             "warm-up is shared by the pool and divided by its size).",
             (f"\n**Choosing the default scorer out of sample.** It is chosen on **{chooser}** only (the best τ "
              f"there: `{chosen}`) and reported on the others:\n" if not alone else
              f"\nThe default scorer (`finetuned`, w = {default_w}) was chosen on the flat synthetic data "
              f"(section `proxy_fidelity`); here it is reported on **{chooser}**, not chosen:\n"),
             "| scorer | " + " | ".join(f"τ {d}{' (chooses)' if d == chooser and not alone else ''}"
                                        for d in args.data) + " |",
             "|---|" + "---|" * len(args.data)]
    for label in SCORERS:
        parts.append(f"| {label} | " + " | ".join(f"{by_data[d][label]:+.3f}" for d in args.data) + " |")
    for data, s in zip(args.data, results):
        w = s["warm_cfg"]
        parts.append(f"\n### {data} ({s['n']} architectures)\n\n"
                     f"Full training: {s['full_seconds']:.1f} s and {s['full_examples']:,.0f} examples per candidate "
                     f"on average. Warm-up: {w.fraction:.0%} of the training rows (after the held-out rows) × "
                     f"{w.epochs} epoch(s), {w.rule} rule, {s['stats'].steps} steps ({s['stats'].paths_trained} "
                     f"path-steps) in {s['stats'].seconds:.1f} s; the finetuned scorer then trains each candidate "
                     f"{s['finetune']} steps from its inherited weights ({w.finetune_fraction:.0%} of the "
                     f"{w.max_epochs}-epoch training's steps). Scoring all {s['n']} candidates: "
                     + ", ".join(f"{label} {sec:.1f} s" for label, sec in s["scoring"].items()) + ".\n\n"
                     "| proxy | Kendall τ | Spearman ρ | cost / full training |\n|---|---|---|---|")
        for name, tau, rho, cost in sorted(s["rows"], key=lambda r: -r[1]):
            parts.append(f"| {name} | {tau:+.3f} | {rho:+.3f} | {100 * cost:.2f}% |")
        if s["figure"]:
            parts.append(f"\n![{data}: best scorer vs full-training NE]({s['figure']})")
    write_section(args.section, "\n".join(parts))
    print(f"best scorer on {chooser}: {chosen}" + ("" if alone else " (the default's choice)"))


if __name__ == "__main__":
    main()

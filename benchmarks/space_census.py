"""Train every preset on Census-Income with one protocol; write the baseline table.

    python benchmarks/space_census.py [--seeds 3] [--workers 2]

Protocol: studies/census.yaml's data and train sections (random 70/15/15 split, seed 0;
AdamW lr 1e-3, batch 512, ≤ 8 epochs, early stopping on validation NE, patience 2), one CPU
thread per run. Reports validation metrics; mean ± std over seeds (model init and batch order).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, mean_std, write_section  # noqa: E402

CENSUS = SHARED_DATA / "census_income" / "census-income.test.gz"


def _run(job: tuple[str, int, str]) -> dict:
    import torch

    from unirank.config import load_config
    from unirank.data.dataset import load_prepared
    from unirank.models import build_model
    from unirank.proxies.cost import measure_cost
    from unirank.space import get_preset
    from unirank.train import fit, seed_everything

    name, seed, cache = job
    torch.set_num_threads(1)
    cfg = load_config(REPO / "studies" / "census.yaml", [f"data.path={CENSUS}"])
    dataset = load_prepared(Path(cache))
    arch = get_preset(name)
    seed_everything(seed)
    model = build_model(arch, dataset.features)
    started = time.perf_counter()
    result = fit(model, dataset, cfg.train.model_copy(update={"seed": seed}))
    cost = measure_cost(arch, dataset.features)
    return {"name": name, "seed": seed, "ne": result.val.mean_ne,
            "auc": {k: v["pooled_auc"] for k, v in result.val.objectives.items()},
            "mflops": cost.mflops, "params": cost.params, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if not CENSUS.is_file():
        sys.exit(f"error: {CENSUS} not found (see ../shared/data/README.md)")

    from unirank.config import load_config
    from unirank.data.dataset import prepare_dataset
    from unirank.space import PRESETS as ALL

    PRESETS = {n: a for n, a in ALL.items() if a.sequence is None}  # Census has no behaviour sequence
    cfg = load_config(REPO / "studies" / "census.yaml", [f"data.path={CENSUS}"])
    cache = prepare_dataset(cfg.data, REPO / "runs" / "benchmarks" / "cache")
    jobs = [(name, seed, str(cache)) for name in PRESETS for seed in range(args.seeds)]
    with ProcessPoolExecutor(args.workers) as pool:
        results = []
        for result in pool.map(_run, jobs):
            print(f"{result['name']:>18} seed {result['seed']}: NE {result['ne']:.4f} "
                  f"AUC {result['auc']} ({result['seconds']:.0f} s)", flush=True)
            results.append(result)
    rows = ["| preset | mean NE | AUC income_50k | AUC never_married | MFLOPs | params |",
            "|---|---|---|---|---|---|"]
    by_name = {n: [r for r in results if r["name"] == n] for n in PRESETS}
    for name, runs in sorted(by_name.items(), key=lambda kv: statistics.mean(r["ne"] for r in kv[1])):
        rows.append(f"| {name} | {mean_std([r['ne'] for r in runs])} | "
                    f"{mean_std([r['auc']['income_50k'] for r in runs])} | "
                    f"{mean_std([r['auc']['never_married'] for r in runs])} | "
                    f"{runs[0]['mflops']:.4f} | {runs[0]['params']:,} |")
    body = (f"## Census-Income: the presets (baselines the search must beat)\n\n"
            f"Validation metrics, mean ± std over {args.seeds} seeds; domains = `sex`; AUC per objective "
            f"is the example-weighted mean over the two domains. Protocol: `studies/census.yaml`.\n\n"
            + "\n".join(rows))
    print("\n".join(rows))
    write_section("space_census", body)


if __name__ == "__main__":
    main()

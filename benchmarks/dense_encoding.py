"""How the dense features enter the model: one row (the presets' way) or a row each.

    python benchmarks/dense_encoding.py [--tuned-from TAG] [--data census movielens synthetic]
        [--seeds 5] [--workers 2]

Per dataset, the best tuned preset of `search_vs_presets` run TAG (lowest mean validation NE of
its tunings; its seed-0 training values) trained from ``--seeds`` training seeds with
``embedding.dense_encoding`` linear (the preset as it is), ``each`` (x·v + b per feature) and
``periodic`` (learned sine/cosine frequencies, Gorishniy et al. 2022); a preset with DLRM's
bottom MLP loses it for the two per-feature encodings (the bottom MLP makes one row). Paired by
training seed; the test split is read once per training. The encodings' constants (16
frequencies, initial scale 0.1) were fixed before any run and are the same on every dataset.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, machine, mean_std, train_and_test, write_section  # noqa: E402
from benchmarks.search_vs_presets import DATA, RUNS, _config  # noqa: E402

ENCODINGS = ("linear", "each", "periodic")


def best_tuned(tuned: Path) -> tuple[str, dict]:
    """(preset, its seed-0 training values): the preset with the lowest mean validation NE."""
    runs: dict[str, list[dict]] = {}
    for p in tuned.glob("*.json"):
        run = json.loads(p.read_text())
        runs.setdefault(run["preset"], []).append(run)
    if not runs:
        sys.exit(f"error: no tuned presets under {tuned} (run search_vs_presets.py first)")
    name = min(runs, key=lambda n: statistics.mean(r["ne"] for r in runs[n]))
    return name, next(r["train"] for r in runs[name] if r["seed"] == 0)


def variant(name: str, encoding: str):
    from unirank.space import PRESETS
    from unirank.space.arch import ArchSpec

    raw = PRESETS[name].to_dict()
    if encoding != "linear":
        raw["embedding"] = {**raw["embedding"], "dense_encoding": encoding, "dense_bottom": None}
    return ArchSpec.from_dict(raw)


def _train(job: tuple) -> dict:
    data, name, encoding, seed, train, dest = job
    if Path(dest).is_file():
        return json.loads(Path(dest).read_text())
    import torch

    torch.set_num_threads(1)
    run = train_and_test(_config(data), variant(name, encoding), Path(dest).parent.parent / "cache", seed, **train)
    out = {"encoding": encoding, "seed": seed, **{k: run[k] for k in ("val_ne", "test_ne", "test_auc", "mflops")},
           "machine": machine()}
    Path(dest).write_text(json.dumps(out))
    return out


def report(data: str, name: str, train: dict, results: list[dict]) -> str:
    by = {e: sorted((r for r in results if r["encoding"] == e), key=lambda r: r["seed"]) for e in ENCODINGS}
    rows = []
    for e in ENCODINGS:
        runs = by[e]
        gains = [r["test_ne"] - b["test_ne"] for r, b in zip(runs, by["linear"])]
        rows.append(f"| {e} | {runs[0]['mflops']:.3f} | {mean_std([r['val_ne'] for r in runs])} | "
                    f"{mean_std([r['test_ne'] for r in runs])} | {mean_std([r['test_auc'] for r in runs])} | "
                    + ("– | – |" if e == "linear" else
                       f"{mean_std(gains)} | {sum(g < 0 for g in gains)} of {len(gains)} |"))
    return (f"### {data}: {name}, training values {train}\n\n"
            "| dense_encoding | MFLOPs | val NE | test NE | pooled test AUC | test NE − linear's (paired) | "
            "seeds better in test NE |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tuned-from", default="s7", help="the search_vs_presets run whose tuned presets to use")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    from unirank.data.dataset import prepare_dataset

    root = REPO / "runs" / "benchmarks" / "dense_encoding"
    chosen = {d: best_tuned(RUNS / args.tuned_from / d / "tuned")
              for d in args.data}
    jobs = []
    for data, (name, train) in chosen.items():
        prepare_dataset(_config(data).data, root / "cache")  # once, before the workers read it
        (root / data).mkdir(parents=True, exist_ok=True)
        jobs += [(data, name, e, s, train, str(root / data / f"{e}-{s}.json")) for s in range(args.seeds) for e in ENCODINGS]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(_train, jobs))
    parts = ["## Dense features as one row or a row each (`embedding.dense_encoding`)",
             f"`python benchmarks/dense_encoding.py` (protocol in its docstring): the best tuned preset of "
             f"`search_vs_presets` run `{args.tuned_from}` per dataset, {args.seeds} training seeds per encoding."]
    parts[-1] += f" Trainings ran on: {'; '.join(sorted({r['machine'] for r in results}))} (one thread each)."
    for data, (name, train) in chosen.items():
        parts.append(report(data, name, train, [r for r, j in zip(results, jobs) if j[0] == data]))
    print("\n\n".join(parts))
    write_section("dense_encoding", "\n\n".join(parts))


if __name__ == "__main__":
    main()

"""Training speed of the two embedding engines on CPU: plain PyTorch tables against torchrec's.

    python benchmarks/embedding_engines.py [--repeats 3] [--threads 2]

The same model (``build_model(arch, features, engine=…)``: same seed, same weights, same
optimizer) trained one epoch with ``unirank.train.fit`` on the quickstart data — flat (DCNv2,
every table single-hot: torchrec's EmbeddingBagCollection) and with a 20-event history (DIN: the
history through torchrec's EmbeddingCollection, jagged) — the engines alternating, median of
``--repeats`` runs each. The engine the search and ``unirank train`` use on CPU is chosen here.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402

CASES = {"DCNv2, flat (8 single-hot features)": ("dcnv2", []),
         "DIN, 20-event history": ("din", ["data.history_length=20"])}


def _speed(preset: str, overrides: list[str], engine: str) -> float:
    from unirank.config import load_config
    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.models import build_model
    from unirank.space import PRESETS
    from unirank.train import fit, seed_everything

    cfg = load_config(REPO / "studies" / "quickstart.yaml", overrides)
    dataset = load_prepared(prepare_dataset(cfg.data, REPO / "runs" / "benchmarks" / "cache"))
    seed_everything(0)
    model = build_model(PRESETS[preset], dataset.features, engine=engine)
    result = fit(model, dataset, cfg.train.model_copy(update={"max_epochs": 1}))
    return result.examples_per_second


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for label, (preset, overrides) in CASES.items():
        runs = {"plain": [], "torchrec": []}
        for r in range(args.repeats):
            for engine in (("plain", "torchrec") if r % 2 == 0 else ("torchrec", "plain")):
                runs[engine].append(_speed(preset, overrides, engine))
                print(f"{label} · {engine}: {runs[engine][-1]:,.0f} examples/s", flush=True)
        plain, trec = (statistics.median(runs[e]) for e in ("plain", "torchrec"))
        rows.append(f"| {label} | {plain:,.0f} | {trec:,.0f} | {trec / plain:.2f} | "
                    f"{', '.join(f'{v:,.0f}' for v in runs['plain'])} / {', '.join(f'{v:,.0f}' for v in runs['torchrec'])} |")
        print(rows[-1], flush=True)
    write_section("embedding_engines", "\n".join([
        "## Embedding engines on CPU: plain PyTorch tables against torchrec's",
        "",
        f"`python benchmarks/embedding_engines.py` (protocol in its docstring): one epoch of `fit` on the quickstart "
        f"data, {args.threads} threads, the engines alternating, median of {args.repeats}.",
        "",
        "| model | plain examples/s | torchrec examples/s | torchrec / plain | runs (plain / torchrec) |",
        "|---|---|---|---|---|",
        *rows]))


if __name__ == "__main__":
    main()

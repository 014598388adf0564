"""The fused attention kernel against the explicit matmuls it replaced: one `fit` epoch of BST and
InterFormer on MovieLens-100K with users' histories.

    python benchmarks/attention_kernel.py [--presets bst interformer] [--repeats 3] [--threads 2]
        [--device cpu|cuda] [--tag NAME]

Both sides train the same preset (``studies/movielens_history.yaml``: 50 events, 70,000 training
rows) for one epoch with the study's training values, the same seed and order, evaluated on
validation 4 times in the epoch with calibration (the search protocol, ``--train-space
calibrated``); the baseline runs every attention as explicit matmul → mask → softmax → matmul
(``unirank.models.attend.explicit_attention``, the code before the fused kernel), unirank calls
``scaled_dot_product_attention``. Reported: the training epoch's examples per second (no
evaluation) and the whole `fit` wall (training and its validation passes), median of ``--repeats``
alternating runs, and the validation NE each side reached (the same math: equal up to float
rounding). On a GPU the training is float32 (what the search benchmarks use).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402
from benchmarks.search_vs_presets import _config  # noqa: E402


def _epoch(dataset, cfg, preset: str, explicit: bool, device: str) -> dict:
    from unirank.models import build_model
    from unirank.models.attend import explicit_attention
    from unirank.space import PRESETS
    from unirank.train import fit, seed_everything

    seed_everything(0)
    model = build_model(PRESETS[preset], dataset.features)
    began = time.perf_counter()
    with explicit_attention() if explicit else nullcontext():
        result = fit(model, dataset, cfg.train.model_copy(update={
            "max_epochs": 1, "seed": 0, "device": device, **({"precision": "fp32"} if device != "cpu" else {})}))
    return {"wall": time.perf_counter() - began, "eps": result.examples_per_second, "ne": result.val.mean_ne}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["bst", "interformer"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tag", help="a section of its own (e.g. per machine); default: attention_kernel_<device>")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from unirank.data.dataset import load_prepared, prepare_dataset

    cfg = _config("movielens_history", "calibrated")  # the search protocol: 4 calibrated validations an epoch
    dataset = load_prepared(prepare_dataset(cfg.data, REPO / "runs" / "benchmarks" / "attention_kernel" / "cache"))
    rows = []
    for preset in args.presets:
        runs = {True: [], False: []}
        for r in range(args.repeats):
            for explicit in (True, False):
                runs[explicit].append(_epoch(dataset, cfg, preset, explicit, args.device))
                side = "explicit" if explicit else "fused"
                print(f"{preset} run {r} {side}: {runs[explicit][-1]['eps']:,.0f} ex/s, "
                      f"fit {runs[explicit][-1]['wall']:.1f} s, val NE {runs[explicit][-1]['ne']:.5f}", flush=True)
        med = {e: {k: statistics.median(x[k] for x in runs[e]) for k in ("eps", "wall", "ne")} for e in runs}
        rows.append(f"| {preset} | {med[True]['eps']:,.0f} | {med[False]['eps']:,.0f} | "
                    f"**{med[False]['eps'] / med[True]['eps']:.2f}×** | {med[True]['wall']:.1f} | "
                    f"{med[False]['wall']:.1f} | **{med[True]['wall'] / med[False]['wall']:.2f}×** | "
                    f"{med[True]['ne']:.5f} / {med[False]['ne']:.5f} |")
    where = (f"{args.threads} thread{'s' * (args.threads > 1)}" if args.device == "cpu"
             else f"{args.device}, float32")
    body = (f"## The fused attention kernel against explicit matmuls ({args.device})\n\n"
            "`python benchmarks/attention_kernel.py` (protocol in its docstring): one `fit` epoch on "
            f"movielens_history (70,000 training rows, 50 events), batch {cfg.train.batch_size}, {where}, "
            f"median of {args.repeats} alternating runs; the baseline is the explicit form the code had before.\n\n"
            "| preset | explicit: training ex/s | fused: training ex/s | speed-up | explicit: fit s | fused: fit s "
            "| speed-up (fit, with 4 calibrated validations) | val NE explicit / fused |\n"
            "|---|---|---|---|---|---|---|---|\n" + "\n".join(rows))
    print(body)
    write_section(args.tag or f"attention_kernel_{args.device}", body)


if __name__ == "__main__":
    main()

"""Training throughput: unirank's training loop vs a plain hand-written PyTorch loop, same run.

    python benchmarks/train_throughput.py                    # CPU: presets on the quickstart data
    python benchmarks/train_throughput.py --criteo           # GPU: unirank train vs the expert anchor
    python benchmarks/train_throughput.py --mdmo             # GPU: MMoE, 3 domains × 2 objectives

CPU mode: for each preset, the same model (``build_model``) is trained for one epoch by
``unirank.train.fit`` and by a hand-written loop (AdamW, masked BCE, shuffled index batches),
alternating, ``--repeats`` times; medians and the ratio unirank/hand-written are reported, plus
the share of a step spent producing the batch (the data path).

Criteo mode (CUDA): in one run, the expert's hand-written loop
(``../shared/bench/gpu_anchor_sparse.py``, run unchanged in this process, both embedding
optimizers) and ``unirank train`` (as a user runs it) of ``benchmarks/dcnv2_criteo.json`` exported
with ``benchmarks/criteo_gpu.yaml``, with the same embedding optimizers; the ratio is unirank's
examples/s over the anchor's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402
from unirank.config import SyntheticDataConfig, TrainConfig  # noqa: E402
from unirank.data.dataset import build_dataset  # noqa: E402
from unirank.models import build_model  # noqa: E402
from unirank.space import PRESETS, ArchSpec  # noqa: E402
from unirank.train.fit import fit, seed_everything  # noqa: E402


def hand_written_epoch(model: nn.Module, split, batch_size: int, lr: float) -> tuple[float, float]:
    """One epoch of the plainest loop; returns (examples/s, seconds spent making batches)."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-5)
    order = torch.randperm(len(split))
    batch_seconds, start = 0.0, time.perf_counter()
    for i in range(0, len(split), batch_size):
        t = time.perf_counter()
        idx = order[i:i + batch_size]
        dense, sparse, domain, labels, mask = (split.dense[idx], split.sparse[idx], split.domain[idx],
                                               split.labels[idx], split.mask[idx])
        batch_seconds += time.perf_counter() - t
        logits = model(dense, sparse, domain)
        loss = (nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none") * mask).sum() / mask.sum()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    return len(split) / seconds, batch_seconds / seconds


def cpu_mode(args) -> None:
    torch.set_num_threads(args.threads)
    dataset = build_dataset(SyntheticDataConfig(source="synthetic", num_rows=args.rows, vocab_size=300))
    cfg = TrainConfig(batch_size=512, lr=1e-3, max_epochs=1, embedding_optimizer="adamw", precision="fp32")
    rows = ["| preset | unirank ex/s | hand-written ex/s | ratio | batch-making share of a step |",
            "|---|---|---|---|---|"]
    for name in args.presets:
        ours, hand, share = [], [], []
        for _ in range(args.repeats):
            seed_everything(0)
            ours.append(fit(build_model(PRESETS[name], dataset.features), dataset, cfg).examples_per_second)
            seed_everything(0)
            speed, batch_share = hand_written_epoch(build_model(PRESETS[name], dataset.features), dataset.train, 512, 1e-3)
            hand.append(speed)
            share.append(batch_share)
        o, h = statistics.median(ours), statistics.median(hand)
        line = f"| {name} | {o:,.0f} | {h:,.0f} | {o / h:.3f} | {statistics.median(share):.1%} |"
        print(line, flush=True)
        rows.append(line)
    body = (f"## Training throughput on CPU ({args.threads} thread(s)), unirank vs hand-written loop\n\n"
            f"Quickstart synthetic data ({args.rows:,} rows, 70% train), batch 512, AdamW, one epoch per run; "
            f"median of {args.repeats} alternating runs each. Ratio = unirank / hand-written (same model).\n\n"
            + "\n".join(rows))
    write_section("train_throughput_cpu", body)


ANCHOR = REPO.parent / "shared" / "bench" / "gpu_anchor_sparse.py"
OPTIMIZERS = ("rowwise_adagrad", "sparse_adam")


def expert_anchor(path: Path, batch: int, steps: int, optimizers=OPTIMIZERS) -> dict[str, dict]:
    """Run the expert's hand-written loop (``../shared/bench/gpu_anchor_sparse.py``: one fused
    table, sparse gradients, row-wise Adagrad or SparseAdam, compiled dense part, bf16, fused Adam)
    in this process, unchanged; it reads its batch size and step count from ``sys.argv``."""
    import importlib.util

    argv, sys.argv = sys.argv, [str(path), str(batch), str(steps)]
    try:
        spec = importlib.util.spec_from_file_location("gpu_anchor_sparse", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return {opt: module.bench(opt) for opt in optimizers}
    finally:
        sys.argv = argv


def unirank_train(bundle: Path, optimizer: str, epochs: int, seed: int = 0, fast_path: bool = True) -> dict:
    """``unirank train BUNDLE --device cuda`` as a user runs it (a subprocess); its metrics.json."""
    import json
    import subprocess

    command = [sys.executable, "-m", "unirank", "train", str(bundle), "--device", "cuda", "--epochs", str(epochs),
               "--restart", "--set", f"embedding_optimizer={optimizer}", "--set", f"seed={seed}",
               "--set", f"fast_path={str(fast_path).lower()}"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"unirank train failed:\n{done.stderr[-3000:]}")
    print(done.stdout.strip(), flush=True)
    return json.loads((bundle / "retrained" / "metrics.json").read_text())


def bf16_matmul_tflops(size: int = 8192) -> float:
    """The card's dense bf16 matrix rate, measured now: median of a size³ product on random data."""
    from triton.testing import do_bench

    a = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(size, size, device="cuda", dtype=torch.bfloat16)
    ms = do_bench(lambda: a @ b, warmup=100, rep=500, return_mode="median")
    return 2 * size ** 3 / ms / 1e9


def train_both_paths(arch_json: str, study_yaml: str, bundle_name: str, args) -> dict:
    """Export ``arch_json`` with ``study_yaml``; ``unirank train`` it per seed on the fast and the
    plain path → {(fast, seed): metrics.json}."""
    from unirank.config import load_config
    from unirank.export.bundle import export_arch_bundle

    cfg = load_config(REPO / "benchmarks" / study_yaml, [f"train.batch_size={args.batch}"])
    bundle = REPO / "runs" / bundle_name
    started = time.perf_counter()
    export_arch_bundle(ArchSpec.load(REPO / "benchmarks" / arch_json), cfg, bundle)
    print(f"bundle written in {time.perf_counter() - started:.0f} s", flush=True)
    return {(fast, seed): unirank_train(bundle, "rowwise_adagrad", args.epochs, seed, fast)
            for seed in range(args.seeds) for fast in (True, False)}


def unirank_rows(runs: dict, anchor: dict, peak: float, args) -> list[str]:
    rows = []
    for fast, label in ((True, "`unirank train`, rowwise_adagrad (fast path)"),
                        (False, "`unirank train --set fast_path=false`, rowwise_adagrad (plain path)")):
        mine = [runs[(fast, s)] for s in range(args.seeds)]
        speed = statistics.median(m["examples_per_second"] for m in mine)
        tflops = statistics.median(m["train_tflops"] for m in mine)
        ne = [m["validation"]["mean_ne"] for m in mine]
        spread = f" ± {statistics.stdev(ne):.4f}" if len(ne) > 1 else ""
        rows.append(f"| {label} | {speed:,.0f} | {tflops * 1e12 / speed * args.batch / 1e9:.1f} | {tflops:.1f} | "
                    f"{tflops / peak:.1%} | **{speed / anchor['examples_per_s']:.2f}×** | {statistics.mean(ne):.4f}{spread} |")
    return rows


def mdmo_mode(args) -> None:
    """A hand-written MMoE loop (benchmarks/mmoe_anchor.py) and ``unirank train`` of the same MMoE
    (3 domains × 2 objectives, Criteo shape), in one run."""
    peak = bf16_matmul_tflops()
    print(f"bf16 matrix rate: {peak:.0f} TFLOP/s", flush=True)
    path = REPO / "benchmarks" / "mmoe_anchor.py"
    anchor = expert_anchor(path, args.batch, args.steps, optimizers=("rowwise_adagrad",))["rowwise_adagrad"]
    print(f"anchor: {anchor}", flush=True)
    runs = train_both_paths("mmoe_criteo.json", "criteo_mdmo_gpu.yaml", "bench-mmoe-criteo", args)
    rows = ["| loop | examples/s | train GFLOPs/step | achieved TFLOP/s | model FLOPs utilisation | / hand-written | "
            f"validation mean NE ({args.seeds} seeds) |", "|---|---|---|---|---|---|---|",
            f"| hand-written MMoE loop (`benchmarks/mmoe_anchor.py`), rowwise_adagrad | {anchor['examples_per_s']:,.0f} | "
            f"{anchor['train_mflops_per_example'] * anchor['batch'] / 1e3:.1f} | {anchor['achieved_tflops']:.1f} | "
            f"{anchor['achieved_tflops'] / peak:.1%} | | |", *unirank_rows(runs, anchor, peak, args)]
    table = "\n".join(rows)
    print(table, flush=True)
    body = ("## Training throughput on GPU: MMoE, 3 domains × 2 objectives (Criteo shape), `unirank train` vs a hand-written loop\n\n"
            f"One run, one GPU: the bf16 matrix rate measured first ({peak:.0f} TFLOP/s, 8192³ product), then "
            "`benchmarks/mmoe_anchor.py` — the same MMoE written by hand the way `../shared/bench/gpu_anchor_sparse.py` "
            "writes DCNv2 (fused table, sparse gradients with row-wise Adagrad, compiled dense part, bf16, fused "
            "Adam; 8 experts 429→512→256, a gate and a 256→64→1 tower per (domain, objective); one resident batch, "
            f"{args.steps} timed steps) — then `unirank train` of `benchmarks/mmoe_criteo.json` exported with "
            "`benchmarks/criteo_mdmo_gpu.yaml` (4M synthetic Criteo-shaped rows, 3 domains, objectives click and "
            f"conversion; unirank's input adds a 16-wide dense row: width 445), batch {args.batch:,}, {args.epochs} "
            f"epochs (early stopping), seeds 0–{args.seeds - 1}, fast and plain path; as in the DCNv2 section.\n\n" + table)
    write_section("train_throughput_gpu_mdmo", body)


def criteo_mode(args) -> None:
    """The expert anchor and ``unirank train`` of the same DCNv2 shape, in one run."""
    anchor_path = Path(args.anchor)
    if not anchor_path.is_file():
        raise SystemExit(f"error: expert anchor not found: {anchor_path} (see ../shared/bench/README.md)")
    peak = bf16_matmul_tflops()
    print(f"bf16 matrix rate: {peak:.0f} TFLOP/s", flush=True)
    anchor = expert_anchor(anchor_path, args.batch, args.steps)
    for opt, result in anchor.items():
        print(f"anchor {opt}: {result}", flush=True)
    runs = train_both_paths("dcnv2_criteo.json", "criteo_gpu.yaml", "bench-dcnv2-criteo", args)
    a = anchor["rowwise_adagrad"]
    rows = ["| loop | examples/s | train GFLOPs/step | achieved TFLOP/s | model FLOPs utilisation | / anchor | "
            f"validation NE ({args.seeds} seeds) |", "|---|---|---|---|---|---|---|"]
    for opt in OPTIMIZERS:
        x = anchor[opt]
        rows.append(f"| expert hand-written loop (`gpu_anchor_sparse.py`), {opt} | {x['examples_per_s']:,.0f} | "
                    f"{x['train_mflops_per_example'] * x['batch'] / 1e3:.1f} | {x['achieved_tflops']:.1f} | "
                    f"{x['achieved_tflops'] / peak:.1%} | | |")
    rows += unirank_rows(runs, a, peak, args)
    table = "\n".join(rows)
    print(table, flush=True)
    body = ("## Training throughput on GPU: `unirank train` vs an expert's hand-written loop (DCNv2, Criteo shape)\n\n"
            "One run, one GPU: the card's dense bf16 matrix rate measured first "
            f"({peak:.0f} TFLOP/s: median of an 8192³ product on random data), then the expert anchor "
            "`../shared/bench/gpu_anchor_sparse.py`, unchanged (one fused "
            "embedding table with per-feature offsets, sparse gradients with row-wise Adagrad or SparseAdam, the "
            "dense part under `torch.compile`, bf16 autocast, fused Adam; 3 full-rank cross layers and MLP "
            "1024-1024-512 in parallel, 13 dense + 26 sparse features × 1M rows, dim 16; one resident batch, "
            f"{args.steps} timed steps after 10 warm-up steps), then `unirank train` of "
            "`benchmarks/dcnv2_criteo.json` (3 full-rank cross layers, then MLP 1024-1024-512, dim 16) exported with "
            "`benchmarks/criteo_gpu.yaml` (4M synthetic Criteo-shaped rows, 1M-row hashed vocabulary per feature), "
            f"batch {args.batch:,}, row-wise Adagrad for the tables, {args.epochs} epochs (early stopping), "
            f"seeds 0–{args.seeds - 1}, once with the fast path (row-wise Adagrad fused into the lookup's backward "
            "as Triton kernels, matmuls padded to tensor-core multiples, the whole step one CUDA graph) and once "
            "with `fast_path=false` (sparse gradients, Python-launched kernels); examples/s = median epoch after "
            "the first (which compiles), median over seeds; validation NE mean ± std over seeds. Achieved TFLOP/s: "
            "the anchor counts its forward+backward with FlopCounterMode; unirank 3 × its forward matmul FLOPs; "
            "utilisation = achieved / the measured matrix rate. The anchor streams no data (one batch on the "
            "device); unirank reads shuffled batches of the 4M rows.\n\n" + table)
    write_section("train_throughput_gpu", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criteo", action="store_true", help="GPU mode (CUDA): DCNv2 vs the expert anchor")
    parser.add_argument("--mdmo", action="store_true", help="GPU mode (CUDA): MMoE 3 domains × 2 objectives")
    parser.add_argument("--presets", nargs="+", default=["shared_bottom_mlp", "dcnv2", "mmoe", "deepfm"])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=65_536)
    parser.add_argument("--steps", type=int, default=50, help="timed steps of the anchor (criteo mode)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs of unirank train (criteo mode)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds of each unirank path (criteo mode)")
    parser.add_argument("--anchor", default=str(ANCHOR), help="the expert anchor script (criteo mode)")
    args = parser.parse_args()
    criteo_mode(args) if args.criteo else mdmo_mode(args) if args.mdmo else cpu_mode(args)


if __name__ == "__main__":
    main()

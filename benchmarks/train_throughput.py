"""Training throughput: unirank's training loop vs a plain hand-written PyTorch loop, same run.

    python benchmarks/train_throughput.py                    # CPU: presets on the quickstart data
    python benchmarks/train_throughput.py --criteo           # GPU: DCNv2 on Criteo-shaped data

CPU mode: for each preset, the same model (``build_model``) is trained for one epoch by
``unirank.train.fit`` and by a hand-written loop (AdamW, masked BCE, shuffled index batches),
alternating, ``--repeats`` times; medians and the ratio unirank/hand-written are reported, plus
the share of a step spent producing the batch (the data path).

Criteo mode (CUDA): 13 dense + 26 sparse features with 1M-row hashed vocabularies, batch 65,536.
The anchor is a plain hand-written DCNv2 (26 nn.Embedding tables, 2 full-rank cross layers, MLP
1024-1024-512) with dense Adam over the full tables, bf16 autocast and torch.compile. unirank
trains the same DCNv2 as an ArchSpec with its engine (row-wise sparse embedding updates, fused
AdamW for dense parameters, bf16, compiled dense part, data on the device). Achieved TFLOP/s =
examples/s × 3 × forward FLOPs per example (forward + backward ≈ 3× forward).
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

from benchmarks._common import write_section  # noqa: E402
from unirank.config import SyntheticDataConfig, TrainConfig  # noqa: E402
from unirank.data.dataset import build_dataset  # noqa: E402
from unirank.models import build_model  # noqa: E402
from unirank.proxies.cost import model_cost  # noqa: E402
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


class HandDCN(nn.Module):
    """The anchor: plain DCNv2, one nn.Embedding per feature (dense gradients)."""

    def __init__(self, vocab: int, dim: int = 16, widths=(1024, 1024, 512)):
        super().__init__()
        self.tables = nn.ModuleList(nn.Embedding(vocab, dim) for _ in range(26))
        width = 13 + 26 * dim
        self.cross = nn.ModuleList(nn.Linear(width, width) for _ in range(2))
        layers, w = [], width
        for out in widths:
            layers += [nn.Linear(w, out), nn.ReLU()]
            w = out
        self.mlp = nn.Sequential(*layers, nn.Linear(w, 1))

    def forward(self, dense, sparse):
        x0 = torch.cat([torch.log1p(dense)] + [t(sparse[:, k]) for k, t in enumerate(self.tables)], 1)
        x = x0
        for layer in self.cross:
            x = x0 * layer(x) + x
        return self.mlp(x).squeeze(1)


def criteo_arch() -> ArchSpec:
    return ArchSpec.from_dict({
        "embedding": {"dim": 16},
        "layers": [{"modules": [{"kind": "cross"}]}, {"modules": [{"kind": "cross"}]},
                   {"modules": [{"kind": "mlp", "width": 1024}]}, {"modules": [{"kind": "mlp", "width": 1024}]},
                   {"modules": [{"kind": "mlp", "width": 512}]}],
        "sharing": {"pattern": "shared_bottom", "tower_width": 32}})


def criteo_mode(args) -> None:
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch = args.batch
    data_cfg = SyntheticDataConfig(source="synthetic", layout="criteo", num_rows=batch * args.steps * 10 // 7 + 1000,
                                   vocab_size=args.vocab, split={"val_fraction": 0.01, "test_fraction": 0.01})
    t = time.perf_counter()
    dataset = build_dataset(data_cfg)
    print(f"data: {len(dataset.train):,} train rows in {time.perf_counter() - t:.0f} s", flush=True)

    # -- the anchor: hand-written DCNv2, dense Adam over the full tables, bf16 + compile --------
    train = dataset.train.to(device)
    raw_dense = torch.expm1(train.dense.clamp(max=20))  # any positive dense input will do for speed
    seed_everything(0)
    hand = HandDCN(args.vocab).to(device)
    hand_forward_flops = model_cost(hand_proxy := _HandProxy(hand), dataset.features, 64, latency_batch=0).flops_per_example
    del hand_proxy
    optimizer = torch.optim.Adam(hand.parameters(), lr=1e-3)
    step_fn = torch.compile(hand)
    labels = train.labels[:, 0]

    def hand_step(i):
        idx = slice(i * batch, (i + 1) * batch)
        with torch.autocast(device.type, dtype=torch.bfloat16):
            logits = step_fn(raw_dense[idx], train.sparse[idx] % args.vocab)
        loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels[idx])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    steps = len(train) // batch
    for i in range(3):
        hand_step(i)
    sync()
    hand_runs = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for i in range(steps):
            hand_step(i)
        sync()
        hand_runs.append(steps * batch / (time.perf_counter() - start))
    hand = optimizer = step_fn = None  # free the anchor (tables + Adam state) before our run
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # -- unirank: the same DCNv2 as an ArchSpec, through unirank.train.fit ----------------------
    arch = criteo_arch()
    seed_everything(0)
    model = build_model(arch, dataset.features)
    forward_flops = model_cost(model, dataset.features, 64, latency_batch=0).flops_per_example
    cfg = TrainConfig(batch_size=batch, lr=1e-3, max_epochs=args.repeats + 1, patience=100, device=args.device,
                      embedding_optimizer=args.embedding_optimizer, embedding_lr=0.05 if args.embedding_optimizer == "rowwise_adagrad" else None,
                      precision="bf16", compile=True)
    result = fit(model, dataset, cfg)
    ours_runs = [h["examples_per_second"] for h in result.history[1:]]  # epoch 1 includes compiling
    o, h = statistics.median(ours_runs), statistics.median(hand_runs)
    tflops = lambda speed, flops: speed * 3 * flops / 1e12  # noqa: E731
    rows = ["| loop | examples/s | train MFLOPs/example | achieved TFLOP/s |", "|---|---|---|---|",
            f"| hand-written DCNv2, dense Adam, bf16 + compile | {h:,.0f} | {3 * hand_forward_flops / 1e6:.1f} | {tflops(h, hand_forward_flops):.1f} |",
            f"| unirank (`{args.embedding_optimizer}` embeddings, fused AdamW, bf16, compiled dense part) | {o:,.0f} | "
            f"{3 * forward_flops / 1e6:.1f} | {tflops(o, forward_flops):.1f} |"]
    print("\n".join(rows) + f"\nspeed-up: {o / h:.2f}x; validation NE after {result.epochs_run} epochs: {result.val.mean_ne:.4f}")
    body = (f"## Training throughput on GPU: DCNv2 on Criteo-shaped data (`{args.embedding_optimizer}` embeddings)\n\n"
            f"13 dense + 26 sparse features, {args.vocab:,}-row hashed vocabulary per feature, batch {batch:,}, "
            f"{steps} steps per epoch; median over {args.repeats} epochs each (unirank's first epoch, "
            f"which compiles, excluded). **Speed-up unirank / hand-written: {o / h:.2f}×.**\n\n" + "\n".join(rows))
    write_section(f"train_throughput_gpu_{args.embedding_optimizer}", body)


class _HandProxy(nn.Module):
    """Lets the cost model count the anchor's FLOPs with unirank's (dense, sparse, domain) inputs."""

    def __init__(self, hand: HandDCN):
        super().__init__()
        self.hand = hand

    def forward(self, dense, sparse, domain):
        return self.hand(dense.abs(), sparse % self.hand.tables[0].num_embeddings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criteo", action="store_true", help="GPU mode (CUDA)")
    parser.add_argument("--presets", nargs="+", default=["shared_bottom_mlp", "dcnv2", "mmoe", "deepfm"])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=65_536)
    parser.add_argument("--steps", type=int, default=40, help="steps per epoch (criteo mode)")
    parser.add_argument("--vocab", type=int, default=1_000_000)
    parser.add_argument("--device", default="cuda", help="criteo mode: cuda (cpu only to smoke-test)")
    parser.add_argument("--embedding-optimizer", default="rowwise_adagrad",
                        choices=["sparse_adam", "rowwise_adagrad", "adamw"])
    args = parser.parse_args()
    criteo_mode(args) if args.criteo else cpu_mode(args)


if __name__ == "__main__":
    main()

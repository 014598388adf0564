"""Where a GPU training step's time goes: unirank's step (variants) and the expert anchor, profiled.

    python benchmarks/gpu_profile.py [--batch 65536] [--rows 2000000] [--variants plain fused ...]

For each variant, unirank's training step on ``benchmarks/dcnv2_criteo.json`` (Criteo-shaped
synthetic rows, shuffled device-resident batches, bf16, compiled dense part) is timed (median of
3 × 20 steps, device-synchronised) and the host time per step is taken without synchronising (a
host time close to the step time means the GPU waits for Python). Then 5 steps run under the torch
profiler and the kernels taking most device time are printed. The anchor
(``--anchor``, ../shared/bench/gpu_anchor_sparse.py) is profiled the same way. Diagnostics only:
the figures that count are written by ``train_throughput.py``.
"""
from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO  # noqa: E402
from unirank.config import SyntheticDataConfig  # noqa: E402
from unirank.data.dataset import build_dataset  # noqa: E402
from unirank.models import build_model  # noqa: E402
from unirank.space import ArchSpec  # noqa: E402
from unirank.train.fit import autocast_for, training_loss  # noqa: E402
from unirank.train.graphed import GraphedSteps  # noqa: E402
from unirank.train.optim import make_optimizers  # noqa: E402

VARIANTS = {  # sparse-gradient RowWiseAdagrad / fused into backward; CUDA graph of the whole step
    "plain": {"fused_tables": False, "graphs": False},
    "fused": {"fused_tables": True, "graphs": False},
    "graphed": {"fused_tables": True, "graphs": True},
}


def profile_table(run, steps: int, rows: int = 16, shapes: bool = False) -> str:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA], record_shapes=shapes) as prof:
        run(steps)
        torch.cuda.synchronize()
    return prof.key_averages(group_by_input_shape=shapes).table(
        sort_by="self_cuda_time_total", row_limit=rows, max_name_column_width=60, max_shapes_column_width=60)


def unirank_variant(name: str, dataset, batch: int) -> None:
    opts = VARIANTS[name]
    torch.manual_seed(0)
    torch._dynamo.reset()
    device = torch.device("cuda")
    model = build_model(ArchSpec.load(REPO / "benchmarks" / "dcnv2_criteo.json"), dataset.features).cuda()
    optimizers = make_optimizers(model, 1e-3, 0.0, "rowwise_adagrad", 0.05, fused=True,
                                 fused_tables=opts["fused_tables"], capturable=opts["graphs"])
    compute_loss = training_loss(model, True)
    train = dataset.train.to("cuda")
    generator = torch.Generator().manual_seed(0)

    def train_step(b):  # the step of unirank.train.fit
        with autocast_for(device, "bf16", cache=not opts["graphs"]):
            loss = compute_loss(b)
        for o in optimizers:
            o.zero_grad(set_to_none=True)
        loss.backward()
        for o in optimizers:
            o.step()
        return loss.detach()

    graphed = GraphedSteps(train_step, train, batch) if opts["graphs"] else None

    def run(steps: int) -> None:
        done = 0
        while done < steps:
            for index in train.shuffled_indices(batch, generator, drop_last=True):
                graphed(index) if graphed is not None else train_step(train.take(index))
                done += 1
                if done == steps:
                    return

    run(10)
    torch.cuda.synchronize()
    step_ms, host_ms = [], []
    for _ in range(3):
        t = time.perf_counter()
        run(20)
        host_ms.append((time.perf_counter() - t) / 20 * 1e3)
        torch.cuda.synchronize()
        step_ms.append((time.perf_counter() - t) / 20 * 1e3)
    ms = statistics.median(step_ms)
    print(f"== unirank {name}: {ms:.2f} ms/step ({batch / ms / 1e3:.2f} M ex/s), host {statistics.median(host_ms):.2f} ms/step",
          flush=True)
    print(profile_table(run, 5, shapes=not opts["graphs"]), flush=True)


def micro(dataset, batch: int) -> None:
    """Device time of the index operations a step makes (triton.testing.do_bench, median ms)."""
    from triton.testing import do_bench

    train = dataset.train.to("cuda")
    table = torch.nn.Embedding(26 * 1_000_000, 16).cuda()
    index = torch.randperm(len(train), device="cuda")[:batch]
    ids = torch.randint(0, 26 * 1_000_000, (batch * 26,), device="cuda")
    columns = torch.arange(26, device="cuda")
    acc = torch.zeros(26 * 1_000_000, device="cuda")
    grad = torch.randn(batch * 26, 16, device="cuda")
    cases = {
        "batch gather (5 tensors)": lambda: train.take(index),
        "sparse.index_select(1, columns)": lambda: train.sparse[:batch].index_select(1, columns),
        "embedding forward [B*26] rows of 16": lambda: torch.nn.functional.embedding(ids, table.weight),
        "accumulator.index_select": lambda: acc.index_select(0, ids),
        "accumulator.index_add_": lambda: acc.index_add_(0, ids, grad[:, 0]),
        "weight.index_add_ [B*26, 16]": lambda: table.weight.data.index_add_(0, ids, grad),
    }
    from unirank.train import table_kernels

    flat = table.weight.detach()
    cases["triton gather_rows"] = lambda: table_kernels.gather_rows(flat, ids)
    cases["triton rowwise_adagrad_"] = lambda: table_kernels.rowwise_adagrad_(flat, acc, ids, grad, 1e-6, 1e-8)
    # correctness on fresh inputs with repeated ids: exact gather; update vs the torch-op arithmetic
    small = torch.randn(1000, 16, device="cuda")
    rep = torch.randint(0, 1000, (50_000,), device="cuda")
    g = torch.randn(50_000, 16, device="cuda")
    assert torch.equal(table_kernels.gather_rows(small, rep), small[rep]), "gather_rows differs"
    w1, a1 = small.clone(), torch.rand(1000, device="cuda")
    w2, a2 = w1.clone(), a1.clone()
    table_kernels.rowwise_adagrad_(w1, a1, rep, g, 0.05, 1e-8)
    a2.index_add_(0, rep, g.square().mean(1))
    w2.index_add_(0, rep, -0.05 * g / (a2[rep].sqrt() + 1e-8).unsqueeze(1))
    print(f"check: accumulator rel err {((a1 - a2).norm() / a2.norm()).item():.2e}, "
          f"weight rel err {((w1 - w2).norm() / w2.norm()).item():.2e}", flush=True)
    for what, fn in cases.items():
        print(f"micro: {what}: {do_bench(fn, warmup=50, rep=200, return_mode='median'):.3f} ms", flush=True)


def anchor(path: Path, batch: int) -> None:
    argv, sys.argv = sys.argv, [str(path), str(batch), "20"]
    spec = importlib.util.spec_from_file_location("gpu_anchor_sparse", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.argv = argv
    print("== anchor rowwise_adagrad (30 steps profiled: 10 warm-up + 20 timed, plus one FLOP count):", flush=True)
    print(profile_table(lambda _: print(module.bench("rowwise_adagrad"), flush=True), 0), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=65_536)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--anchor", default=str(REPO.parent / "shared" / "bench" / "gpu_anchor_sparse.py"))
    args = parser.parse_args()
    print(torch.cuda.get_device_name(), torch.__version__, flush=True)
    t = time.perf_counter()
    dataset = build_dataset(SyntheticDataConfig(source="synthetic", layout="criteo", num_rows=args.rows,
                                                vocab_size=1_000_000))
    print(f"data: {time.perf_counter() - t:.0f} s", flush=True)
    micro(dataset, args.batch)
    for name in args.variants:
        try:
            unirank_variant(name, dataset, args.batch)
        except Exception as error:  # report and go on to the next variant
            print(f"== unirank {name}: failed: {error!r}"[:2000], flush=True)
    if Path(args.anchor).is_file():
        anchor(Path(args.anchor), args.batch)


if __name__ == "__main__":
    main()

"""Cost of a candidate, measured before any training.

Definitions (per example, inference forward):
- ``flops_per_example``: floating-point operations of the matmul-class ops (Linear, einsum/bmm),
  counted by ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2), divided by
  the batch size. Element-wise ops and embedding lookups are not in it.
- ``lookups_per_example`` / ``embedding_bytes_per_example``: the embedding-row work that the FLOP
  counter does not see — one table row (of its group's dim, fp32) read per kept sparse feature,
  plus the domain row when enabled.
- ``dense_params``: parameters outside embedding tables; ``embedding_params``: rows × dim.
- ``latency_ms``: median wall time of an inference forward pass on a batch of
  ``latency_batch`` examples on the measuring device (after warm-up runs; CUDA synchronised).
"""
from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from unirank.data.features import FeatureSpec
from unirank.models.embedding import InputLayer
from unirank.models.ranker import build_model
from unirank.space.arch import ArchSpec


@dataclass(frozen=True)
class Cost:
    flops_per_example: float
    dense_params: int
    embedding_params: int
    lookups_per_example: int
    embedding_bytes_per_example: int
    latency_ms: float = float("nan")
    latency_batch: int = 0

    @property
    def mflops(self) -> float:
        return self.flops_per_example / 1e6

    @property
    def params(self) -> int:
        return self.dense_params + self.embedding_params

    def to_dict(self) -> dict:
        return {**asdict(self), "mflops": self.mflops, "params": self.params}


def example_inputs(features: FeatureSpec, batch_size: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random valid inputs: dense [B, D], sparse [B, S] within each vocabulary, domain [B]."""
    generator = torch.Generator().manual_seed(seed)
    dense = torch.randn(batch_size, len(features.dense), generator=generator)
    sparse = torch.stack(
        [torch.randint(0, f.vocab_size, (batch_size,), generator=generator) for f in features.sparse], 1
    ) if features.sparse else torch.zeros(batch_size, 0, dtype=torch.int64)
    domain = torch.randint(0, features.num_domains, (batch_size,), generator=generator)
    return dense, sparse, domain


def count_flops(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...]) -> int:
    """Total FLOPs of one forward pass on ``inputs`` (no gradients)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return int(counter.get_total_flops())


@torch.no_grad()
def measure_latency(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], repeats: int = 10,
                    warmup: int = 3) -> float:
    """Median milliseconds of ``model(*inputs)`` over ``repeats`` runs after ``warmup`` runs."""
    device = inputs[0].device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = []
    for i in range(warmup + repeats):
        sync()
        start = time.perf_counter()
        model(*inputs)
        sync()
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def model_cost(model: torch.nn.Module, features: FeatureSpec, batch_size: int = 64,
               latency_batch: int = 256) -> Cost:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    flops = count_flops(model, tuple(t.to(device) for t in example_inputs(features, batch_size)))
    latency = float("nan")
    if latency_batch:
        inputs = tuple(t.to(device) for t in example_inputs(features, latency_batch, seed=1))
        latency = measure_latency(model, inputs)
    model.train(was_training)
    embedding_params = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    lookups, lookup_bytes = 0, 0
    for module in model.modules():
        if isinstance(module, InputLayer):
            for g, group in enumerate(module.groups):
                count = len(getattr(module, f"group_index_{g}"))
                lookups += count
                lookup_bytes += count * group.table.embedding_dim * 4
            if module.domain_table is not None:
                lookups += 1
                lookup_bytes += module.domain_table.embedding_dim * 4
    total = sum(p.numel() for p in model.parameters())
    return Cost(flops_per_example=flops / batch_size, dense_params=total - embedding_params,
                embedding_params=embedding_params, lookups_per_example=lookups,
                embedding_bytes_per_example=lookup_bytes, latency_ms=latency, latency_batch=latency_batch)


def measure_cost(arch: ArchSpec, features: FeatureSpec, batch_size: int = 64,
                 latency_batch: int = 256) -> Cost:
    """Build the candidate on CPU and measure it (milliseconds for the spaces we search)."""
    return model_cost(build_model(arch, features), features, batch_size, latency_batch)

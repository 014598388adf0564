"""Cost of a candidate, measured before any training.

Definitions (per example, inference forward):
- ``flops_per_example``: every floating-point operation of the forward pass, divided by the batch
  size, counted by ``torch.utils.flop_counter.FlopCounterMode``: matmul-class ops (Linear,
  einsum/bmm) by its formulas (a multiply-add counts 2; a Linear's bias add 1 per output), and, with the formulas of
  ``ARITHMETIC_FLOPS``, what it sees nothing of by default: element-wise arithmetic (add, mul,
  pow, ReLU, exp, …: 1 per output element), reductions (sum, mean, max: 1 per input element),
  softmax (5 per element: max, subtract, exp, sum, divide), layer/batch normalisation (7 per
  element when it computes statistics, 2 in eval mode) and embedding-bag pooling (1 add per
  pooled value). FM, gates, partitioned normalisation and pooling are therefore not free.
  Integer ops (id hashing) and moves (cat, view, index) count 0. ``matmul_flops_per_example``
  keeps the matmul part alone.
- ``lookups_per_example`` / ``embedding_bytes_per_example``: the embedding-row work that the FLOP
  counter does not see — one table row (of its group's dim, fp32) read per kept sparse feature,
  per id slot of a list feature used (all ``max_len`` of a multi-hot bag, the k events used of a
  sequence, per field, and the candidate's rows) and the domain row when enabled, plus DeepFM's
  first-order rows (one float per objective). Lists are counted full (the longest history).
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

aten = torch.ops.aten

from unirank.data.features import FeatureSpec
from unirank.models.attend import explicit_attention
from unirank.models.embedding import InputLayer
from unirank.models.ranker import build_model
from unirank.models.sequence import event_mask
from unirank.models.wide import FirstOrder
from unirank.space.arch import ArchSpec


def _floating(t) -> bool:
    return isinstance(t, torch.Tensor) and t.is_floating_point()


def _per_output(per: float):
    def count(*args, out_val=None, **kwargs) -> int:
        out = out_val[0] if isinstance(out_val, (tuple, list)) else out_val
        return int(per * out.numel()) if _floating(out) else 0
    count._get_raw = True  # FlopCounterMode passes the tensors, not their shapes
    return count


def _per_input(per: float):
    def count(*args, out_val=None, **kwargs) -> int:
        return int(per * args[0].numel()) if _floating(args[0]) else 0
    count._get_raw = True
    return count


def _norm(*args, out_val=None, **kwargs) -> int:
    """Batch norm: 2 per element with running statistics (eval), 7 when it computes them."""
    x = args[0]
    training = kwargs.get("training", args[5] if len(args) > 5 else False)
    return int((7 if training else 2) * x.numel())


_norm._get_raw = True


def _embedding_bag(*args, out_val=None, **kwargs) -> int:
    """Pooling: one add per pooled value (ids × dim), minus the first of each bag."""
    weight, indices = args[0], args[1]
    out = out_val[0]
    return max(0, int(indices.numel() * weight.shape[1] - out.numel()))


_embedding_bag._get_raw = True

def _addmm(bias, a, b, out_val=None, **kwargs) -> int:
    """Linear with bias: the matmul (2·m·k·n) and the bias add (m·n)."""
    return 2 * a.shape[0] * a.shape[1] * b.shape[1] + out_val.numel()


_addmm._get_raw = True

ARITHMETIC_FLOPS = {
    aten.addmm: _addmm,
    **{op: _per_output(1) for op in (
        aten.add, aten.sub, aten.rsub, aten.mul, aten.div, aten.pow, aten.neg, aten.relu, aten.sigmoid,
        aten.tanh, aten.exp, aten.log, aten.sqrt, aten.rsqrt, aten.maximum, aten.minimum, aten.clamp,
        aten.clamp_min, aten.clamp_max, aten.gelu, aten.silu, aten.abs, aten.reciprocal, aten.square)},
    **{op: _per_input(1) for op in (aten.sum, aten.mean, aten.amax, aten.amin, aten.max, aten.min)},
    aten.var: _per_input(2), aten.var_mean: _per_input(3),
    aten._softmax: _per_output(5), aten._log_softmax: _per_output(5),
    aten.native_layer_norm: _per_input(7),
    aten.native_batch_norm: _norm, aten._native_batch_norm_legit_no_training: _per_input(2),
    aten._embedding_bag: _embedding_bag, aten._embedding_bag_forward_only: _embedding_bag,
}


@dataclass(frozen=True)
class Cost:
    flops_per_example: float
    dense_params: int
    embedding_params: int
    lookups_per_example: int
    embedding_bytes_per_example: int
    latency_ms: float = float("nan")
    latency_batch: int = 0
    matmul_flops_per_example: float = float("nan")

    @property
    def mflops(self) -> float:
        return self.flops_per_example / 1e6

    @property
    def params(self) -> int:
        return self.dense_params + self.embedding_params

    def to_dict(self) -> dict:
        return {**asdict(self), "mflops": self.mflops, "params": self.params}


def example_inputs(features: FeatureSpec, batch_size: int, seed: int = 0, full: bool = True) -> tuple[torch.Tensor, ...]:
    """Random valid inputs: dense [B, D], sparse [B, S] within each vocabulary, domain [B], and
    with list features ``lists`` [B, L]: every list full (``full``, the cost of the longest
    history) or of random lengths 0..max_len, padded with 0 as the data is."""
    generator = torch.Generator().manual_seed(seed)
    dense = torch.randn(batch_size, len(features.dense), generator=generator)
    sparse = torch.stack(
        [torch.randint(0, f.vocab_size, (batch_size,), generator=generator) for f in features.sparse], 1
    ) if features.sparse else torch.zeros(batch_size, 0, dtype=torch.int64)
    domain = torch.randint(0, features.num_domains, (batch_size,), generator=generator)
    if not features.lists:
        return dense, sparse, domain
    parts = []
    for f in features.lists:
        lengths = (torch.full((batch_size, 1), f.max_len, dtype=torch.int64) if full else
                   torch.randint(0, f.max_len + 1, (batch_size, 1), generator=generator))
        real = event_mask(lengths[:, 0], f.max_len)
        parts.append(lengths)
        parts += [torch.randint(1, max(2, field.vocab_size), (batch_size, f.max_len), generator=generator) * real
                  for field in f.fields]
    return dense, sparse, domain, torch.cat(parts, dim=1)


def count_flops(model: torch.nn.Module, inputs: tuple[torch.Tensor, ...], matmul_only: bool = False) -> int:
    """Total FLOPs of one forward pass on ``inputs`` (no gradients); see the module doc."""
    mapping = None if matmul_only else ARITHMETIC_FLOPS
    with torch.no_grad(), explicit_attention(), FlopCounterMode(display=False, custom_mapping=mapping) as counter:
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


LATENCY_BATCH = 256  # examples per timed inference batch


def model_cost(model: torch.nn.Module, features: FeatureSpec, batch_size: int = 64,
               latency_batch: int = LATENCY_BATCH) -> Cost:
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    inputs = tuple(t.to(device) for t in example_inputs(features, batch_size))
    flops = count_flops(model, inputs)
    matmul = count_flops(model, inputs, matmul_only=True)
    latency = float("nan")
    if latency_batch:
        inputs = tuple(t.to(device) for t in example_inputs(features, latency_batch, seed=1))
        latency = measure_latency(model, inputs)
    model.train(was_training)
    embedding_params = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Embedding))
    lookups, lookup_bytes = 0, 0
    for module in model.modules():
        if isinstance(module, InputLayer):
            for group in module.groups:
                count = group.num_columns
                lookups += count
                lookup_bytes += count * group.table.embedding_dim * 4
            if module.domain_table is not None:
                lookups += 1
                lookup_bytes += module.domain_table.embedding_dim * 4
        elif isinstance(module, FirstOrder) and module.table is not None:  # DeepFM's linear term
            lookups += module.lookups
            lookup_bytes += module.lookups * module.table.embedding_dim * 4
    total = sum(p.numel() for p in model.parameters())
    return Cost(flops_per_example=flops / batch_size, dense_params=total - embedding_params,
                embedding_params=embedding_params, lookups_per_example=lookups,
                embedding_bytes_per_example=lookup_bytes, latency_ms=latency, latency_batch=latency_batch,
                matmul_flops_per_example=matmul / batch_size)


def measure_cost(arch: ArchSpec, features: FeatureSpec, batch_size: int = 64,
                 latency_batch: int = LATENCY_BATCH) -> Cost:
    """Build the candidate on CPU and measure it (milliseconds for the spaces we search)."""
    return model_cost(build_model(arch, features), features, batch_size, latency_batch)

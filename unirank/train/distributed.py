"""Data-parallel training across processes started by ``torchrun`` (one GPU per process).

Each rank trains on its own shard of the training split with the per-rank batch size (global
batch = world × batch_size). After every backward pass:
- dense gradients are averaged with one all-reduce over a flattened buffer (what DDP does);
- sparse embedding gradients (row indices + values) are all-gathered, so every rank applies the
  same sparse update to its replica of the tables — NCCL has no sparse all-reduce.
The replicas therefore stay identical without broadcasting weights. Sharding the tables across
GPUs (torchrec's planner) is the route for tables larger than one GPU; not done here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from unirank.data.batches import TensorSplit


@dataclass
class World:
    rank: int
    size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, split: TensorSplit) -> TensorSplit:
        """Equal contiguous shards (the remainder rows are dropped) so every rank steps alike."""
        per_rank = len(split) // self.size
        rows = slice(self.rank * per_rank, (self.rank + 1) * per_rank)
        return TensorSplit(**{k: v[rows] for k, v in split.tensors().items()})

    def sync_gradients(self, model: nn.Module) -> None:
        dense = [p.grad for p in model.parameters() if p.grad is not None and not p.grad.is_sparse]
        if dense:
            flat = _flatten_dense_tensors(dense)
            dist.all_reduce(flat)
            flat /= self.size
            for grad, synced in zip(dense, _unflatten_dense_tensors(flat, dense)):
                grad.copy_(synced)
        for p in model.parameters():
            if p.grad is None or not p.grad.is_sparse:
                continue
            rows, values = p.grad._indices()[0], p.grad._values()
            all_rows = [torch.empty_like(rows) for _ in range(self.size)]
            all_values = [torch.empty_like(values) for _ in range(self.size)]
            dist.all_gather(all_rows, rows)
            dist.all_gather(all_values, values)
            p.grad = torch.sparse_coo_tensor(torch.cat(all_rows).unsqueeze(0),
                                             torch.cat(all_values) / self.size, p.shape)


def init_from_env(device: str) -> World | None:
    """Join the process group when started by torchrun (WORLD_SIZE > 1), else None."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        dist.init_process_group(backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        return World(dist.get_rank(), dist.get_world_size(), torch.device("cuda", local_rank))
    return World(dist.get_rank(), dist.get_world_size(), torch.device("cpu"))

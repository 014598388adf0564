"""Row-wise Adagrad fused into the backward pass of the embedding lookup.

The plain path (``optim.RowWiseAdagrad``) lets ``nn.Embedding(sparse=True)`` build a sparse COO
gradient, then reads it back in ``optimizer.step()``. Fused, the lookup's backward applies the
same update directly from the dense ``[B·S, dim]`` output gradient — no sparse tensor, no
``.grad`` on the table, no separate optimizer launch — the way fbgemm/torchrec fuse the table
optimizer into backward. The arithmetic is exactly ``RowWiseAdagrad``'s (per occurrence o of row
r: s_r += mean(g_o²); w_r -= lr · Σ_o g_o / (√s_r + ε)), so both paths train the same model.

``FusedRowWiseAdagrad`` is an optimizer object only for bookkeeping: its state is the per-table
accumulator, in ``RowWiseAdagrad``'s format (checkpoints of one load in the other); its
``step()`` does nothing because the work happened in backward. On CUDA with Triton the gather
and the update are the kernels of ``table_kernels``; elsewhere, torch ops.
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.train import table_kernels
from unirank.train.optim import rowwise_adagrad_update_


class _LookupWithRowWiseAdagrad(torch.autograd.Function):
    """``ids`` [N] int64, ``weight`` [R, d] → rows [N, d]; backward updates ``weight`` in place."""

    @staticmethod
    def forward(ctx, ids, weight, accumulator, lr: float, eps: float):
        ctx.save_for_backward(ids)
        ctx.weight, ctx.accumulator, ctx.lr, ctx.eps = weight, accumulator, lr, eps
        if table_kernels.available(weight) and weight.is_contiguous():
            return table_kernels.gather_rows(weight, ids)
        return nn.functional.embedding(ids, weight)

    @staticmethod
    @torch.no_grad()
    def backward(ctx, grad):
        (ids,) = ctx.saved_tensors
        if table_kernels.available(ctx.weight) and ctx.weight.dtype == torch.float32:
            table_kernels.rowwise_adagrad_(ctx.weight, ctx.accumulator, ids, grad.contiguous(), ctx.lr, ctx.eps)
            return None, None, None, None, None
        rowwise_adagrad_update_(ctx.weight, ctx.accumulator, ids, grad, ctx.lr, ctx.eps)
        return None, None, None, None, None


class FusedRowWiseAdagrad(torch.optim.Optimizer):
    """Installs the fused update on ``tables`` (``nn.Embedding``); see the module docstring."""

    def __init__(self, tables: list[nn.Embedding], lr: float = 0.01, eps: float = 1e-8):
        super().__init__([t.weight for t in tables], {"lr": lr, "eps": eps})
        for table in tables:
            table.sparse = False
            table.fused_update = self

    def accumulator(self, weight: torch.Tensor) -> torch.Tensor:
        state = self.state[weight]
        if "sum" not in state:
            state["sum"] = torch.zeros(weight.shape[0], device=weight.device, dtype=torch.float32)
        return state["sum"]

    def lookup(self, table: nn.Embedding, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` [...] → rows [..., d]; with grad enabled, backward updates ``table``."""
        if not (torch.is_grad_enabled() and table.training):
            return table(ids)
        group = self.param_groups[0]
        flat = _LookupWithRowWiseAdagrad.apply(ids.reshape(-1), table.weight,
                                               self.accumulator(table.weight), group["lr"], group["eps"])
        return flat.view(*ids.shape, table.embedding_dim)

    @torch.no_grad()
    def step(self, closure=None):
        return None  # the update ran in backward


def uninstall(model: nn.Module) -> None:
    """Remove fused updates from ``model``'s tables (after training, before export/eval copies)."""
    for module in model.modules():
        if isinstance(module, nn.Embedding) and hasattr(module, "fused_update"):
            del module.fused_update

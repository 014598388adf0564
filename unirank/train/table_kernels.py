"""GPU kernels (Triton) for the embedding-table hot path: row gather and fused row-wise Adagrad.

Measured on an H200 (benchmarks/gpu_profile.py): PyTorch's ``F.embedding`` forward on a
26M × 16 table with 1.7M ids ran 1.03 ms, and the update in ``fused_adagrad`` (mean of squares,
two index_add_, one index_select) about 0.6 ms. Both are memory-bound and simple, so each is one
Triton kernel here:

- ``gather_rows(weight [R, d], ids [N]) → [N, d]``: one program per block of ids, each row read
  once with ``d`` contiguous loads.
- ``rowwise_adagrad_(weight, accumulator [R], ids [N], grad [N, d], lr, eps)``: pass 1 adds
  mean(g_o²) of every occurrence to its row's accumulator (atomics); pass 2 reads the row's
  accumulator and adds −lr·g_o/(√s_r + ε) to the row (atomics): exactly the arithmetic of
  ``optim.RowWiseAdagrad`` (occurrences of a row are summed, in any order).

Used only on CUDA when Triton is importable; elsewhere ``fused_adagrad`` uses the torch ops.
"""
from __future__ import annotations

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # CPU-only installs: the torch-op path is used
    triton = None


def available(tensor: torch.Tensor) -> bool:
    return triton is not None and tensor.is_cuda


if triton is not None:
    @triton.jit
    def _gather_kernel(weight, ids, out, n, D: tl.constexpr, DP: tl.constexpr, BLOCK: tl.constexpr):
        rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = rows < n
        cols = tl.arange(0, DP)
        index = tl.load(ids + rows, mask=live, other=0)
        both = live[:, None] & (cols[None, :] < D)
        values = tl.load(weight + index[:, None] * D + cols[None, :], mask=both)
        tl.store(out + rows[:, None].to(tl.int64) * D + cols[None, :], values, mask=both)

    @triton.jit
    def _square_mean_kernel(accumulator, ids, grad, n, D: tl.constexpr, DP: tl.constexpr, BLOCK: tl.constexpr):
        rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = rows < n
        cols = tl.arange(0, DP)
        both = live[:, None] & (cols[None, :] < D)
        g = tl.load(grad + rows[:, None].to(tl.int64) * D + cols[None, :], mask=both, other=0.0).to(tl.float32)
        index = tl.load(ids + rows, mask=live, other=0)
        tl.atomic_add(accumulator + index, tl.sum(g * g, axis=1) / D, mask=live)

    @triton.jit
    def _apply_kernel(weight, accumulator, ids, grad, n, lr, eps, D: tl.constexpr, DP: tl.constexpr,
                      BLOCK: tl.constexpr):
        rows = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
        live = rows < n
        cols = tl.arange(0, DP)
        both = live[:, None] & (cols[None, :] < D)
        g = tl.load(grad + rows[:, None].to(tl.int64) * D + cols[None, :], mask=both, other=0.0).to(tl.float32)
        index = tl.load(ids + rows, mask=live, other=0)
        scale = -lr / (tl.sqrt(tl.load(accumulator + index, mask=live, other=1.0)) + eps)
        tl.atomic_add(weight + index[:, None] * D + cols[None, :], g * scale[:, None], mask=both)


_BLOCK = 128


def gather_rows(weight: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
    """``weight`` [R, d] contiguous, ``ids`` [N] int64 → ``weight[ids]`` [N, d]."""
    n, d = ids.numel(), weight.shape[1]
    out = torch.empty(n, d, dtype=weight.dtype, device=weight.device)
    _gather_kernel[(triton.cdiv(n, _BLOCK),)](weight, ids, out, n, D=d, DP=triton.next_power_of_2(d), BLOCK=_BLOCK)
    return out


def rowwise_adagrad_(weight: torch.Tensor, accumulator: torch.Tensor, ids: torch.Tensor, grad: torch.Tensor,
                     lr: float, eps: float) -> None:
    """In place: ``accumulator`` [R] += mean(g²) per occurrence; ``weight`` [R, d] (float32) −=
    lr · g / (√accumulator + eps) per occurrence; ``grad`` [N, d] contiguous."""
    n, d = ids.numel(), weight.shape[1]
    grid, dp = (triton.cdiv(n, _BLOCK),), triton.next_power_of_2(d)
    _square_mean_kernel[grid](accumulator, ids, grad, n, D=d, DP=dp, BLOCK=_BLOCK)
    _apply_kernel[grid](weight, accumulator, ids, grad, n, lr, eps, D=d, DP=dp, BLOCK=_BLOCK)

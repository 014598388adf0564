"""Scaled dot-product attention, the one kernel every attention module calls.

    attend(q [B, H, Q, d_h], k [B, H, K, d_h], v [B, H, K, d_v], key_mask [B, K] bool | None)
        → softmax(q kᵀ / √d_h + M) v   [B, H, Q, d_v],   M = 0 on real keys, dtype's min on masked ones

Training and serving run PyTorch's fused kernel (``scaled_dot_product_attention``): on CPU it is
about twice as fast forward and backward as the same arithmetic written as matmuls at BST's shape
(B 512 × 8 heads × 51 × 51, one thread; a whole training epoch 2.12× on one thread, InterFormer's
1.10×, and on two threads 1.72× and 0.81×: ``benchmarks/attention_kernel.py``); on a GPU it picks
a flash / memory-efficient kernel.
``torch.utils.flop_counter`` does not see the CPU kernel, so the cost counter
(``unirank.proxies.cost.count_flops``) runs the explicit matmuls inside ``explicit_attention()``:
the same FLOPs as always, whichever kernel trains.

A query whose keys are all masked gets the uniform average of its values in both forms (every
score is the dtype's min). Its gradient differs: the explicit form passes none to its q and k, the
fused kernel some; so a caller zeroes such outputs before they are read (every module here does:
padded events are masked out, an empty history's summary has zero values).
"""
from __future__ import annotations

import contextlib
import contextvars
import math

import torch
import torch.nn.functional as F

_EXPLICIT = contextvars.ContextVar("explicit_attention", default=False)


@contextlib.contextmanager
def explicit_attention():
    """Within this block (this thread) ``attend`` runs as explicit matmuls, visible to FLOP counting."""
    token = _EXPLICIT.set(True)
    try:
        yield
    finally:
        _EXPLICIT.reset(token)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
    if _EXPLICIT.get():
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        if key_mask is not None:
            scores = scores.masked_fill(~key_mask[:, None, None, :], torch.finfo(scores.dtype).min)
        return torch.matmul(torch.softmax(scores, dim=-1), v)
    bias = None
    if key_mask is not None:  # additive, in the queries' dtype (what the fused kernels take)
        bias = torch.zeros(key_mask.shape, dtype=q.dtype, device=q.device).masked_fill(
            ~key_mask, torch.finfo(q.dtype).min)[:, None, None, :]
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)

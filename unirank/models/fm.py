"""Factorization-machine second-order term (Rendle 2010; DeepFM, Guo et al. 2017), vector form.

    o = ½ · ((Σ_i e_i)² − Σ_i e_i²)        element-wise; Σ_k o_k = Σ_{i<j} <e_i, e_j>
"""
from __future__ import annotations

from torch import nn

from unirank.models.blocks import Block


class FMModule(nn.Module):
    """Args: ``dim`` d.

    Call: ``h`` (unused), ``E`` [B, N, d], ``x0`` (unused) → (o [B, d], None).
    FLOPs per example: O(N·d) element-wise (not counted by FlopCounterMode: no matmul).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.out_features = dim

    def forward(self, h, E, x0):
        return 0.5 * (E.sum(dim=1).pow(2) - E.pow(2).sum(dim=1)), None


BLOCK = Block(
    kind="fm", params=(), build=lambda spec, ctx: FMModule(ctx.dim),
    suggest=lambda trial, name, c: {}, point=lambda m, name: {}, choices=lambda c: 1,
    space_rows=lambda c: [], summary=lambda m: "fm", describe=lambda m: "factorization machine",
)

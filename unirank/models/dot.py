"""DLRM dot-product interaction (Naumov et al., 2019): all pairwise dot products of the rows of E.

    o = [ <e_i, e_j> for i < j ]            E ∈ R^{N×d}
    o = [ e_0 ‖ <e_i, e_j> for i < j ]      with_dense: DLRM's interaction output, where e_0 is the
                                             dense row (the bottom MLP's output)
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.models.blocks import Block


class DotModule(nn.Module):
    """Args: ``num_rows`` N, ``dim`` d, ``dense_row``: output E's row 0 (the dense row) first.

    Call: ``h`` (unused), ``E`` [B, N, d], ``x0`` (unused) → (o [B, (d +) N(N-1)/2], None).
    FLOPs per example: 2·N²·d (the batched matmul E Eᵀ; the lower triangle is discarded).
    """

    def __init__(self, num_rows: int, dim: int = 0, dense_row: bool = False):
        super().__init__()
        rows, cols = torch.triu_indices(num_rows, num_rows, offset=1)
        self.register_buffer("flat_index", rows * num_rows + cols, persistent=False)
        self.dense_row = dense_row
        self.out_features = int(rows.numel()) + (dim if dense_row else 0)

    def forward(self, h, E, x0):
        gram = torch.bmm(E, E.transpose(1, 2)).flatten(1)  # [B, N·N]
        dots = gram.index_select(1, self.flat_index)
        return (torch.cat([E[:, 0], dots], dim=1) if self.dense_row else dots), None


def _suggest(trial, name, c) -> dict:
    return {"with_dense": True if trial.suggest_categorical(f"{name}_with_dense", list(c.dot_with_dense)) else None}


BLOCK = Block(
    kind="dot", params=("with_dense",),
    build=lambda spec, ctx: DotModule(ctx.num_rows, ctx.dim, dense_row=bool(spec.with_dense) and ctx.dense_row),
    suggest=_suggest,
    point=lambda m, name: {f"{name}_with_dense": bool(m.with_dense)},
    choices=lambda c: len(c.dot_with_dense),
    space_rows=lambda c: [("    dot with dense row (DLRM)", str(list(c.dot_with_dense)))],
    summary=lambda m: "dot+dense" if m.with_dense else "dot",
    describe=lambda m: "dense row + dot products (DLRM interaction)" if m.with_dense else "dot product (DLRM)",
)

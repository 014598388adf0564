"""DLRM dot-product interaction (Naumov et al., 2019): all pairwise dot products of the rows of E.

    o = [ <e_i, e_j> for i < j ]            E ∈ R^{N×d}
"""
from __future__ import annotations

import torch
from torch import nn


class DotModule(nn.Module):
    """Args: ``num_rows`` N.

    Call: ``h`` (unused), ``E`` [B, N, d], ``x0`` (unused) → (o [B, N(N-1)/2], None).
    FLOPs per example: 2·N²·d (the batched matmul E Eᵀ; the lower triangle is discarded).
    """

    def __init__(self, num_rows: int):
        super().__init__()
        rows, cols = torch.triu_indices(num_rows, num_rows, offset=1)
        self.register_buffer("flat_index", rows * num_rows + cols, persistent=False)
        self.out_features = int(rows.numel())

    def forward(self, h, E, x0):
        gram = torch.bmm(E, E.transpose(1, 2)).flatten(1)  # [B, N·N]
        return gram.index_select(1, self.flat_index), None

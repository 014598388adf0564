"""Per-feature embeddings of the dense features: one row of E per dense feature.

``each`` (AutoInt's and FT-Transformer's numerical embedding): row_i = x_i · v_i + b_i.
``periodic`` (Gorishniy et al. 2022, "On Embeddings for Numerical Features in Tabular Deep
Learning", PLR): row_i = ReLU(W_i [sin(2π c_i x_i) ‖ cos(2π c_i x_i)] + b_i) with k learned
frequencies c_i per feature — a smooth, non-monotone function of x_i that a linear row cannot be.

Call: ``dense`` [B, D] (standardised) → [B, D, d]. FLOPs per example: ``each`` 2·D·d;
``periodic`` 2·D·k (angles) + 2·D·2k·d (the per-feature linear).
"""
from __future__ import annotations

import math

import torch
from torch import nn

FREQUENCIES = 16         # k: frequencies per feature
FREQUENCY_SCALE = 0.1    # c ~ N(0, 0.1²) at init: the inputs are standardised, so a period of ~10 std


class EachDense(nn.Module):
    """``dense`` [B, D] → [B, D, d]: row i = x_i · weight[i] + bias[i] (weight, bias [D, d])."""

    def __init__(self, num_features: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(num_features, dim) / math.sqrt(dim))
        self.bias = nn.Parameter(torch.zeros(num_features, dim))

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        return dense.unsqueeze(-1) * self.weight + self.bias


class PeriodicDense(nn.Module):
    """``dense`` [B, D] → [B, D, d] through frequencies [D, k], weight [D, 2k, d], bias [D, d]."""

    def __init__(self, num_features: int, dim: int, frequencies: int = FREQUENCIES):
        super().__init__()
        self.frequencies = nn.Parameter(torch.randn(num_features, frequencies) * FREQUENCY_SCALE)
        bound = 1 / math.sqrt(2 * frequencies)
        self.weight = nn.Parameter(torch.empty(num_features, 2 * frequencies, dim).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(num_features, dim).uniform_(-bound, bound))

    def forward(self, dense: torch.Tensor) -> torch.Tensor:
        angles = 2 * math.pi * self.frequencies * dense.unsqueeze(-1)          # [B, D, k]
        waves = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)      # [B, D, 2k]
        return torch.relu(torch.einsum("bdk,dkh->bdh", waves, self.weight) + self.bias)


DENSE_ENCODINGS = {"each": EachDense, "periodic": PeriodicDense}

"""MLP module: o = Dropout(ReLU(W h + b)) (dropout only when the ArchSpec sets a rate)."""
from __future__ import annotations

import torch
from torch import nn


class MLPModule(nn.Module):
    """Args: ``in_features`` W, ``width`` W'.

    Call (the common module signature): ``h`` [B, W], ``E`` [B, N, d], ``x0`` [B, W0] →
    (o [B, W'], None). FLOPs per example: 2·W·W'.
    """

    def __init__(self, in_features: int, width: int, dropout: float | None = None):
        super().__init__()
        self.linear = nn.Linear(in_features, width)
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.out_features = width

    def forward(self, h, E, x0):
        o = torch.relu(self.linear(h))
        return (self.dropout(o) if self.dropout is not None else o), None

"""MLP module: o = ReLU(W h + b)."""
from __future__ import annotations

import torch
from torch import nn


class MLPModule(nn.Module):
    """Args: ``in_features`` W, ``width`` W'.

    Call (the common module signature): ``h`` [B, W], ``E`` [B, N, d], ``x0`` [B, W0] →
    (o [B, W'], None). FLOPs per example: 2·W·W'.
    """

    def __init__(self, in_features: int, width: int):
        super().__init__()
        self.linear = nn.Linear(in_features, width)
        self.out_features = width

    def forward(self, h, E, x0):
        return torch.relu(self.linear(h)), None

"""MLP block: y = ReLU(W x + b)."""
from __future__ import annotations

import torch
from torch import nn


class MLPBlock(nn.Module):
    """One fully connected layer with ReLU.

    Args:
        in_features: input width ``F``.
        width: output width ``W``.

    Call: ``x`` [B, F] → [B, W]. FLOPs per example: 2·F·W (+ W for the bias, not counted).
    """

    def __init__(self, in_features: int, width: int):
        super().__init__()
        self.linear = nn.Linear(in_features, width)
        self.out_features = width

    def forward(self, x: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        return torch.relu(self.linear(x))

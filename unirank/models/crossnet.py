"""DCNv2 cross layer (Wang et al., "DCN V2", WWW 2021), full rank."""
from __future__ import annotations

import torch
from torch import nn


class CrossLayer(nn.Module):
    """x_{l+1} = x_0 ⊙ (W x_l + b) + x_l

    Each layer raises the polynomial degree of explicit feature crosses by one while keeping the
    width. ``x_0`` is the representation that entered the current run of cross layers.

    Args:
        in_features: width ``F`` of both ``x_l`` and ``x_0``.

    Call: ``x`` [B, F], ``x0`` [B, F] → [B, F]. FLOPs per example: 2·F² (the matmul).

    Example::

        layer = CrossLayer(8)
        x0 = torch.randn(2, 8)
        layer(x0, x0).shape  # torch.Size([2, 8])
    """

    def __init__(self, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, in_features)
        nn.init.zeros_(self.linear.bias)
        self.out_features = in_features

    def forward(self, x: torch.Tensor, x0: torch.Tensor | None = None) -> torch.Tensor:
        x0 = x if x0 is None else x0
        return x0 * self.linear(x) + x

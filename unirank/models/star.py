"""STAR topology-adaptive network (Sheng et al., "One Model to Serve All", CIKM 2021).

Each layer's weights are the element-wise product of shared and domain-specific weights:

    W_d = W_shared ⊙ W_domain[d],   b_d = b_shared + b_domain[d]
    h' = ReLU(W_dᵀ h + b_d)

Domain weights start at 1 and domain biases at 0, so training starts from the shared network.
For static shapes every domain's layer is computed and the example's own is gathered (FLOPs
include all D domains).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from unirank.models.towers import Towers
from unirank.space.arch import SharingSpec


class StarLayer(nn.Module):
    """Call: ``h`` [B, F], ``domain`` [B] → [B, W]. FLOPs per example: 2·D·F·W."""

    def __init__(self, in_features: int, width: int, num_domains: int):
        super().__init__()
        bound = 1 / math.sqrt(in_features)
        self.shared_w = nn.Parameter(torch.empty(in_features, width).uniform_(-bound, bound))
        self.shared_b = nn.Parameter(torch.zeros(width))
        self.domain_w = nn.Parameter(torch.ones(num_domains, in_features, width))
        self.domain_b = nn.Parameter(torch.zeros(num_domains, width))
        self.out_features = width

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        weights = self.shared_w * self.domain_w                       # [D, F, W]
        every = torch.einsum("bf,dfw->bdw", h, weights) + self.domain_b  # [B, D, W]
        own = every[torch.arange(h.shape[0], device=h.device), domain]
        return torch.relu(own + self.shared_b)


class Star(nn.Module):
    """Call: ``h`` [B, F], ``domain`` [B] → [B, T]."""

    def __init__(self, in_features: int, spec: SharingSpec, num_domains: int, num_objectives: int):
        super().__init__()
        self.layers = nn.ModuleList()
        width = in_features
        for out in spec.star_widths:
            self.layers.append(StarLayer(width, out, num_domains))
            width = out
        self.towers = Towers(width, spec.tower_width, num_domains, num_objectives, spec.towers)

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            h = layer(h, domain)
        return self.towers(h, domain)

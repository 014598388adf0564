"""STAR topology-adaptive network (Sheng et al., "One Model to Serve All", CIKM 2021).

Each layer's weights are the element-wise product of shared and domain-specific weights:

    W_d = W_shared ⊙ W_domain[d],   b_d = b_shared + b_domain[d]
    h' = ReLU(W_dᵀ h + b_d)

Domain weights start at 1 and domain biases at 0, so training starts from the shared network.
For static shapes every domain's layer is computed and the example's own is gathered (FLOPs
include all D domains).

The paper's two other parts, each optional in ``SharingSpec``:
- **partitioned normalisation** (``star_norm``) of the star network's input, per domain p:
      PN(z) = (γ ⊙ γ_p) ⊙ (z − μ_p) / √(σ²_p + ε) + (β + β_p)
  μ_p, σ²_p are the statistics of domain p's examples in the batch while training (the paper's
  batches hold one domain; ours are mixed, so the statistics are taken per domain) and per-domain
  moving averages at inference.
- **the auxiliary network** (``star_auxiliary``): a two-layer ReLU MLP fed the domain indicator
  (a learned domain embedding of width ``star_auxiliary``) beside the star network's input; its
  logits (one per objective) are added to the main ones, so domain differences get a direct path.
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


class PartitionedNorm(nn.Module):
    """Call: ``z`` [B, F], ``domain`` [B] → [B, F]. FLOPs per example at inference: 8·D·F (the
    one-hot reads of the domain's mean, scale, γ_p and β_p) + 6·F (subtract, multiply, scale,
    shift) + the rsqrt over the D×F table; training adds the per-domain sums."""

    def __init__(self, features: int, num_domains: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.num_domains, self.momentum, self.eps = num_domains, momentum, eps
        self.gamma = nn.Parameter(torch.ones(features))
        self.beta = nn.Parameter(torch.zeros(features))
        self.domain_gamma = nn.Parameter(torch.ones(num_domains, features))
        self.domain_beta = nn.Parameter(torch.zeros(num_domains, features))
        self.register_buffer("running_mean", torch.zeros(num_domains, features))
        self.register_buffer("running_var", torch.ones(num_domains, features))

    def forward(self, z: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        # Per-domain sums and per-example reads as one-hot matmuls rather than scatter/gather:
        # their gradients are then deterministic whatever the thread count.
        onehot = nn.functional.one_hot(domain, self.num_domains).to(z.dtype)           # [B, D]
        if self.training:
            count = onehot.sum(0).unsqueeze(1)                                           # [D, 1]
            mean = (onehot.t() @ z) / count.clamp_min(1)
            centred = z - onehot @ mean
            var = (onehot.t() @ (centred * centred)) / count.clamp_min(1)
            with torch.no_grad():
                seen = count > 0
                self.running_mean.copy_(torch.where(
                    seen, (1 - self.momentum) * self.running_mean + self.momentum * mean.detach(), self.running_mean))
                self.running_var.copy_(torch.where(
                    seen, (1 - self.momentum) * self.running_var + self.momentum * var.detach(), self.running_var))
            normed = centred * (onehot @ torch.rsqrt(var + self.eps))
        else:
            normed = (z - onehot @ self.running_mean) * (onehot @ torch.rsqrt(self.running_var + self.eps))
        return normed * (self.gamma * (onehot @ self.domain_gamma)) + (self.beta + onehot @ self.domain_beta)


class Star(nn.Module):
    """Call: ``h`` [B, F], ``domain`` [B] → [B, T]."""

    def __init__(self, in_features: int, spec: SharingSpec, num_domains: int, num_objectives: int):
        super().__init__()
        self.norm = PartitionedNorm(in_features, num_domains) if spec.star_norm else None
        self.auxiliary = None
        if spec.star_auxiliary:
            width = spec.star_auxiliary
            self.domain_indicator = nn.Embedding(num_domains, width)
            self.auxiliary = nn.Sequential(nn.Linear(in_features + width, width), nn.ReLU(),
                                           nn.Linear(width, num_objectives))
        self.layers = nn.ModuleList()
        width = in_features
        for out in spec.star_widths:
            self.layers.append(StarLayer(width, out, num_domains))
            width = out
        self.towers = Towers(width, spec.tower_width, num_domains, num_objectives, spec.towers)

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        if self.norm is not None:
            h = self.norm(h, domain)
        x = h
        for layer in self.layers:
            x = layer(x, domain)
        logits = self.towers(x, domain)
        if self.auxiliary is not None:
            logits = logits + self.auxiliary(torch.cat([h, self.domain_indicator(domain)], dim=1))
        return logits

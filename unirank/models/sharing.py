"""Domain-sharing patterns: how portfolio heads share the representation.

Every pattern maps the interaction stack's output ``h`` [B, F] and the domain index [B] to one
logit per objective [B, T], routed through the heads of the example's own domain. Heads exist per
portfolio (P = num_domains × num_objectives, domain-major). For export-friendly static shapes all
P heads are computed and the example's domain row is gathered; the FLOP count therefore includes
the heads of other domains (they are small next to the shared layers).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from unirank.space.arch import SharingSpec


class PortfolioTowers(nn.Module):
    """One small MLP per portfolio, batched: y_p = w2_pᵀ ReLU(W1_pᵀ h_p + b1_p) + b2_p.

    Args:
        in_features: width ``F`` of the input of every tower.
        tower_width: hidden width ``H``.
        num_domains, num_objectives: ``D`` and ``T``; ``P = D·T`` towers.

    Call: ``h`` [B, F] (same input for all towers) or [B, P, F] (one input per tower), ``domain``
    [B] int64 → logits [B, T] of the example's own domain. FLOPs per example: 2·P·(F·H + H).
    """

    def __init__(self, in_features: int, tower_width: int, num_domains: int, num_objectives: int):
        super().__init__()
        self.num_domains, self.num_objectives = num_domains, num_objectives
        p = num_domains * num_objectives
        bound1, bound2 = 1 / math.sqrt(in_features), 1 / math.sqrt(tower_width)
        self.w1 = nn.Parameter(torch.empty(p, in_features, tower_width).uniform_(-bound1, bound1))
        self.b1 = nn.Parameter(torch.zeros(p, tower_width))
        self.w2 = nn.Parameter(torch.empty(p, tower_width).uniform_(-bound2, bound2))
        self.b2 = nn.Parameter(torch.zeros(p))

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        if h.dim() == 2:
            hidden = torch.einsum("bf,pfh->bph", h, self.w1)
        else:
            hidden = torch.einsum("bpf,pfh->bph", h, self.w1)
        hidden = torch.relu(hidden + self.b1)
        logits = torch.einsum("bph,ph->bp", hidden, self.w2) + self.b2  # [B, P]
        logits = logits.view(-1, self.num_domains, self.num_objectives)
        return logits[torch.arange(logits.shape[0], device=logits.device), domain]


class SharedBottom(nn.Module):
    """Shared bottom (Caruana 1997): all towers read ``h`` directly.

    Call: ``h`` [B, F], ``domain`` [B] → [B, T].
    """

    def __init__(self, in_features: int, spec: SharingSpec, num_domains: int, num_objectives: int):
        super().__init__()
        self.towers = PortfolioTowers(in_features, spec.tower_width, num_domains, num_objectives)

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        return self.towers(h, domain)


class MMoE(nn.Module):
    """Multi-gate mixture of experts (Ma et al., KDD 2018), one gate per portfolio.

        e_k = ReLU(W_k h + c_k)                       k = 1..E   (experts, width We)
        g_p = softmax(G_p h)                          p = 1..P   (gates over the E experts)
        y_p = tower_p(Σ_k g_p[k] · e_k)

    Call: ``h`` [B, F], ``domain`` [B] → [B, T]. FLOPs per example: 2·F·E·We (experts, one fused
    matmul) + 2·F·P·E (gates) + 2·P·E·We (mixing) + towers.
    """

    def __init__(self, in_features: int, spec: SharingSpec, num_domains: int, num_objectives: int):
        super().__init__()
        assert spec.num_experts is not None and spec.expert_width is not None
        self.num_experts, self.expert_width = spec.num_experts, spec.expert_width
        self.num_portfolios = num_domains * num_objectives
        self.experts = nn.Linear(in_features, self.num_experts * self.expert_width)
        self.gates = nn.Linear(in_features, self.num_portfolios * self.num_experts)
        self.towers = PortfolioTowers(self.expert_width, spec.tower_width, num_domains, num_objectives)

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        experts = torch.relu(self.experts(h)).view(-1, self.num_experts, self.expert_width)
        gates = torch.softmax(self.gates(h).view(-1, self.num_portfolios, self.num_experts), dim=-1)
        mixed = torch.einsum("bpe,bew->bpw", gates, experts)  # [B, P, We]
        return self.towers(mixed, domain)


SHARING = {"shared_bottom": SharedBottom, "mmoe": MMoE}

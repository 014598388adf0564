"""Domain-sharing patterns: shared bottom and MMoE (PLE in ple.py, STAR in star.py).

Every pattern has the call signature ``(h [B, F], domain [B]) → logits [B, T]``: the stack's
output in, one logit per objective out, from the tower units of the example's domain.
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.models.towers import Towers, num_units
from unirank.space.arch import SharingSpec


class SharedBottom(nn.Module):
    """Shared bottom (Caruana 1997): every tower unit reads ``h`` directly.

    Call: ``h`` [B, F], ``domain`` [B] → [B, T]. FLOPs: the towers'.
    """

    def __init__(self, in_features: int, spec: SharingSpec, num_domains: int, num_objectives: int):
        super().__init__()
        self.towers = Towers(in_features, spec.tower_width, num_domains, num_objectives, spec.towers)

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        return self.towers(h, domain)


class MMoE(nn.Module):
    """Multi-gate mixture of experts (Ma et al., KDD 2018), one gate per tower unit u.

        e_k = ReLU(W_k h + c_k)                       k = 1..E   (experts, width We)
        g_u = softmax(G_u h)                                      (gate over the E experts)
        y_u = tower_u(Σ_k g_u[k] · e_k)

    Call: ``h`` [B, F], ``domain`` [B] → [B, T]. FLOPs per example: 2·F·E·We (experts, one
    fused matmul) + 2·F·U·E (gates) + 2·U·E·We (mixing) + towers.
    """

    def __init__(self, in_features: int, spec: SharingSpec, num_domains: int, num_objectives: int):
        super().__init__()
        self.num_experts, self.expert_width = spec.num_experts, spec.expert_width
        self.units = num_units(spec.towers, num_domains, num_objectives)
        self.experts = nn.Linear(in_features, self.num_experts * self.expert_width)
        self.gates = nn.Linear(in_features, self.units * self.num_experts)
        self.towers = Towers(self.expert_width, spec.tower_width, num_domains, num_objectives, spec.towers)

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        experts = torch.relu(self.experts(h)).view(-1, self.num_experts, self.expert_width)
        gates = torch.softmax(self.gates(h).view(-1, self.units, self.num_experts), dim=-1)
        return self.towers(torch.einsum("bue,bew->buw", gates, experts), domain)

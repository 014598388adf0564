"""Domain-sharing patterns: shared bottom and MMoE (PLE in ple.py, STAR in star.py).

Every pattern has the call signature ``(h [B, F], domain [B]) → logits [B, T]``: the stack's
output in, one logit per objective out, from the tower units of the example's domain.
"""
from __future__ import annotations

import math

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

        e_k = MLP_k(h)                                k = 1..E   (experts: ReLU layers of
                                                      ``expert_hidden``, then width We)
        g_u = softmax(G_u h)                                      (gate over the E experts)
        y_u = tower_u(Σ_k g_u[k] · e_k)

    Call: ``h`` [B, F], ``domain`` [B] → [B, T]. Matmul FLOPs per example: 2·F·E·W1 (experts'
    first layer, one fused matmul) + Σ 2·E·W_i·W_{i+1} (deeper expert layers, batched) + 2·F·U·E
    (gates) + 2·U·E·We (mixing) + towers.
    """

    def __init__(self, in_features: int, spec: SharingSpec, num_domains: int, num_objectives: int):
        super().__init__()
        self.num_experts, self.expert_width = spec.num_experts, spec.expert_width
        self.units = num_units(spec.towers, num_domains, num_objectives)
        widths = (*(spec.expert_hidden or ()), spec.expert_width)
        self.first_width = widths[0]
        self.experts = nn.Linear(in_features, self.num_experts * widths[0])
        self.deeper_w = nn.ParameterList()
        self.deeper_b = nn.ParameterList()
        for a, b in zip(widths[:-1], widths[1:]):
            bound = 1 / math.sqrt(a)
            self.deeper_w.append(nn.Parameter(torch.empty(self.num_experts, a, b).uniform_(-bound, bound)))
            self.deeper_b.append(nn.Parameter(torch.zeros(self.num_experts, b)))
        self.gates = nn.Linear(in_features, self.units * self.num_experts)
        self.towers = Towers(self.expert_width, spec.tower_width, num_domains, num_objectives, spec.towers)

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        experts = torch.relu(self.experts(h)).view(-1, self.num_experts, self.first_width)
        for w, b in zip(self.deeper_w, self.deeper_b):
            experts = torch.relu(torch.einsum("bei,eio->beo", experts, w) + b)
        gates = torch.softmax(self.gates(h).view(-1, self.units, self.num_experts), dim=-1)
        return self.towers(torch.einsum("bue,bew->buw", gates, experts), domain)

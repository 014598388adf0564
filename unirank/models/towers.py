"""Towers: the per-portfolio / per-domain / per-objective heads and the routing to each example.

Tower *units* by mode (D domains, T objectives, P = D·T portfolios):

    portfolio:  P units, 1 logit each; example of domain d reads units (d, 1..T)
    domain:     D units, T logits each; example of domain d reads unit d
    objective:  T units, 1 logit each, shared by all domains

Each unit u: y_u = W2_uᵀ ReLU(W1_uᵀ x_u + b1_u) + b2_u. For static shapes (export, compile) all
units are computed and the example's own are gathered; FLOPs therefore include the units of
other domains (towers are small next to the shared layers).
"""
from __future__ import annotations

import math

import torch
from torch import nn


def num_units(mode: str, num_domains: int, num_objectives: int) -> int:
    return {"portfolio": num_domains * num_objectives, "domain": num_domains,
            "objective": num_objectives}[mode]


class Towers(nn.Module):
    """Call: ``x`` [B, F] (same input for every unit) or [B, U, F] (one input per unit),
    ``domain`` [B] int64 → logits [B, T]. FLOPs per example: 2·U·(F·H + H·outputs)."""

    def __init__(self, in_features: int, tower_width: int, num_domains: int, num_objectives: int,
                 mode: str = "portfolio"):
        super().__init__()
        self.mode, self.num_domains, self.num_objectives = mode, num_domains, num_objectives
        units = num_units(mode, num_domains, num_objectives)
        outputs = num_objectives if mode == "domain" else 1
        bound1, bound2 = 1 / math.sqrt(in_features), 1 / math.sqrt(tower_width)
        self.w1 = nn.Parameter(torch.empty(units, in_features, tower_width).uniform_(-bound1, bound1))
        self.b1 = nn.Parameter(torch.zeros(units, tower_width))
        self.w2 = nn.Parameter(torch.empty(units, tower_width, outputs).uniform_(-bound2, bound2))
        self.b2 = nn.Parameter(torch.zeros(units, outputs))

    def forward(self, x: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        units, width = self.w1.shape[0], self.w1.shape[2]
        if x.dim() == 2:  # one GEMM [B, F] @ [F, U·H] (a batch-of-U bmm with small N is far slower on GPUs)
            hidden = (x @ self.w1.permute(1, 0, 2).reshape(x.shape[1], units * width)).view(-1, units, width)
        else:
            hidden = torch.einsum("buf,ufh->buh", x, self.w1)
        hidden = torch.relu(hidden + self.b1)
        # The output layer has 1..T columns: a broadcast multiply and sum, not a GEMM.
        logits = (hidden.unsqueeze(-1) * self.w2).sum(dim=2) + self.b2  # [B, U, outputs]
        if self.mode == "objective":
            return logits[..., 0]
        rows = torch.arange(logits.shape[0], device=logits.device)
        if self.mode == "domain":
            return logits[rows, domain]
        return logits[..., 0].view(-1, self.num_domains, self.num_objectives)[rows, domain]

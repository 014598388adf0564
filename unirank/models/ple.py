"""PLE / CGC (Tang et al., "Progressive Layered Extraction", RecSys 2020).

Groups g = 1..G are the objectives or the domains (``specific_to``). Each level has S shared
experts and K experts specific to each group:

    s_k = ReLU(A_k x_shared + a_k)          shared experts        [S, We]
    q_gk = ReLU(B_gk x_g + b_gk)            group g's experts     [G, K, We]
    x_g'  = Σ softmax(G_g x_g) · [q_g1..q_gK, s_1..s_S]           (group gate, K+S experts)
    x_shared' = Σ softmax(H x_shared) · [all G·K + S experts]     (not on the last level)

With one level this is CGC. Tower unit u reads the output of its group.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from unirank.models.towers import Towers, num_units
from unirank.space.arch import SharingSpec


def _uniform(*shape: int, fan_in: int) -> nn.Parameter:
    bound = 1 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


class PLELevel(nn.Module):
    """Call: ``shared`` [B, F], ``groups`` [B, G, F] → (shared' [B, We] or None, groups' [B, G, We])."""

    def __init__(self, in_features: int, num_groups: int, shared: int, specific: int, width: int,
                 last: bool):
        super().__init__()
        self.num_groups, self.num_shared, self.num_specific, self.width = num_groups, shared, specific, width
        self.shared_w = _uniform(in_features, shared * width, fan_in=in_features)
        self.shared_b = nn.Parameter(torch.zeros(shared * width))
        self.specific_w = _uniform(num_groups, in_features, specific * width, fan_in=in_features)
        self.specific_b = nn.Parameter(torch.zeros(num_groups, specific * width))
        self.group_gates = _uniform(num_groups, in_features, specific + shared, fan_in=in_features)
        self.shared_gate = None if last else nn.Linear(in_features, num_groups * specific + shared)

    def forward(self, shared: torch.Tensor, groups: torch.Tensor):
        b = shared.shape[0]
        s = torch.relu(shared @ self.shared_w + self.shared_b).view(b, self.num_shared, self.width)
        q = torch.relu(torch.einsum("bgf,gfo->bgo", groups, self.specific_w) + self.specific_b)
        q = q.view(b, self.num_groups, self.num_specific, self.width)
        candidates = torch.cat([q, s.unsqueeze(1).expand(-1, self.num_groups, -1, -1)], dim=2)
        gates = torch.softmax(torch.einsum("bgf,gfe->bge", groups, self.group_gates), dim=-1)
        new_groups = torch.einsum("bge,bgew->bgw", gates, candidates)
        if self.shared_gate is None:
            return None, new_groups
        everything = torch.cat([q.reshape(b, -1, self.width), s], dim=1)
        weights = torch.softmax(self.shared_gate(shared), dim=-1)
        return torch.einsum("be,bew->bw", weights, everything), new_groups


class PLE(nn.Module):
    """Call: ``h`` [B, F], ``domain`` [B] → [B, T]."""

    def __init__(self, in_features: int, spec: SharingSpec, num_domains: int, num_objectives: int):
        super().__init__()
        self.num_groups = num_objectives if spec.specific_to == "objective" else num_domains
        self.levels = nn.ModuleList()
        width = in_features
        for level in range(spec.levels):
            self.levels.append(PLELevel(width, self.num_groups, spec.num_experts,
                                        spec.num_specific_experts, spec.expert_width,
                                        last=level == spec.levels - 1))
            width = spec.expert_width
        units = num_units(spec.towers, num_domains, num_objectives)
        if spec.towers == "portfolio":
            unit_group = [(u % num_objectives) if spec.specific_to == "objective" else (u // num_objectives)
                          for u in range(units)]
        else:
            unit_group = list(range(units))
        self.register_buffer("unit_group", torch.tensor(unit_group, dtype=torch.int64), persistent=False)
        self.towers = Towers(spec.expert_width, spec.tower_width, num_domains, num_objectives, spec.towers)

    def forward(self, h: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        shared, groups = h, h.unsqueeze(1).expand(-1, self.num_groups, -1)
        for level in self.levels:
            shared, groups = level(shared, groups)
        return self.towers(groups.index_select(1, self.unit_group), domain)

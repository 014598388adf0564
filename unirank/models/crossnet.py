"""DCNv2 cross module (Wang et al., "DCN V2", WWW 2021): full rank, low rank, mixture of experts.

    full rank:   o = x0 ⊙ (W h + b) + h
    low rank:    o = x0 ⊙ (U (Vᵀ h) + b) + h                       U, V ∈ R^{W×r}
    mixture:     o = Σ_k g_k(h) · x0 ⊙ (U_k (V_kᵀ h) + b_k) + h     g = softmax(G h), k = 1..K

``x0`` is the stack's input h0 when it has the same width as ``h`` (DCNv2's stacked cross
network), otherwise ``h`` itself (a cross placed after a width change crosses its own input).
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.models.blocks import Block


class CrossModule(nn.Module):
    """Args: ``in_features`` W, ``rank`` r (None = full rank), ``experts`` K (≥ 2 needs r).

    Call: ``h`` [B, W], ``E`` (unused), ``x0`` [B, W0] → (o [B, W], None).
    FLOPs per example: full 2·W²; low rank 2·2·W·r; mixture K·2·2·W·r + 2·W·K (gate).
    """

    def __init__(self, in_features: int, rank: int | None = None, experts: int = 1):
        super().__init__()
        self.out_features = in_features
        self.experts = experts
        if rank is None:
            self.full = nn.Linear(in_features, in_features)
            nn.init.zeros_(self.full.bias)
            return
        self.full = None
        self.v = nn.Parameter(torch.randn(experts, in_features, rank) / in_features ** 0.5)
        self.u = nn.Parameter(torch.randn(experts, rank, in_features) / rank ** 0.5)
        self.bias = nn.Parameter(torch.zeros(experts, in_features))
        self.gate = nn.Linear(in_features, experts, bias=False) if experts > 1 else None

    def forward(self, h, E, x0):
        x0 = x0 if x0.shape[1] == h.shape[1] else h
        if self.full is not None:
            return x0 * self.full(h) + h, None
        low = torch.einsum("bw,kwr->bkr", h, self.v)
        mixed = torch.einsum("bkr,krw->bkw", low, self.u) + self.bias  # [B, K, W]
        if self.gate is None:
            return x0 * mixed[:, 0] + h, None
        gates = torch.softmax(self.gate(h), dim=-1)  # [B, K]
        return x0 * torch.einsum("bk,bkw->bw", gates, mixed) + h, None


def _suggest(trial, name, c) -> dict:
    rank = trial.suggest_categorical(f"{name}_rank", list(c.cross_rank))
    experts = trial.suggest_categorical(f"{name}_experts", list(c.cross_experts)) if rank is not None else None
    return {"rank": rank, "experts": experts if experts and experts > 1 else None}


def _summary(m) -> str:
    inner = ",".join(x for x in (f"r{m.rank}" if m.rank else "", f"×{m.experts}" if (m.experts or 1) > 1 else "") if x)
    return f"cross({inner})" if inner else "cross"


def _describe(m) -> str:
    experts = f", mixture of {m.experts} experts" if (m.experts or 1) > 1 else ""
    return f"DCNv2 cross ({f'rank {m.rank}' if m.rank else 'full rank'}{experts})"


BLOCK = Block(
    kind="cross", params=("rank", "experts"),
    build=lambda spec, ctx: CrossModule(ctx.in_features, spec.rank, spec.experts or 1),
    suggest=_suggest,
    point=lambda m, name: {f"{name}_rank": m.rank, f"{name}_experts": m.experts or 1},
    choices=lambda c: sum(1 if r is None else len(c.cross_experts) for r in c.cross_rank),
    space_rows=lambda c: [("    cross rank (null = full)", str(list(c.cross_rank))),
                          ("      cross experts (if low rank)", str(list(c.cross_experts)))],
    summary=_summary, describe=_describe,
    check=lambda m: ("a cross module with experts > 1 needs rank (mixture of low-rank experts)"
                     if (m.experts or 1) > 1 and m.rank is None else None),
)

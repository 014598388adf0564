"""Wukong layer (Zhang et al., ICML 2024): an optimised factorization-machine block (FMB) and a
linear compress block (LCB) side by side over the rows of E, with a residual and layer norm.

    FMB(E) = reshape(MLP(LN(flatten(E (Eᵀ Y)))))      Y ∈ R^{N×k}: E Eᵀ Y without forming E Eᵀ
             → ⌈N/2⌉ rows of d
    LCB(E) = W E                                       W ∈ R^{⌊N/2⌋×N} → ⌊N/2⌋ rows
    E'     = LN([FMB(E) ; LCB(E)] + E)                 E' ∈ R^{N×d},  o = flatten(E')

Pairwise interactions of every pair of rows enter through E Eᵀ (the FM part) at O(N·d·k) cost.
Deviation: the paper chooses the FMB/LCB row counts freely; here they split N so the residual
needs no projection. The module hands E' on as the feature matrix of later layers.
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.models.blocks import Block


class WukongModule(nn.Module):
    """Args: ``num_rows`` N, ``dim`` d, ``rank`` k (FM compression), ``width`` (FMB MLP hidden).

    Call: ``h`` (unused), ``E`` [B, N, d], ``x0`` (unused) → (o [B, N·d], E' [B, N, d]).
    FLOPs per example: 2·2·N·d·k (Eᵀ Y, then E ·) + MLP 2·(N·k·w + w·⌈N/2⌉·d) + LCB 2·⌊N/2⌋·N·d
    + the norms and the residual.
    """

    def __init__(self, num_rows: int, dim: int, rank: int, width: int):
        super().__init__()
        self.fm_rows, self.lc_rows, self.dim = (num_rows + 1) // 2, num_rows // 2, dim
        self.project = nn.Linear(num_rows, rank, bias=False)          # Y, applied to the rows of E
        self.fm_norm = nn.LayerNorm(num_rows * rank)
        self.mlp = nn.Sequential(nn.Linear(num_rows * rank, width), nn.ReLU(), nn.Linear(width, self.fm_rows * dim))
        self.compress = nn.Linear(num_rows, self.lc_rows, bias=False) if self.lc_rows else None
        self.norm = nn.LayerNorm(dim)
        self.out_features = num_rows * dim

    def forward(self, h, E, x0):
        b = E.shape[0]
        compressed = self.project(E.transpose(1, 2))                   # Eᵀ Y [B, d, k]
        interactions = E @ compressed                                  # E Eᵀ Y [B, N, k]
        rows = [self.mlp(self.fm_norm(interactions.flatten(1))).view(b, self.fm_rows, self.dim)]
        if self.compress is not None:
            rows.append(self.compress(E.transpose(1, 2)).transpose(1, 2))  # W E [B, ⌊N/2⌋, d]
        new = self.norm(E + torch.cat(rows, dim=1))
        return new.flatten(1), new


# parameters layer<i>_module<j>_fm_rank / _fm_width (names of their own: cross's _rank has other choices)
BLOCK = Block(
    kind="wukong", params=("rank", "width"),
    build=lambda spec, ctx: WukongModule(ctx.num_rows, ctx.dim, spec.rank, spec.width),
    suggest=lambda trial, name, c: {"rank": trial.suggest_categorical(f"{name}_fm_rank", list(c.wukong_rank)),
                                    "width": trial.suggest_categorical(f"{name}_fm_width", list(c.mlp_width))},
    point=lambda m, name: {f"{name}_fm_rank": m.rank, f"{name}_fm_width": m.width},
    choices=lambda c: len(c.wukong_rank) * len(c.mlp_width),
    space_rows=lambda c: [("    wukong FM rank k, MLP width", f"{list(c.wukong_rank)}, mlp_width")],
    summary=lambda m: f"wukong(k{m.rank},{m.width})",
    describe=lambda m: f"Wukong FM + linear compress (rank {m.rank}, MLP {m.width})",
    check=lambda m: "a wukong module needs rank and width" if m.rank is None or m.width is None else None,
)

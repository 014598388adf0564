"""Self-attention over feature embeddings (AutoInt, Song et al., CIKM 2019).

    Q = E W_q, K = E W_k, V = E W_v                      split into H heads of size d_h
    A_h = softmax(Q_h K_hᵀ / √d_h) V_h
    E'  = ReLU([A_1 … A_H] W_o + E W_res)                 E' ∈ R^{N×d}
    o   = flatten(E')

The module also hands E' on as the feature matrix of later layers.
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.models.attend import attend
from unirank.models.blocks import Block


class AttentionModule(nn.Module):
    """Args: ``num_rows`` N, ``dim`` d, ``heads`` H (head size d_h = max(1, d // H)).

    Call: ``h`` (unused), ``E`` [B, N, d], ``x0`` (unused) → (o [B, N·d], E' [B, N, d]).
    FLOPs per example: 2·N·d·3·H·d_h (Q, K, V) + 2·2·N²·H·d_h (scores, mix) + 2·N·H·d_h·d (W_o)
    + 2·N·d·d (W_res).
    """

    def __init__(self, num_rows: int, dim: int, heads: int = 1):
        super().__init__()
        self.heads, self.head_dim = heads, max(1, dim // heads)
        inner = heads * self.head_dim
        self.qkv = nn.Linear(dim, 3 * inner, bias=False)
        self.out = nn.Linear(inner, dim, bias=False)
        self.residual = nn.Linear(dim, dim, bias=False)
        self.out_features = num_rows * dim

    def forward(self, h, E, x0):
        b, n, _ = E.shape
        q, k, v = self.qkv(E).view(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        mixed = attend(q, k, v)                                                 # [B, H, N, d_h]
        mixed = mixed.transpose(1, 2).reshape(b, n, self.heads * self.head_dim)
        new = torch.relu(self.out(mixed) + self.residual(E))
        return new.flatten(1), new


BLOCK = Block(
    kind="attention", params=("heads",),
    build=lambda spec, ctx: AttentionModule(ctx.num_rows, ctx.dim, spec.heads or 1),
    suggest=lambda trial, name, c: {"heads": trial.suggest_categorical(f"{name}_heads", list(c.attention_heads))},
    point=lambda m, name: {f"{name}_heads": m.heads or 1},
    choices=lambda c: len(c.attention_heads),
    space_rows=lambda c: [("    attention heads", str(list(c.attention_heads)))],
    summary=lambda m: f"attn{m.heads or 1}h",
    describe=lambda m: f"self-attention ({m.heads or 1} heads)",
)

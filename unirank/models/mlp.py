"""MLP module: o = Dropout(ReLU(W h + b)) (dropout only when the ArchSpec sets a rate)."""
from __future__ import annotations

import torch
from torch import nn

from unirank.models.blocks import Block


class MLPModule(nn.Module):
    """Args: ``in_features`` W, ``width`` W'.

    Call (the common module signature): ``h`` [B, W], ``E`` [B, N, d], ``x0`` [B, W0] →
    (o [B, W'], None). FLOPs per example: 2·W·W'.
    """

    def __init__(self, in_features: int, width: int, dropout: float | None = None):
        super().__init__()
        self.linear = nn.Linear(in_features, width)
        self.dropout = nn.Dropout(dropout) if dropout else None
        self.out_features = width

    def forward(self, h, E, x0):
        o = torch.relu(self.linear(h))
        return (self.dropout(o) if self.dropout is not None else o), None


def _build(spec, ctx):
    return MLPModule(ctx.in_features, spec.width, ctx.dropout)


BLOCK = Block(
    kind="mlp", params=("width",), build=_build,
    suggest=lambda trial, name, c: {"width": trial.suggest_categorical(f"{name}_width", list(c.mlp_width))},
    point=lambda m, name: {f"{name}_width": m.width},
    choices=lambda c: len(c.mlp_width),
    space_rows=lambda c: [("    mlp width", str(list(c.mlp_width)))],
    summary=lambda m: f"mlp{m.width}",
    describe=lambda m: f"MLP (width {m.width})",
    check=lambda m: "an mlp module needs width (an integer >= 1)" if m.width is None else None,
)

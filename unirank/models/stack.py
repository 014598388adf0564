"""The interaction stack: layers of modules run in parallel, outputs concatenated (DHEN-style).

Every module has the same call signature ``(h [B, W], E [B, N, d], x0 [B, W0]) → (o, E' | None)``
(each kind is a block of ``unirank.models.blocks``). A layer runs its modules on the same input, concatenates their outputs
``o = [o_1 ‖ … ‖ o_M]`` and applies its skip:

    none:      h' = o
    concat:    h' = [h ‖ o]
    residual:  h' = o + P h          (P = identity when widths match, else a Linear)

Attention modules also return a new feature matrix; when several run in one layer the new
matrix is their mean. Other modules leave E unchanged.
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.errors import UnirankError
from unirank.models.blocks import BuildContext, block
from unirank.space.arch import LayerSpec, ModuleSpec


def build_module(spec: ModuleSpec, in_features: int, num_rows: int, dim: int,
                 dense_row: bool = False, dropout: float | None = None) -> nn.Module:
    """The module of ``spec`` (its block's builder, ``unirank.models.blocks``)."""
    return block(spec.kind).build(spec, BuildContext(in_features, num_rows, dim, dense_row, dropout))


class StackLayer(nn.Module):
    """Call: ``h`` [B, W], ``E`` [B, N, d], ``x0`` [B, W0] → (h' [B, W'], E' [B, N, d])."""

    def __init__(self, spec: LayerSpec, in_features: int, num_rows: int, dim: int, index: int = 0,
                 dense_row: bool = False, dropout: float | None = None):
        super().__init__()
        self.skip = spec.skip
        self.parts = nn.ModuleList(build_module(m, in_features, num_rows, dim, dense_row, dropout)
                                   for m in spec.modules)
        width = sum(p.out_features for p in self.parts)
        if width == 0:
            raise UnirankError(f"layers.{index}: produces no features (a dot module needs at least "
                               f"2 feature rows; this input has {num_rows})")
        self.projection = None
        if spec.skip == "residual" and width != in_features:
            self.projection = nn.Linear(in_features, width, bias=False)
        self.out_features = width + (in_features if spec.skip == "concat" else 0)

    def forward(self, h: torch.Tensor, E: torch.Tensor, x0: torch.Tensor):
        outputs, matrices = [], []
        for part in self.parts:
            out, new_matrix = part(h, E, x0)
            outputs.append(out)
            if new_matrix is not None:
                matrices.append(new_matrix)
        o = torch.cat(outputs, dim=1) if len(outputs) > 1 else outputs[0]
        if self.skip == "concat":
            o = torch.cat([h, o], dim=1)
        elif self.skip == "residual":
            o = o + (self.projection(h) if self.projection is not None else h)
        if matrices:
            E = matrices[0] if len(matrices) == 1 else torch.stack(matrices).mean(0)
        return o, E


class InteractionStack(nn.Module):
    """Call: ``E0`` [B, N, d], ``h0`` [B, W0] → h [B, W] (W = ``out_features``).
    ``dense_row``: row 0 of E0 is the dense row (a DLRM dot module may output it)."""

    def __init__(self, layers: tuple[LayerSpec, ...], in_features: int, num_rows: int, dim: int,
                 dense_row: bool = False, dropout: float | None = None):
        super().__init__()
        self.layers = nn.ModuleList()
        width = in_features
        for i, spec in enumerate(layers):
            layer = StackLayer(spec, width, num_rows, dim, index=i, dense_row=dense_row, dropout=dropout)
            self.layers.append(layer)
            width = layer.out_features
        self.out_features = width

    def forward(self, E: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        x0 = h
        for layer in self.layers:
            h, E = layer(h, E, x0)
        return h

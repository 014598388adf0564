"""The serving program: ``torch.export`` of the inference model (``model.pt2``), and its check.

The program takes ``dense`` [B, D] float32, ``sparse`` [B, S] int64 and ``domain`` [B] int64 —
and, when the data has multi-hot or sequence features, ``lists`` [B, L] int64 (each list's length,
then its ids padded to its ``max_len``, layout in ``unirank.data.features``: lengths vary per example,
the width is the data's) — with a dynamic batch dimension and returns probabilities [B, T]. It is loaded with
``torch.export.load(path).module()`` — no unirank import needed to serve it.

A bundle is written only if the program agrees with the eager model: ``verify_program`` refuses
a max |difference| in probabilities above ``SERVING_TOLERANCE`` on a random batch.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from unirank.data.features import FeatureSpec
from unirank.errors import UnirankError
from unirank.proxies.cost import example_inputs


# Max |eager − exported| allowed, in probability units. fp32 on CPU mostly agrees to ~1e-7, but one
# program differed by 1.2e-5 (a MovieLens model with attention and periodic dense rows, inside a
# benchmark process; exported again in fresh processes it agreed exactly — cause not found, float32
# order of operations suspected); a wrong graph — a missing calibration table, a layer in training
# mode — moves probabilities by 1e-3 and more.
SERVING_TOLERANCE = 1e-4


class Probabilities(nn.Module):
    """Wraps a ranker so that the exported program returns sigmoid(logits)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, domain: torch.Tensor,
                lists: torch.Tensor | None = None) -> torch.Tensor:
        return torch.sigmoid(self.model(dense, sparse, domain, lists))


def export_program(model: nn.Module, features: FeatureSpec, path: str | Path, probabilities: bool = True) -> Path:
    """``probabilities``: the program returns sigmoid(model(...)); else the module's output as is."""
    model = (Probabilities(model.eval().cpu()) if probabilities else model.eval().cpu()).eval()
    batch = torch.export.Dim("batch", min=1, max=1 << 20)
    inputs = example_inputs(features, 8)
    with torch.no_grad():
        program = torch.export.export(model, inputs, dynamic_shapes=tuple({0: batch} for _ in inputs))
    # The archive would otherwise carry the sample inputs as a torch.save pickle; without them it
    # holds JSON (graph, configs) and raw tensor bytes only — nothing that unpickles.
    program.example_inputs = None
    torch.export.save(program, str(path))
    return Path(path)


@torch.no_grad()
def check_program(model: nn.Module, features: FeatureSpec, path: str | Path, batch_size: int = 257,
                  probabilities: bool = True) -> float:
    """Max |eager − exported| over a random batch (of a size the export never saw)."""
    program = torch.export.load(str(path)).module()
    inputs = example_inputs(features, batch_size, seed=3, full=False)  # histories of every length
    eager = (Probabilities(model.eval().cpu()) if probabilities else model.eval().cpu())(*inputs)
    return float((program(*inputs) - eager).abs().max())


def verify_program(model: nn.Module, features: FeatureSpec, path: str | Path,
                   tolerance: float = SERVING_TOLERANCE, probabilities: bool = True) -> float:
    """``check_program``, enforced: one-line UnirankError when the program disagrees (``tolerance``
    in the output's units: probability, or the module's own)."""
    diff = check_program(model, features, path, probabilities=probabilities)
    if not diff <= tolerance:  # NaN disagrees too
        raise UnirankError(f"{Path(path).name}: the exported program differs from the eager model by "
                           f"{diff:.3g} (tolerance {tolerance:g}); the bundle was not written")
    return diff

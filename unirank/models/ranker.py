"""UnifiedRanker: one model, heads per portfolio (domain × objective), built from an ArchSpec."""
from __future__ import annotations

import torch
from torch import nn

from unirank.data.features import FeatureSpec
from unirank.models.embedding import InputLayer
from unirank.models.ple import PLE
from unirank.models.sharing import MMoE, SharedBottom
from unirank.models.stack import InteractionStack
from unirank.models.star import Star
from unirank.space.arch import ArchSpec

SHARING = {"shared_bottom": SharedBottom, "mmoe": MMoE, "ple": PLE, "star": Star}


class UnifiedRanker(nn.Module):
    """inputs → interaction stack → sharing pattern → logits.

    Call: ``dense`` [B, D] float, ``sparse`` [B, S] int64, ``domain`` [B] int64 →
    logits [B, T] (one per objective, from the heads of each example's domain).
    """

    def __init__(self, arch: ArchSpec, features: FeatureSpec):
        super().__init__()
        self.arch = arch
        self.inputs = InputLayer(arch.embedding, features)
        self.stack = InteractionStack(arch.layers, self.inputs.out_features, self.inputs.num_rows,
                                      arch.embedding.dim)
        self.sharing = SHARING[arch.sharing.pattern](
            self.stack.out_features, arch.sharing, features.num_domains, features.num_objectives
        )

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        matrix, flat = self.inputs(dense, sparse, domain)
        return self.sharing(self.stack(matrix, flat), domain)


def build_model(arch: ArchSpec, features: FeatureSpec) -> UnifiedRanker:
    """A pure function of the spec and the features: same inputs, same architecture."""
    return UnifiedRanker(arch, features)

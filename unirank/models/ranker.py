"""UnifiedRanker: one model, one head per portfolio (domain × objective)."""
from __future__ import annotations

import torch
from torch import nn

from unirank.data.features import FeatureSpec
from unirank.models.crossnet import CrossLayer
from unirank.models.embedding import FeatureEmbedding
from unirank.models.mlp import MLPBlock
from unirank.models.sharing import SHARING
from unirank.space.arch import ArchSpec

BLOCKS = {"mlp": MLPBlock, "cross": CrossLayer}


class UnifiedRanker(nn.Module):
    """embed → [dense ‖ flattened embeddings] → interaction layers → sharing pattern → logits.

    Call: ``dense`` [B, D] float, ``sparse`` [B, S] int64, ``domain`` [B] int64 →
    logits [B, T] (one per objective, from the heads of each example's domain).
    """

    def __init__(self, arch: ArchSpec, features: FeatureSpec):
        super().__init__()
        self.arch = arch
        self.embedding = FeatureEmbedding([f.vocab_size for f in features.sparse], arch.embedding_dim)
        width = len(features.dense) + len(features.sparse) * arch.embedding_dim
        self.layers = nn.ModuleList()
        for layer in arch.layers:
            block = BLOCKS[layer.block](width, layer.width) if layer.width else BLOCKS[layer.block](width)
            self.layers.append(block)
            width = block.out_features
        self.sharing = SHARING[arch.sharing.pattern](
            width, arch.sharing, features.num_domains, features.num_objectives
        )

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        x = torch.cat([dense, self.embedding(sparse).flatten(1)], dim=1)
        x0 = x
        for block in self.layers:
            if not isinstance(block, CrossLayer):
                x = block(x)
                x0 = x  # the next run of cross layers crosses with this representation
            else:
                x = block(x, x0)
        return self.sharing(x, domain)


def build_model(arch: ArchSpec, features: FeatureSpec) -> UnifiedRanker:
    """A pure function of the spec and the features: same inputs, same architecture."""
    return UnifiedRanker(arch, features)

"""Embedding of all sparse features with one table and per-feature offsets."""
from __future__ import annotations

import torch
from torch import nn


class FeatureEmbedding(nn.Module):
    """Looks up ``S`` categorical features in one concatenated table.

    Feature ``s`` owns rows ``offsets[s] .. offsets[s] + vocab_sizes[s] - 1``; its id 0 is OOV.

    Args:
        vocab_sizes: ids per feature (including the OOV id).
        dim: embedding dimension ``d``.

    Call: ``sparse`` [B, S] int64 → [B, S, d] float.

    Example::

        emb = FeatureEmbedding([10, 5], dim=4)
        emb(torch.tensor([[3, 1]])).shape  # torch.Size([1, 2, 4])
    """

    def __init__(self, vocab_sizes: list[int], dim: int):
        super().__init__()
        offsets = torch.tensor([0, *vocab_sizes[:-1]], dtype=torch.int64).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.table = nn.Embedding(int(sum(vocab_sizes)), dim)
        nn.init.normal_(self.table.weight, std=0.01)

    def forward(self, sparse: torch.Tensor) -> torch.Tensor:
        return self.table(sparse + self.offsets)

"""Id dropout: categorical ids replaced by the OOV id during training (cold-start robustness).

A split by time evaluates on users (items) that no training row has: their id is the OOV id 0,
whose embedding row no training step ever updated when every training id is in the vocabulary
(``data.min_count`` 1). DropoutNet (Volkovs et al., NeurIPS 2017) trains on inputs with the
preference part dropped so that the model learns to predict from what is left; ``train.id_dropout``
does this per id: each id of the chosen sparse features becomes 0 with probability p, so the OOV
row and the layers after it learn what an unknown id means. Evaluation and serving read the ids
as they are.
"""
from __future__ import annotations

import torch

from unirank.data.batches import Batch
from unirank.data.features import FeatureSpec
from unirank.errors import UnirankError


def check_features(names: tuple[str, ...], features: FeatureSpec) -> None:
    """``train.id_dropout_features`` must name sparse features of the data."""
    sparse = [f.name for f in features.sparse]
    unknown = [n for n in names if n not in sparse]
    if unknown:
        raise UnirankError(f"train.id_dropout_features: {', '.join(map(repr, unknown))} not a sparse feature of "
                           f"the data (expected some of: {', '.join(sparse)})")


class IdDropout:
    """``apply(batch)`` → the batch with ``sparse`` [B, S] int64 ids of the chosen columns set to 0
    (OOV) with probability ``p`` each, independently; draws from its own generator (seeded), so a
    training's other random numbers do not move when p changes."""

    def __init__(self, p: float, features: FeatureSpec, names: tuple[str, ...], seed: int, device: torch.device):
        check_features(names, features)
        sparse = [f.name for f in features.sparse]
        chosen = set(names) if names else set(sparse)
        self.p = p
        self.columns = torch.tensor([n in chosen for n in sparse], dtype=torch.bool, device=device)  # [S]
        self.generator = torch.Generator(device=device).manual_seed(seed)

    def apply(self, batch: Batch) -> Batch:
        draws = torch.rand(batch.sparse.shape, generator=self.generator, device=batch.sparse.device)
        return batch._replace(sparse=batch.sparse.masked_fill((draws < self.p) & self.columns, 0))


def id_dropout_for(p: float, features: FeatureSpec, names: tuple[str, ...], seed: int,
                   device: torch.device) -> IdDropout | None:
    """The training's id dropout, or None when p is 0 (the feature names are checked either way)."""
    if p > 0:
        return IdDropout(p, features, names, seed, device)
    check_features(names, features)
    return None

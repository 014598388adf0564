"""How much of the validation split the training vocabularies cover, said before a search starts.

Vocabularies are fitted on the training rows, so an id no training row has is the OOV id 0. On a
split by time most validation rows can carry such an id: on MovieLens-100K split by time, 82% of
the validation rows come from users no training row has (``benchmarks/cold_rows.py``). Validation
NE then judges those rows as cold start for that feature — what a model learnt of known ids cannot
help them — and a search that selects on validation is steered by it (the README's "Does the
search beat hand-designed models?" measures how). ``unirank search`` prints one line per such
feature before any trial, so the user sees it before reading the search's choice. Reads the
training and validation ids only (no label, no test row).
"""
from __future__ import annotations

import torch

from unirank.data.batches import TensorSplit
from unirank.data.dataset import Dataset

COLD_SHARE = 0.25  # a feature is named when this much more of validation than of training is OOV
_MAX_ROWS = 200_000  # rows read per split, evenly spaced: a share to ±0.2%, not a count


def oov_shares(split: TensorSplit) -> torch.Tensor:
    """``split.sparse`` [N, S] int64 (0 = OOV) → [S]: the share of its rows whose id is OOV, per
    sparse feature, from at most ``_MAX_ROWS`` evenly spaced rows."""
    ids = split.sparse
    if ids.shape[0] == 0:
        return torch.zeros(ids.shape[1])
    rows = torch.linspace(0, ids.shape[0] - 1, min(ids.shape[0], _MAX_ROWS)).long()
    return (ids[rows] == 0).float().mean(dim=0)


def unseen_shares(dataset: Dataset) -> dict[str, tuple[float, float]]:
    """{sparse feature: (share of training rows whose id is OOV, share of validation rows)}."""
    train, val = oov_shares(dataset.splits["train"]), oov_shares(dataset.splits["val"])
    return {f.name: (float(train[i]), float(val[i])) for i, f in enumerate(dataset.features.sparse)}


def cold_validation_lines(shares: dict[str, tuple[float, float]], threshold: float = COLD_SHARE) -> list[str]:
    """One line per feature whose validation rows are OOV more often than its training rows by at
    least ``threshold``, the largest first."""
    cold = sorted(((val, train, name) for name, (train, val) in shares.items() if val - train >= threshold),
                  reverse=True)
    return [f"data: {val:.0%} of the validation rows have a {name} that no training row has ({train:.0%} of "
            f"the training rows are out of its vocabulary): on those rows validation measures cold start "
            f"for {name}" for val, train, name in cold]

"""Which rows a proxy may read: the training split only.

A proxy's result is judged against the fully trained candidates' validation NE (and the search
that uses it against their test NE), so no proxy reads a validation or test row. Its own held-out
rows are carved from the training split (seeded), and nothing trains on them:

    training split ──seeded permutation──► [ holdout | warm-up / fine-tuning rows … | gradient rows ]

- ``holdout``: the proxy's own validation (the warm-up loss term, the short-training baseline's
  NE): ``min(holdout_rows, 20% of the training split)`` rows;
- ``warm``: ``fraction`` of the remaining rows, for the supernet's warm-up and each candidate's
  fine-tuning;
- ``grad``: rows after those for the gradient terms' batches (the warm-up rows themselves when
  the warm-up takes nearly everything).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from unirank.data.batches import TensorSplit
from unirank.data.dataset import Dataset


@dataclass(frozen=True)
class ProxyRows:
    holdout: TensorSplit
    warm: TensorSplit
    grad: TensorSplit


def subset(split: TensorSplit, index: torch.Tensor) -> TensorSplit:
    return TensorSplit(**{k: v[index] for k, v in split.tensors().items()})


def proxy_rows(dataset: Dataset, seed: int = 0, holdout_rows: int = 16384, fraction: float = 1.0,
               min_warm: int = 1, grad_rows: int = 0) -> ProxyRows:
    train = dataset.splits["train"]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    n_hold = max(1, min(holdout_rows, len(train) // 5))
    hold, rest = order[:n_hold], order[n_hold:]
    n_warm = min(len(rest), max(min_warm, int(fraction * len(rest))))
    grad = rest[n_warm:n_warm + grad_rows] if len(rest) - n_warm >= grad_rows else rest[:grad_rows]
    return ProxyRows(subset(train, hold), subset(train, rest[:n_warm]), subset(train, grad))

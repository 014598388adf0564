"""fit / evaluate: the training protocol every trial, preset and export shares.

AdamW on all parameters, masked binary cross-entropy summed over objectives, validation NE after
each epoch, early stopping with ``patience``, and the best epoch's weights restored at the end.
"""
from __future__ import annotations

import copy
import random
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from unirank.config import TrainConfig
from unirank.data.batches import TensorSplit
from unirank.data.dataset import Dataset
from unirank.data.features import FeatureSpec
from unirank.train.metrics import EvalResult, portfolio_metrics


class TrainingDiverged(RuntimeError):
    """The loss became NaN/Inf: the trial is reported failed with this reason."""


@dataclass
class FitResult:
    val: EvalResult
    best_epoch: int
    epochs_run: int
    train_seconds: float
    examples_per_second: float
    history: list[dict] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the labelled (mask=True) entries of [B, T]."""
    losses = nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp_min(1)


@torch.no_grad()
def predict(model: nn.Module, split: TensorSplit, batch_size: int = 8192) -> np.ndarray:
    """Probabilities [N, T] for every row of the split, in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = [
        torch.sigmoid(model(b.dense.to(device), b.sparse.to(device), b.domain.to(device))).float().cpu()
        for b in split.batches(batch_size)
    ]
    model.train(was_training)
    return torch.cat(outputs).numpy()


def evaluate(model: nn.Module, split: TensorSplit, features: FeatureSpec) -> EvalResult:
    probs = predict(model, split)
    return portfolio_metrics(probs, split.labels.numpy(), split.mask.numpy(), split.domain.numpy(),
                             features.domains, features.objectives)


def fit(model: nn.Module, dataset: Dataset, cfg: TrainConfig,
        on_epoch: Callable[[int, EvalResult], None] | None = None) -> FitResult:
    device = torch.device(cfg.device)
    model.to(device)
    train = dataset.train.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    generator = torch.Generator().manual_seed(cfg.seed)
    best, best_state, best_epoch, history = None, None, 0, []
    seconds, examples = 0.0, 0
    model.train()
    for epoch in range(1, cfg.max_epochs + 1):
        start = time.perf_counter()
        for batch in train.batches(cfg.batch_size, generator):
            loss = masked_bce(model(batch.dense, batch.sparse, batch.domain), batch.labels, batch.mask)
            if not torch.isfinite(loss):
                raise TrainingDiverged(f"loss became {loss.item()} in epoch {epoch}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        seconds += time.perf_counter() - start
        examples += len(train)
        val = evaluate(model, dataset.val, dataset.features)
        history.append({"epoch": epoch, "val_mean_ne": val.mean_ne, "val_mean_auc": val.mean_auc})
        if on_epoch is not None:
            on_epoch(epoch, val)
        if best is None or val.mean_ne < best.mean_ne:
            best, best_epoch = val, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch - best_epoch >= cfg.patience:
            break
    model.load_state_dict(best_state)
    return FitResult(val=best, best_epoch=best_epoch, epochs_run=len(history),
                     train_seconds=seconds, examples_per_second=examples / max(seconds, 1e-9),
                     history=history)

"""fit / evaluate: the training protocol every trial, preset and export shares.

Dense parameters: AdamW (fused on CUDA). Embedding tables: see ``unirank.train.optim`` (sparse
row-wise updates for large vocabularies). Loss: masked binary cross-entropy over objectives.
On CUDA: the whole training split lives on the device, bf16 autocast (``precision: auto``), and
optionally ``torch.compile`` of the dense part (stack + sharing; embedding lookups stay eager so
their gradients can be sparse). Validation NE after each epoch, early stopping with ``patience``,
best epoch's weights restored. A non-finite loss stops training with ``TrainingDiverged``; it is
checked every ``_CHECK_EVERY`` steps so that GPU steps do not synchronise.
"""
from __future__ import annotations

import copy
import random
import time
from contextlib import nullcontext
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
from unirank.train.optim import make_optimizers

_CHECK_EVERY = 50


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
    losses = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp_min(1)


def autocast_for(device: torch.device, precision: str):
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16) if use_bf16 else nullcontext()


@torch.no_grad()
def predict(model: nn.Module, split: TensorSplit, batch_size: int = 8192, precision: str = "auto") -> np.ndarray:
    """Probabilities [N, T] for every row of the split, in order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    with autocast_for(device, precision):
        for b in split.batches(batch_size):
            logits = model(b.dense.to(device), b.sparse.to(device), b.domain.to(device))
            outputs.append(torch.sigmoid(logits.float()).cpu())
    model.train(was_training)
    return torch.cat(outputs).numpy()


def evaluate(model: nn.Module, split: TensorSplit, features: FeatureSpec, precision: str = "auto") -> EvalResult:
    probs = predict(model, split, precision=precision)
    return portfolio_metrics(probs, split.labels.numpy(), split.mask.numpy(), split.domain.numpy(),
                             features.domains, features.objectives)


def training_loss(model: nn.Module, compile_dense: bool) -> Callable:
    """``loss(batch) → scalar``. With ``compile_dense`` everything but the embedding-table reads
    (whose gradients may be sparse) is one compiled graph: projections, stack, sharing, loss."""
    if not compile_dense or not hasattr(model, "inputs"):
        return lambda b: masked_bce(model(b.dense, b.sparse, b.domain), b.labels, b.mask)

    def dense_part(dense, vectors, domain, labels, mask):
        matrix, flat = model.inputs.assemble(dense, vectors)
        return masked_bce(model.sharing(model.stack(matrix, flat), domain), labels, mask)
    compiled = torch.compile(dense_part)
    return lambda b: compiled(b.dense, model.inputs.lookup(b.sparse, b.domain), b.domain, b.labels, b.mask)


def fit(model: nn.Module, dataset: Dataset, cfg: TrainConfig,
        on_epoch: Callable[[int, EvalResult], None] | None = None) -> FitResult:
    device = torch.device(cfg.device)
    model.to(device)
    train = dataset.train.to(device)
    optimizers = make_optimizers(model, cfg.lr, cfg.weight_decay, cfg.embedding_optimizer,
                                 cfg.embedding_lr, fused=device.type == "cuda")
    compute_loss = training_loss(model, cfg.compile)
    generator = torch.Generator().manual_seed(cfg.seed)
    best, best_state, best_epoch, history = None, None, 0, []
    seconds, examples = 0.0, 0
    model.train()
    for epoch in range(1, cfg.max_epochs + 1):
        start = time.perf_counter()
        finite = torch.ones((), dtype=torch.bool, device=device)
        seen = 0
        for step, batch in enumerate(train.batches(cfg.batch_size, generator, drop_last=cfg.compile), start=1):
            seen += len(batch.domain)
            with autocast_for(device, cfg.precision):
                loss = compute_loss(batch)
            finite &= torch.isfinite(loss.detach())
            if step % _CHECK_EVERY == 0 and not finite:
                raise TrainingDiverged(f"non-finite loss in epoch {epoch} (by step {step})")
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
        if not finite:
            raise TrainingDiverged(f"non-finite loss in epoch {epoch}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_seconds = time.perf_counter() - start
        seconds += epoch_seconds
        examples += seen
        val = evaluate(model, dataset.val, dataset.features, cfg.precision)
        history.append({"epoch": epoch, "val_mean_ne": val.mean_ne, "val_mean_auc": val.mean_auc,
                        "seconds": epoch_seconds, "examples_per_second": seen / epoch_seconds})
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

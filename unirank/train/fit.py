"""fit / evaluate: the training protocol every trial, preset and export shares.

Dense parameters: AdamW (fused on CUDA). Embedding tables: see ``unirank.train.optim`` (sparse
row-wise updates for large vocabularies). Loss: masked binary cross-entropy over objectives
(+ ``embedding_l2``'s penalty on the tables); ``id_dropout`` replaces training ids by the OOV id
(``unirank.train.id_dropout``); ``ema_decay`` measures and keeps the weights' moving average
(``unirank.train.averaging``).
On CUDA: the whole training split lives on the device, bf16 autocast (``precision: auto``), and
optionally ``torch.compile`` of the dense part (stack + sharing; embedding lookups stay eager so
their gradients can be sparse, matmuls padded to tensor-core multiples). The fast path
(``train.fast_path``, CUDA, one process): row-wise Adagrad fused into the lookup's backward and
the whole step replayed as a CUDA graph (``train.fused_adagrad``, ``train.graphed``). Validation
NE ``evals_per_epoch`` times an epoch (the last at its end), early stopping once it has not
improved for ``patience`` epochs, the best measurement's weights restored. A
non-finite loss stops training with ``TrainingDiverged``; it is checked every ``_CHECK_EVERY``
steps so that GPU steps do not synchronise.
"""
from __future__ import annotations

import copy
import math
import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from unirank.config import TrainConfig
from unirank.data.batches import TensorSplit
from unirank.data.dataset import Dataset
from unirank.data.features import FeatureSpec
from unirank.models import calibration
from unirank.train.metrics import EvalResult, portfolio_metrics, with_losses
from unirank.train.averaging import weight_average_for
from unirank.train.distill import AuxHead, distill_loss
from unirank.train.distributed import World
from unirank.train.fused_adagrad import uninstall as uninstall_fused
from unirank.train.graphed import GraphedSteps, can_capture
from unirank.train.id_dropout import id_dropout_for
from unirank.train.optim import make_optimizers, table_l2

_CHECK_EVERY = 50
_EPS = 1e-9  # tolerance when comparing positions in epochs (sums of step fractions)


class TrainingDiverged(RuntimeError):
    """The loss became NaN/Inf: the trial is reported failed with this reason."""


@dataclass
class FitResult:
    val: EvalResult
    best_epoch: int  # the epoch (1-based) whose measurement was best
    epochs_run: int
    train_seconds: float
    examples_per_second: float
    history: list[dict] = field(default_factory=list)  # one entry per epoch, its end's measurement
    best_at: float = 0.0  # where in training the best measurement was, in epochs (e.g. 1.75)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def masked_bce(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean binary cross-entropy over the labelled (mask=True) entries of [B, T]."""
    losses = nn.functional.binary_cross_entropy_with_logits(logits.float(), labels, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp_min(1)


def autocast_for(device: torch.device, precision: str, cache: bool = True):
    """bf16 autocast for ``precision`` bf16 (or auto on CUDA); ``cache=False`` inside CUDA graph capture."""
    use_bf16 = precision == "bf16" or (precision == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, cache_enabled=cache) if use_bf16 else nullcontext()


@torch.no_grad()
def predict(model: nn.Module, split: TensorSplit, batch_size: int = 8192, precision: str = "auto",
            logits: bool = False) -> np.ndarray:
    """Probabilities [N, T] float32 for every row of the split, in order (``logits``: the logits)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    outputs = []
    with autocast_for(device, precision):
        for b in split.batches(batch_size):
            out = model(*(x.to(device) for x in b.inputs)).float()
            outputs.append((out if logits else torch.sigmoid(out)).cpu())
    model.train(was_training)
    return torch.cat(outputs).numpy()


def evaluate(model: nn.Module, split: TensorSplit, features: FeatureSpec, precision: str = "auto") -> EvalResult:
    probs = predict(model, split, precision=precision)
    return portfolio_metrics(probs, split.labels.numpy(), split.mask.numpy(), split.domain.numpy(),
                             features.domains, features.objectives)


def training_loss(model: nn.Module, compile_dense: bool, distill: tuple[float, AuxHead | None] | None = None) -> Callable:
    """``loss(batch) → scalar``. With ``compile_dense`` everything but the embedding-table reads
    (whose gradients may be sparse) is one compiled graph: projections, stack, sharing, loss.
    With ``distill`` = (alpha, aux head or None) batches carry the teacher's logits and the loss
    adds alpha · the teacher term (``unirank.train.distill``; the model is not compiled then)."""
    if distill is not None:
        alpha, head = distill

        def with_teacher(b) -> torch.Tensor:
            logits = model(*b.inputs)
            return masked_bce(logits, b.labels, b.mask) + alpha * distill_loss(logits, b.teacher, b.domain, head)
        return with_teacher
    wide = getattr(model, "first_order", None) is not None or getattr(model, "fm", False)
    if not compile_dense or not hasattr(model, "inputs") or wide:  # wide terms: the whole model, uncompiled
        return lambda b: masked_bce(model(*b.inputs), b.labels, b.mask)

    def dense_part(dense, vectors, domain, labels, mask, lists=None):
        matrix, flat = model.inputs.assemble(dense, vectors, lists)
        return masked_bce(model.deep(matrix, flat, domain), labels, mask)
    # force_shape_pad: inductor pads every GPU matmul to tensor-core multiples (DCNv2 on Criteo has
    # width 13 + 27·16 = 445; unpadded, cuBLAS falls back to slow kernels for those matmuls)
    compiled = torch.compile(dense_part, options={"force_shape_pad": True})
    return lambda b: compiled(b.dense, model.inputs.lookup(b.sparse, b.domain, b.lists), b.domain, b.labels, b.mask,
                              b.lists)


@dataclass
class Checkpointing:
    """Write ``path`` every ``every_steps`` steps and at each epoch end; resume from it if present."""

    path: Path
    every_steps: int = 1000


def _save_checkpoint(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)


def fit(model: nn.Module, dataset: Dataset, cfg: TrainConfig,
        on_epoch: Callable[[int, EvalResult], None] | None = None,
        checkpointing: Checkpointing | None = None, world: World | None = None) -> FitResult:
    """Train with the protocol above. With ``checkpointing`` an interrupted run resumes from its
    last checkpoint (same data order, same optimizer state). With ``world`` (torchrun) each rank
    trains on its shard and gradients are synchronised (see ``unirank.train.distributed``)."""
    device = world.device if world else torch.device(cfg.device)
    train = (world.shard(dataset.train) if world else dataset.train).to(device)
    distill = None
    if train.teacher is not None and cfg.distill_alpha > 0:  # a teacher's logits came with the data
        head = AuxHead(dataset.features.num_domains, dataset.features.num_objectives) if cfg.distill_aux_head else None
        if head is not None:
            model.add_module("distill_head", head)  # trained with the model, dropped at the end
        distill = (cfg.distill_alpha, head)
    model.to(device)
    if cfg.calibrate:  # trained on its raw logits; each measurement fits the table again
        model.calibration.copy_(calibration.identity(*model.calibration.shape[:2]))
    # the moving average copies the model: the fast path's fused tables stay out of it
    fast = cfg.fast_path and device.type == "cuda" and world is None and not cfg.ema_decay
    dropout = id_dropout_for(cfg.id_dropout, dataset.features, cfg.id_dropout_features,
                             cfg.seed + 7919 * (1 + (world.rank if world else 0)), device)
    graphs = fast and cfg.compile and distill is None and dropout is None
    optimizers = make_optimizers(model, cfg.lr, cfg.weight_decay, cfg.embedding_optimizer,
                                 cfg.embedding_lr, fused=device.type == "cuda", fused_tables=fast,
                                 capturable=graphs)
    compute_loss = training_loss(model, cfg.compile, distill)
    penalty = table_l2(model, cfg.embedding_l2)
    average = weight_average_for(model, cfg.ema_decay)  # measured and kept instead of the model

    def train_step(batch) -> torch.Tensor:
        """Loss (+ the tables' L2), backward, gradient exchange (torchrun), every optimizer's
        update → the loss."""
        if dropout is not None:
            batch = dropout.apply(batch)
        with autocast_for(device, cfg.precision, cache=not graphs):
            loss = compute_loss(batch)
        if penalty is not None:
            loss = loss + penalty()
        for optimizer in optimizers:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if world is not None:
            world.sync_gradients(model)
        for optimizer in optimizers:
            optimizer.step()
        return loss.detach()

    graphed = (GraphedSteps(train_step, train, cfg.batch_size)
               if graphs and can_capture(optimizers) else None)
    generator = torch.Generator().manual_seed(cfg.seed + (world.rank if world else 0))
    ranks = world.size if world else 1
    best, best_state, best_at, history = None, None, 0.0, []
    seconds, examples, first_epoch, skip = 0.0, 0, 1, 0
    epoch_order = generator.get_state()
    if checkpointing and checkpointing.path.is_file():
        saved = torch.load(checkpointing.path, weights_only=True, map_location=device)
        model.load_state_dict(saved["model"])
        for optimizer, state in zip(optimizers, saved["optimizers"]):
            optimizer.load_state_dict(state)
        first_epoch, skip, epoch_order = saved["epoch"], saved["step"], saved["generator"]
        best = EvalResult(**saved["best"]) if saved["best"] else None
        best_state, history = saved["best_state"], saved["history"]
        best_at = float(saved.get("best_at", saved["best_epoch"]))
        seconds, examples = saved["seconds"], saved["examples"]
        generator.set_state(epoch_order)
        if dropout is not None and "id_dropout" in saved:
            dropout.generator.set_state(saved["id_dropout"].cpu())
        if average is not None and "ema" in saved:
            average.load_state_dict(saved["ema"])

    def checkpoint(epoch: int, step: int) -> None:
        if checkpointing and (world is None or world.is_main):
            _save_checkpoint(checkpointing.path, {
                "model": model.state_dict(), "optimizers": [o.state_dict() for o in optimizers],
                "epoch": epoch, "step": step, "generator": epoch_order,
                "best": best.to_dict() if best else None, "best_state": best_state,
                "best_epoch": _epoch_of(best_at), "best_at": best_at, "history": history,
                "seconds": seconds, "examples": examples,
                **({"id_dropout": dropout.generator.get_state()} if dropout is not None else {}),
                **({"ema": average.state_dict()} if average is not None else {})})

    def measure(at: float) -> tuple[EvalResult, bool]:
        """Validation ``at`` epochs into training (calibrated first with ``calibrate``; the moving
        average's weights with ``ema_decay``), the best weights kept → (it, whether to stop)."""
        nonlocal best, best_state, best_at
        table, measured = None, average.current() if average is not None else model
        if cfg.calibrate:
            val, table = _calibrated(measured, dataset.val, dataset.features, cfg.precision)
        else:
            val = evaluate(measured, dataset.val, dataset.features, cfg.precision)
        if best is None or val.mean_ne < best.mean_ne:
            best, best_at = val, at
            best_state = copy.deepcopy(measured.state_dict())
            if table is not None:
                best_state["calibration"] = table.to(best_state["calibration"].device)
            return val, False
        return val, at - best_at >= cfg.patience - _EPS

    model.train()
    stopped_within = False  # early-stopped before an epoch's end
    for epoch in range(first_epoch, cfg.max_epochs + 1):
        if best is not None and epoch - 1 - best_at >= cfg.patience - _EPS:
            break  # resumed after the early stop had already been decided
        start = time.perf_counter()
        finite = torch.ones((), dtype=torch.bool, device=device)
        seen, paused, stop = 0, 0.0, False
        epoch_order = generator.get_state()
        steps = _batches(len(train), cfg.batch_size, drop_last=cfg.compile)
        marks = _measure_steps(steps, cfg.evals_per_epoch)
        indices = train.shuffled_indices(cfg.batch_size, generator, drop_last=cfg.compile, skip=skip)
        for step, index in enumerate(indices, start=skip + 1):
            seen += len(index)
            loss = graphed(index) if graphed is not None else train_step(train.take(index))
            if average is not None:
                average.update()
            finite &= torch.isfinite(loss)
            if (step % _CHECK_EVERY == 0 or step in marks) and not finite:  # never measure a diverged model
                raise TrainingDiverged(f"non-finite loss in epoch {epoch} (by step {step})")
            if checkpointing and step % checkpointing.every_steps == 0:
                checkpoint(epoch, step)
            if step in marks:  # a measurement within the epoch
                began = time.perf_counter()
                _, stop = measure(epoch - 1 + step / steps)
                paused += time.perf_counter() - began
                if stop:
                    break
        skip = 0
        if not finite:
            raise TrainingDiverged(f"non-finite loss in epoch {epoch}")
        if device.type == "cuda":
            torch.cuda.synchronize()
        epoch_seconds = time.perf_counter() - start - paused
        seconds += epoch_seconds
        examples += seen * ranks
        if stop:
            stopped_within = True
            epoch_order = generator.get_state()
            checkpoint(epoch + 1, 0)
            break
        val, stop = measure(float(epoch))
        history.append({"epoch": epoch, "val_mean_ne": val.mean_ne, "val_mean_auc": val.mean_auc,
                        "seconds": epoch_seconds,
                        "examples_per_second": seen * ranks / epoch_seconds})
        if on_epoch is not None:
            on_epoch(epoch, val)
        epoch_order = generator.get_state()
        checkpoint(epoch + 1, 0)
        if stop:
            break
    model.load_state_dict(best_state)
    if hasattr(model, "distill_head"):
        del model.distill_head
    uninstall_fused(model)
    return FitResult(val=best, best_epoch=_epoch_of(best_at), epochs_run=len(history) + stopped_within,
                     train_seconds=seconds, examples_per_second=examples / max(seconds, 1e-9),
                     history=history, best_at=best_at)


def _calibrated(model: nn.Module, split: TensorSplit, features: FeatureSpec,
                precision: str) -> tuple[EvalResult, torch.Tensor]:
    """The model's raw validation logits calibrated per portfolio → (their metrics: NE and log loss
    cross-fitted, AUCs as served; the table fitted on every row, which the model serves;
    ``unirank.models.calibration``)."""
    model.calibration.copy_(calibration.identity(*model.calibration.shape[:2]))  # training's own logits
    logits = torch.from_numpy(predict(model, split, precision=precision, logits=True))
    args = (logits, split.labels, split.mask, split.domain.cpu(), features.num_domains)
    table = calibration.fit_table(*args)
    served, held = (portfolio_metrics(torch.sigmoid(z).numpy(), split.labels.numpy(), split.mask.numpy(),
                                      split.domain.numpy(), features.domains, features.objectives)
                    for z in (calibration.apply(table, logits, split.domain.cpu()), calibration.cross_fitted(*args)))
    return with_losses(served, held), table  # AUCs as served (two folds' tables would reorder rows)


def _batches(rows: int, batch_size: int, drop_last: bool) -> int:
    """How many batches ``TensorSplit.shuffled_indices`` yields for ``rows`` rows."""
    if drop_last and rows >= batch_size:
        rows -= rows % batch_size
    return -(-rows // batch_size)


def _measure_steps(steps: int, per_epoch: int) -> set[int]:
    """The steps (1-based) after which validation is measured within an epoch of ``steps``
    batches, evenly spaced; the epoch's end is measured anyway and is not among them."""
    return {round(k * steps / per_epoch) for k in range(1, per_epoch)} - {0, steps}


def _epoch_of(at: float) -> int:
    """The epoch (1-based) a measurement ``at`` epochs into training fell in; 0 before any."""
    return math.ceil(at - _EPS)

"""Optimizers: AdamW for dense parameters, a sparse row-wise update for embedding tables.

``embedding_optimizer``:
- ``adamw``: embeddings are ordinary dense parameters (every step updates every row: the Adam
  moments of untouched rows decay too). Fine for small vocabularies.
- ``sparse_adam``: tables produce sparse gradients and ``torch.optim.SparseAdam`` ("lazy Adam")
  updates only the rows looked up in the batch.
- ``rowwise_adagrad``: sparse gradients and row-wise Adagrad (one accumulator per row, after
  fbgemm/torchrec's row-wise Adagrad; see ``RowWiseAdagrad`` for the per-occurrence detail).
  The cheapest in memory (one float of state per row) and time.
- ``auto``: ``sparse_adam`` when the model has more than 100k embedding rows, else ``adamw``.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from unirank.errors import UnirankError

AUTO_SPARSE_ROWS = 100_000


def decays(lr: float, weight_decay: float) -> bool:
    """Whether AdamW's decoupled weight decay changes float32 weights at all: each step multiplies
    them by 1 − lr·weight_decay, and a factor closer to 1 than half the float32 gap below 1
    (2⁻²⁵ ≈ 3e-8) is exactly 1 — lr 0.001 with weight_decay 1e-5 trains as weight_decay 0."""
    return weight_decay > 0 and np.float32(1.0 - lr * weight_decay) != np.float32(1.0)


def effective_train(train: dict) -> dict:
    """Training values as they train: a weight decay that does nothing at the values' own learning
    rate (``decays``) is 0.0, so that a search knows the two for one training. Values without both
    ``lr`` and ``weight_decay`` are returned as they are."""
    lr, weight_decay = train.get("lr"), train.get("weight_decay")
    if lr is None or not weight_decay or decays(lr, weight_decay):
        return train
    return {**train, "weight_decay": 0.0}


def inert_weight_decays(train: dict, searched: dict[str, tuple]) -> list[str]:
    """One line per weight decay of a study that does nothing (``decays``) at a learning rate it
    trains with: ``train`` holds the study's lr and weight_decay, ``searched`` the training values
    searched (``space.train``), which take their place when given."""
    lrs = [v for v in searched.get("lr", ()) if v is not None] or [train["lr"]]
    field, wds = (("space.train.weight_decay", searched["weight_decay"]) if "weight_decay" in searched
                  else ("train.weight_decay", (train["weight_decay"],)))
    notes = []
    for wd in wds:
        inert = [lr for lr in lrs if wd > 0 and not decays(lr, wd)]
        if inert:
            notes.append(f"{field} {wd:g} at lr {', '.join(f'{lr:g}' for lr in inert)} trains as weight_decay 0 "
                         "(AdamW multiplies each weight by 1 − lr·weight_decay per step: exactly 1 in float32 "
                         "when lr·weight_decay < 3e-8)")
    return notes


class RowWiseAdagrad(torch.optim.Optimizer):
    """Row-wise Adagrad for sparse embedding gradients, touching only the rows in the batch.

    Per occurrence o of row r in the batch (gradient g_o):  s_r += mean(g_o²);  then
    w_r -= lr · Σ_o g_o / (√s_r + ε). Working on the uncoalesced gradient (no sort of the ids)
    is what makes it cheap; for a row seen once per batch it equals exact row-wise Adagrad, for a
    row seen k times its accumulator grows by the k squares instead of the square of the sum
    (a more conservative step on hot rows).
    """

    def __init__(self, params, lr: float = 0.01, eps: float = 1e-8):
        super().__init__(params, {"lr": lr, "eps": eps})

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad if p.grad.is_sparse else p.grad.to_sparse(1)
                state = self.state[p]
                if "sum" not in state:
                    state["sum"] = torch.zeros(p.shape[0], device=p.device, dtype=torch.float32)
                rowwise_adagrad_update_(p, state["sum"], grad._indices()[0], grad._values(),
                                        group["lr"], group["eps"])
        return None


@torch.no_grad()
def rowwise_adagrad_update_(weight: torch.Tensor, accumulator: torch.Tensor, rows: torch.Tensor,
                            values: torch.Tensor, lr: float, eps: float) -> None:
    """The row-wise Adagrad arithmetic, in place: per occurrence o (row ``rows[o]`` [N], gradient
    ``values[o]`` [N, d]) s_r += mean(g_o²); then w_r -= lr · Σ_o g_o / (√s_r + ε)."""
    g = values.float()
    accumulator.index_add_(0, rows, g.square().mean(dim=1))
    scale = accumulator.index_select(0, rows).sqrt_().add_(eps).reciprocal_().mul_(-lr)
    weight.index_add_(0, rows, (g * scale.unsqueeze(1)).to(weight.dtype))


def embedding_tables(model: nn.Module) -> list[nn.Embedding]:
    return [m for m in model.modules() if isinstance(m, nn.Embedding)]


def table_l2(model: nn.Module, strength: float) -> Callable[[], torch.Tensor] | None:
    """FuxiCTR's ``embedding_regularizer``: a function of no arguments → λ/2 · Σ ‖W‖² over the
    model's embedding tables (every row, each step), to add to the loss; None when λ is 0. Call
    after ``make_optimizers`` (which decides which tables update sparsely): the penalty's gradient
    reaches every row, so sparsely updated tables raise ``UnirankError``, as do torchrec's."""
    if not strength:
        return None
    if getattr(model, "engine", "plain") != "plain":
        raise UnirankError("train.embedding_l2: supported with the plain embedding engine only "
                           f"(this model's tables are {model.engine}'s)")
    tables = embedding_tables(model)
    if any(t.sparse for t in tables):
        raise UnirankError("train.embedding_l2: needs embedding tables with dense gradients "
                           "(train.embedding_optimizer: adamw); this model's tables update sparsely")
    weights = [t.weight for t in tables]
    return lambda: 0.5 * strength * sum(w.pow(2).sum() for w in weights)


def resolve_embedding_optimizer(model: nn.Module, choice: str) -> str:
    if choice != "auto":
        return choice
    rows = sum(t.num_embeddings for t in embedding_tables(model))
    return "sparse_adam" if rows > AUTO_SPARSE_ROWS else "adamw"


def make_optimizers(model: nn.Module, lr: float, weight_decay: float, embedding_optimizer: str,
                    embedding_lr: float | None = None, fused: bool = False,
                    fused_tables: bool = False, capturable: bool = False) -> list[torch.optim.Optimizer]:
    """One optimizer for dense parameters, one for embedding tables when they update sparsely.

    Switches the model's ``nn.Embedding`` modules to sparse gradients when needed. With
    ``fused_tables`` and ``rowwise_adagrad``, the feature tables read through
    ``GroupEmbedding.lookup`` update inside backward (``FusedRowWiseAdagrad``); any other table
    keeps the sparse-gradient ``RowWiseAdagrad``. ``capturable``: the dense AdamW keeps its
    step count on the device, so a CUDA graph can capture its update.
    """
    choice = resolve_embedding_optimizer(model, embedding_optimizer)
    tables = embedding_tables(model)
    sparse = choice in ("sparse_adam", "rowwise_adagrad")
    for table in tables:
        table.sparse = sparse
    table_params = {id(t.weight) for t in tables} if sparse else set()
    dense = [p for p in model.parameters() if id(p) not in table_params]
    kwargs = {"fused": True} if fused else {}
    if capturable:  # CUDA graph capture of the step (unirank/train/graphed.py)
        kwargs["capturable"] = True
    optimizers: list[torch.optim.Optimizer] = [
        torch.optim.AdamW(dense, lr=lr, weight_decay=weight_decay, **kwargs)
    ]
    if choice == "sparse_adam":
        optimizers.append(torch.optim.SparseAdam([t.weight for t in tables], lr=embedding_lr or lr))
    elif choice == "rowwise_adagrad" and fused_tables:
        from unirank.models.embedding import GroupEmbedding
        from unirank.train.fused_adagrad import FusedRowWiseAdagrad

        routed = [m.table for m in model.modules() if isinstance(m, GroupEmbedding)]
        others = [t.weight for t in tables if all(t is not r for r in routed)]
        if routed:
            optimizers.append(FusedRowWiseAdagrad(routed, lr=embedding_lr or 0.05))
        if others:
            optimizers.append(RowWiseAdagrad(others, lr=embedding_lr or 0.05))
    elif choice == "rowwise_adagrad":
        optimizers.append(RowWiseAdagrad([t.weight for t in tables], lr=embedding_lr or 0.05))
    return optimizers

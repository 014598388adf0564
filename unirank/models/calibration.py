"""Calibration (``train.calibrate``): Platt scaling of each portfolio's logit, fitted on validation.

A ranking model's probabilities feed auctions and blending, so their level matters, not only their
order. Trained on the past, a model is off in level for later traffic (base rates drift) and
over-confident once it starts to overfit. Per portfolio (domain d, objective t) the served logit
becomes ``a[d, t] · z + b[d, t]``, with (a, b) minimising the log loss on the validation rows of
that portfolio; a portfolio without both labels there keeps (1, 0). The ranking within a portfolio
is unchanged (a > 0), its AUC the same.

Fitted and measured on the same rows, even two numbers a portfolio flatter the measure: by
0.0002–0.0012 NE on the searched winners of run s28, a third of the margin a MovieLens winner is
judged by (``benchmarks/calibration_optimism.py``). So the validation metrics of a calibrated
model are **cross-fitted** (``cross_fitted``): the rows are split in two folds by position (even,
odd), each fold's logits are calibrated by a table fitted on the other fold, and no row's
calibrated score reads its own label (NE and log loss; the AUCs are the served table's, which two
folds' tables would reorder). The table the model serves is fitted on all validation rows (the
same rule, twice the rows).

The table [D, T, 2] lives in the model (``UnifiedRanker.calibration``, a buffer saved with the
weights), so an exported or retrained model serves the calibration it was measured with.
"""
from __future__ import annotations

import torch


def identity(num_domains: int, num_objectives: int) -> torch.Tensor:
    """The table [D, T, 2] that leaves logits as they are: a = 1, b = 0."""
    table = torch.zeros(num_domains, num_objectives, 2)
    table[..., 0] = 1.0
    return table


def apply(table: torch.Tensor, logits: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
    """``table`` [D, T, 2], ``logits`` [B, T], ``domain`` [B] int64 → calibrated logits [B, T]."""
    rows = table[domain]  # [B, T, 2]
    return logits * rows[..., 0] + rows[..., 1]


def fit_table(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, domain: torch.Tensor,
              num_domains: int) -> torch.Tensor:
    """``logits``, ``labels``, ``mask`` [N, T], ``domain`` [N] → the table [D, T, 2] of each
    portfolio's (a, b) minimising its log loss (L-BFGS in float64, from (1, 0))."""
    table = identity(num_domains, logits.shape[1])
    for d in range(num_domains):
        mine = domain == d
        for t in range(logits.shape[1]):
            rows = mine & (mask[:, t] > 0)
            y = labels[rows, t].double()
            if len(y) == 0 or y.min() == y.max():
                continue  # nothing to fit on: keep the identity
            z = logits[rows, t].double()
            ab = torch.tensor([1.0, 0.0], dtype=torch.float64, requires_grad=True)
            solver = torch.optim.LBFGS([ab], max_iter=50, line_search_fn="strong_wolfe")

            def loss() -> torch.Tensor:
                solver.zero_grad()
                value = torch.nn.functional.binary_cross_entropy_with_logits(ab[0] * z + ab[1], y)
                value.backward()
                return value
            solver.step(loss)
            a, b = ab.detach().tolist()
            if a > 0 and all(map(torch.isfinite, ab.detach())):  # a ≤ 0 would reverse the ranking
                table[d, t] = torch.tensor([a, b])
    return table


def cross_fitted(logits: torch.Tensor, labels: torch.Tensor, mask: torch.Tensor, domain: torch.Tensor,
                 num_domains: int, folds: int = 2) -> torch.Tensor:
    """``fit_table``'s arguments → calibrated logits [N, T], each row's by a table fitted on the
    other folds' rows (row i is in fold i mod ``folds``): a row's score never reads its own label."""
    out = torch.empty_like(logits)
    fold = torch.arange(len(logits)) % folds
    for k in range(folds):
        held, rest = fold == k, fold != k
        table = fit_table(logits[rest], labels[rest], mask[rest], domain[rest], num_domains)
        out[held] = apply(table, logits[held], domain[held])
    return out

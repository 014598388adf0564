"""One record batch of the users' table, encoded (``unirank.data.streaming``'s first pass).

``TablePlan``: what the study reads, in the order of the prepared tensors. ``encode_batch``: a
record batch → ``EncodedBatch`` — int32 codes into the batch's own distinct values, dense values,
labels, list ids — plus what fitting needs from it (the training rows' value counts, the largest
dense values). Runs on worker threads (pyarrow and numpy release the GIL).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unirank.config import CsvDataConfig
from unirank.data.encode import encode_column, read_dense, read_labels
from unirank.data.list_cells import ListPlan, encode_list_field, list_plans
from unirank.data.tabular import column_roles


@dataclass
class EncodedBatch:
    """One record batch, encoded: n rows."""

    split: np.ndarray                           # [n] int8: 0 train, 1 val, 2 test, -1 none
    sparse: np.ndarray                          # [S, n] int32 codes of the categorical columns, -1 = none
    codes: dict[str, np.ndarray]                # key → [n] (a row of ``sparse``; [n, max_len] for list fields)
    values: dict                                # key → the batch's distinct values (pyarrow strings)
    dense: np.ndarray                           # [n, D] float32 raw (NaN = missing), later transformed in place
    labels: np.ndarray                          # [n, T] float32 0/1, NaN = missing
    lengths: dict[str, np.ndarray]              # list name → [n] int64 kept events
    counts: dict[str, np.ndarray]               # key → the training rows' count of each distinct value
    positives: dict[str, tuple[bool, list]]     # label column with positive values → (any, values seen)
    max_abs: np.ndarray                         # [D] the training rows' largest |value| per dense column


class TablePlan:
    """What the study reads from the table, in the order of the prepared tensors."""

    def __init__(self, cfg: CsvDataConfig) -> None:
        self.cfg = cfg
        self.labels = cfg.labels()
        self.dense = list(cfg.dense)
        self.domain = cfg.domain
        # the domain column is a sparse feature too (first), unless listed already or absent
        self.sparse = list(cfg.sparse) if cfg.domain is None or cfg.domain in cfg.sparse else [cfg.domain, *cfg.sparse]
        self.lists: list[ListPlan] = list_plans(cfg)
        self.roles = column_roles(cfg)
        self.columns = sorted({*self.labels, *self.sparse, *self.dense, *(c for p in self.lists for c in p.columns.values())})

    def domain_name(self) -> str:
        """The domain's name in the prepared state: its column, or a free name for "one domain"."""
        return self.domain or next(n for n in ("domain", "_domain", "__domain__") if n not in self.columns)


def encode_batch(plan: TablePlan, record, split: np.ndarray, where) -> EncodedBatch:
    """One record batch → its codes, values and the training rows' counts (a worker thread)."""
    codes, values = {}, {}
    sparse = np.empty((len(plan.sparse), record.num_rows), dtype=np.int32)  # column-major: one row per column
    for j, column in enumerate(plan.sparse):
        sparse[j], values[column] = encode_column(record.column(column))
        codes[column] = sparse[j]
    lengths = {raw.name: encode_list_field(raw, record, codes, values, where) for raw in plan.lists}
    dense = read_dense(record, plan.dense, where)
    positives = {c: [False, []] for c, p in plan.labels.items() if p is not None}
    labels = read_labels(record, plan.labels, where, positives)
    train = np.flatnonzero(split == 0)
    counts = {key: np.bincount(code[train].ravel() + 1, minlength=len(values[key]) + 1)[1:]  # -1 (none) dropped
              for key, code in codes.items()}
    max_abs = np.array([np.fmax.reduce(np.abs(dense[:, j][train]), initial=0.0) for j in range(dense.shape[1])])
    return EncodedBatch(split=split, sparse=sparse, codes=codes, values=values, dense=dense, labels=labels, lengths=lengths,
                        counts=counts, positives={c: tuple(v) for c, v in positives.items()}, max_abs=max_abs)

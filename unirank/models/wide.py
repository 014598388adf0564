"""Wide logit terms added to every head beside the deep part (DeepFM, Guo et al., IJCAI 2017).

    linear:  y_lin[t] = b[t] + Σ_features w_f(id)[t] + Σ_dense v_j[t]·x_j     one per objective
    fm:      y_fm     = Σ_{i<j} <e_i, e_j> = ½ · Σ_k ((Σ_i e_ik)² − Σ_i e_ik²)  over the rows of E

DeepFM's logit is y_lin + y_fm + y_dnn with the FM and the DNN reading the same embeddings. In a
unified model there is one logit per objective: the first-order weights have one column per
objective and the FM scalar is added to every objective's logit.
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.data.features import FeatureSpec
from unirank.models.embedding import hashed_ids
from unirank.space.arch import EmbeddingSpec


class FirstOrder(nn.Module):
    """The linear (first-order) term over the kept features.

    Call: ``dense`` [B, D], ``sparse`` [B, S] → [B, T]. Reads one row of T floats per kept sparse
    feature; FLOPs per example: 2·D_kept·T (dense) + S_kept·T (sum) + T (bias).
    """

    def __init__(self, spec: EmbeddingSpec, features: FeatureSpec):
        super().__init__()
        dropped = set(spec.dropped)
        keep = [i for i, f in enumerate(features.sparse) if f.name not in dropped]
        dense_keep = [i for i, n in enumerate(features.dense) if n not in dropped]
        rows = [min(features.sparse[i].vocab_size, spec.hash_buckets or 1 << 62) for i in keep]
        outputs = features.num_objectives
        self.register_buffer("sparse_index", torch.tensor(keep, dtype=torch.int64), persistent=False)
        self.register_buffer("dense_index", torch.tensor(dense_keep, dtype=torch.int64), persistent=False)
        self.register_buffer("rows", torch.tensor(rows, dtype=torch.int64), persistent=False)
        self.register_buffer("offsets", torch.tensor([0, *rows[:-1]], dtype=torch.int64).cumsum(0),
                             persistent=False)
        self.table = nn.Embedding(max(1, int(sum(rows))), outputs) if keep else None
        if self.table is not None:
            nn.init.zeros_(self.table.weight)
        self.dense = nn.Linear(len(dense_keep), outputs) if dense_keep else None
        self.bias = nn.Parameter(torch.zeros(outputs))
        self.lookups = len(keep)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        out = self.bias.expand(dense.shape[0], -1)
        if self.table is not None:
            ids = hashed_ids(sparse.index_select(1, self.sparse_index), self.rows) + self.offsets
            out = out + self.table(ids).sum(dim=1)
        if self.dense is not None:
            out = out + self.dense(dense.index_select(1, self.dense_index))
        return out


def fm_logit(E: torch.Tensor) -> torch.Tensor:
    """``E`` [B, N, d] → [B, 1]: Σ_{i<j} <e_i, e_j>. FLOPs per example: 3·N·d + 4·d."""
    return (0.5 * (E.sum(dim=1).pow(2) - E.pow(2).sum(dim=1))).sum(dim=1, keepdim=True)

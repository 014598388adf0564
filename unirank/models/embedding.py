"""InputLayer: raw features → the feature matrix E0 and the flat input h0.

Per feature group one embedding table (all features of the group share it through offsets),
optional hashing of large vocabularies, a projection of groups whose dim differs from the common
dim d, dense features turned into one extra row — by one Linear, or by DLRM's bottom MLP
(``EmbeddingSpec.dense_bottom``) — an optional domain embedding row, and dropped features
(Lattice "Filter") removed before anything is computed.
"""
from __future__ import annotations

import torch
from torch import nn

from unirank.data.features import FeatureSpec
from unirank.errors import UnirankError
from unirank.space.arch import EmbeddingSpec


def hashed_ids(ids: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Map ids ≥ rows into 1..rows-1 (id 0 stays OOV): 1 + (id-1) mod (rows-1).

    ``ids`` [B, S] int64, ``rows`` [S] int64 (table rows per feature) → [B, S].
    """
    folded = 1 + (ids - 1).remainder((rows - 1).clamp_min(1))
    return torch.where(ids < rows, ids, folded)


class GroupEmbedding(nn.Module):
    """One table for the features of a group, with per-feature offsets and optional projection.

    Call: ``ids`` [B, S_g] int64 → [B, S_g, d]. Lookup: S_g rows of ``table_dim`` floats;
    projection FLOPs per example: 2·S_g·table_dim·d when table_dim ≠ d.
    """

    def __init__(self, rows: list[int], table_dim: int, dim: int):
        super().__init__()
        offsets = torch.tensor([0, *rows[:-1]], dtype=torch.int64).cumsum(0)
        self.register_buffer("offsets", offsets, persistent=False)
        self.register_buffer("rows", torch.tensor(rows, dtype=torch.int64), persistent=False)
        self.table = nn.Embedding(int(sum(rows)), table_dim)
        nn.init.normal_(self.table.weight, std=0.01)
        self.projection = nn.Linear(table_dim, dim, bias=False) if table_dim != dim else None

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` [B, S_g] → table rows [B, S_g, table_dim] (the only sparse-gradient op; with a
        fused optimizer installed on the table, its backward updates the table in place)."""
        rows = hashed_ids(ids, self.rows) + self.offsets
        fused = getattr(self.table, "fused_update", None)
        return fused.lookup(self.table, rows) if fused is not None else self.table(rows)

    def project(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.projection(vectors) if self.projection is not None else vectors

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.project(self.lookup(ids))


class InputLayer(nn.Module):
    """Call: ``dense`` [B, D], ``sparse`` [B, S], ``domain`` [B] →
    (E0 [B, N, d], h0 [B, W0]) where N = kept sparse features + 1 (dense row, if any dense
    feature is kept; it is row 0, ``has_dense_row``) + 1 (domain row, if enabled) and
    h0 = [kept dense ‖ flatten(E0)]."""

    def __init__(self, spec: EmbeddingSpec, features: FeatureSpec):
        super().__init__()
        known = set(features.feature_names)
        for name in spec.dropped:
            if name not in known:
                raise UnirankError(f"embedding.dropped: {name!r} is not a feature of this data "
                                   f"(features: {', '.join(sorted(known))})")
        for group in spec.group_dims:
            if group not in features.groups:
                raise UnirankError(f"embedding.group_dims: {group!r} is not a feature group of this "
                                   f"data (groups: {', '.join(features.groups)})")
        dropped = set(spec.dropped)
        dense_keep = [i for i, n in enumerate(features.dense) if n not in dropped]
        self.register_buffer("dense_index", torch.tensor(dense_keep, dtype=torch.int64), persistent=False)
        self.dim = spec.dim
        self.groups = nn.ModuleList()
        for group in features.groups:
            members = [i for i, f in enumerate(features.sparse)
                       if f.group_name == group and f.name not in dropped]
            if not members:
                continue
            rows = [min(features.sparse[i].vocab_size, spec.hash_buckets or 1 << 62) for i in members]
            self.groups.append(GroupEmbedding(rows, spec.group_dims.get(group, spec.dim), spec.dim))
            self.register_buffer(f"group_index_{len(self.groups) - 1}",
                                 torch.tensor(members, dtype=torch.int64), persistent=False)
        self.dense_projection, self.dense_bottom = None, None
        if dense_keep and spec.dense_bottom:
            layers, width = [], len(dense_keep)
            for out in (*spec.dense_bottom, spec.dim):  # DLRM: ReLU after every bottom layer
                layers += [nn.Linear(width, out), nn.ReLU()]
                width = out
            self.dense_bottom = nn.Sequential(*layers)
        elif dense_keep:
            self.dense_projection = nn.Linear(len(dense_keep), spec.dim)
        self.has_dense_row = bool(dense_keep)
        self.domain_table = nn.Embedding(features.num_domains, spec.dim) if spec.domain_embedding else None
        self.num_rows = (sum(len(getattr(self, f"group_index_{g}")) for g in range(len(self.groups)))
                         + self.has_dense_row + (self.domain_table is not None))
        if self.num_rows == 0:
            raise UnirankError("embedding.dropped: every feature is dropped; keep at least one")
        self.out_features = len(dense_keep) + self.num_rows * spec.dim

    def lookup(self, sparse: torch.Tensor, domain: torch.Tensor) -> list[torch.Tensor]:
        """The embedding-table reads: per group [B, S_g, table_dim], then the domain row [B, d]
        if enabled. Kept apart so that training can compile everything else (see train.fit)."""
        vectors = [group.lookup(sparse.index_select(1, getattr(self, f"group_index_{g}")))
                   for g, group in enumerate(self.groups)]
        if self.domain_table is not None:
            vectors.append(self.domain_table(domain))
        return vectors

    def assemble(self, dense: torch.Tensor, vectors: list[torch.Tensor]):
        """Dense features and looked-up vectors → (E0 [B, N, d], h0 [B, W0])."""
        dense = dense.index_select(1, self.dense_index)
        rows = []
        if self.dense_projection is not None:
            rows.append(self.dense_projection(dense).unsqueeze(1))
        elif self.dense_bottom is not None:
            rows.append(self.dense_bottom(dense).unsqueeze(1))
        rows += [group.project(v) for group, v in zip(self.groups, vectors)]
        if self.domain_table is not None:
            rows.append(vectors[-1].unsqueeze(1))
        matrix = torch.cat(rows, dim=1)
        return matrix, torch.cat([dense, matrix.flatten(1)], dim=1)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, domain: torch.Tensor):
        return self.assemble(dense, self.lookup(sparse, domain))

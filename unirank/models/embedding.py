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
from unirank.models.numeric import DENSE_ENCODINGS
from unirank.models.sequence import Pooling, build_encoder, event_mask
from unirank.space.arch import EmbeddingSpec, SequenceSpec


def hashed_ids(ids: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """Map ids ≥ rows into 1..rows-1 (id 0 stays OOV): 1 + (id-1) mod (rows-1).

    ``ids`` [B, S] int64, ``rows`` [S] int64 (table rows per feature) → [B, S].
    """
    folded = 1 + (ids - 1).remainder((rows - 1).clamp_min(1))
    return torch.where(ids < rows, ids, folded)


class GroupEmbedding(nn.Module):
    """One table for the members of a group (sparse features, list fields), per-member offsets,
    an optional projection. The group reads K id columns per example; ``columns`` [K] says which
    member each column belongs to (a history of items reads ``item_id``'s rows).

    Call: ``ids`` [B, K] int64 → [B, K, d]. Lookup: K rows of ``table_dim`` floats;
    projection FLOPs per example: 2·K·table_dim·d when table_dim ≠ d.
    """

    def __init__(self, rows: list[int], table_dim: int, dim: int, columns: list[int] | None = None):
        super().__init__()
        offsets = torch.tensor([0, *rows[:-1]], dtype=torch.int64).cumsum(0)
        columns = torch.tensor(columns if columns is not None else range(len(rows)), dtype=torch.int64)
        self.register_buffer("rows", torch.tensor(rows, dtype=torch.int64), persistent=False)
        self.register_buffer("offsets", offsets, persistent=False)  # per member
        self.register_buffer("column_offsets", offsets[columns], persistent=False)
        self.register_buffer("column_rows", self.rows[columns], persistent=False)
        self.table = nn.Embedding(int(sum(rows)), table_dim)
        nn.init.normal_(self.table.weight, std=0.01)
        self.projection = nn.Linear(table_dim, dim, bias=False) if table_dim != dim else None

    @property
    def num_columns(self) -> int:
        return int(self.column_rows.shape[0])

    def table_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` [B, K] → the table rows they read [B, K] (hashing, then the member's offset)."""
        return hashed_ids(ids, self.column_rows) + self.column_offsets

    def lookup(self, ids: torch.Tensor) -> torch.Tensor:
        """``ids`` [B, K] → table rows [B, K, table_dim] (the only sparse-gradient op; with a
        fused optimizer installed on the table, its backward updates the table in place)."""
        rows = self.table_rows(ids)
        fused = getattr(self.table, "fused_update", None)
        return fused.lookup(self.table, rows) if fused is not None else self.table(rows)

    def project(self, vectors: torch.Tensor) -> torch.Tensor:
        return self.projection(vectors) if self.projection is not None else vectors

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.project(self.lookup(ids))


class InputLayer(nn.Module):
    """Call: ``dense`` [B, D], ``sparse`` [B, S], ``domain`` [B], ``lists`` [B, L] | None →
    (E0 [B, N, d], h0 [B, W0]) where the rows of E0 are, in order: the dense row (if any dense
    feature is kept; row 0, ``has_dense_row``) or with ``dense_encoding`` each/periodic one row per
    kept dense feature, the kept sparse features (group by group, in the
    data's group order), one row per kept
    multi-hot feature (mean of its ids' embeddings), the rows of each kept sequence's encoder
    (``SequenceSpec``; sequences are unused without one), the domain row (if enabled); and
    h0 = [kept dense ‖ flatten(E0)]."""

    def __init__(self, spec: EmbeddingSpec, features: FeatureSpec, sequence: SequenceSpec | None = None,
                 engine: str = "plain"):
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
        if sequence is not None and not features.sequences:
            raise UnirankError("sequence: this architecture encodes behaviour sequences, but the data has none "
                               "(add one: data.sequences, or MovieLens' history_length)")
        dropped = set(spec.dropped)
        dense_keep = [i for i, n in enumerate(features.dense) if n not in dropped]
        self.register_buffer("dense_index", torch.tensor(dense_keep, dtype=torch.int64), persistent=False)
        self.dim = spec.dim
        used = [f for f in features.lists if f.name not in dropped and (f.kind == "multi_hot" or sequence)]
        self._plan(spec, features, dropped, used, sequence)
        self.dense_projection, self.dense_bottom, self.dense_rows = None, None, None
        if dense_keep and spec.dense_encoding is not None:
            self.dense_rows = DENSE_ENCODINGS[spec.dense_encoding](len(dense_keep), spec.dim)
        elif dense_keep and spec.dense_bottom:
            layers, width = [], len(dense_keep)
            for out in (*spec.dense_bottom, spec.dim):  # DLRM: ReLU after every bottom layer
                layers += [nn.Linear(width, out), nn.ReLU()]
                width = out
            self.dense_bottom = nn.Sequential(*layers)
        elif dense_keep:
            self.dense_projection = nn.Linear(len(dense_keep), spec.dim)
        self.has_dense_row = bool(dense_keep) and self.dense_rows is None  # one row holding every dense feature
        self.num_dense_rows = len(dense_keep) if self.dense_rows is not None else int(self.has_dense_row)
        self.domain_table = nn.Embedding(features.num_domains, spec.dim) if spec.domain_embedding else None
        self.num_rows = (self.num_dense_rows + len(self.sparse_rows) + len(self.bags)
                         + sum(e.num_rows for e in self.encoders.values()) + (self.domain_table is not None))
        if self.num_rows == 0:
            raise UnirankError("embedding.dropped: every feature is dropped; keep at least one")
        self.out_features = len(dense_keep) + self.num_rows * spec.dim
        self.tables = None  # engine "torchrec": the feature tables as torchrec modules
        if engine == "torchrec":
            from unirank.models.torchrec_tables import TorchrecTables

            with torch.random.fork_rng(devices=[]):  # torchrec's own init must not shift the seed's stream
                self.tables = TorchrecTables(self)
        elif engine != "plain":
            raise UnirankError(f"engine: expected plain or torchrec, got {engine!r}")

    def _plan(self, spec, features, dropped, used, sequence) -> None:
        """Which id columns each group's table reads, and where each row/list/candidate is in them:
        ``row_counts`` (per group: its first columns are E0's sparse rows), ``bags`` / ``sequences`` {name: (lists column of its length,
        k, [(group, first column)] per field)}, ``queries`` {sequence: [(group, column)]}."""
        member_of: dict[tuple, tuple[str, int]] = {}  # ("sparse", i) | ("field", name) → (group, member)
        members: dict[str, list[tuple]] = {}
        def member(key, group):
            if key not in member_of:
                members.setdefault(group, []).append(key)
                member_of[key] = (group, len(members[group]) - 1)
            return member_of[key]
        index = {f.name: i for i, f in enumerate(features.sparse)}
        columns: dict[str, list[tuple[str, int, int]]] = {}  # group → [(source, column, member)]
        def read(group, source, column, m):
            columns.setdefault(group, []).append((source, column, m))
            return group, len(columns[group]) - 1
        self.sparse_rows = []
        for i, f in enumerate(features.sparse):
            if f.name not in dropped:
                group, m = member(("sparse", i), f.group_name)
                self.sparse_rows.append(read(group, "sparse", i, m))
        self.bags, self.sequences, self.queries = {}, {}, {}
        for f in used:
            start = features.list_offset(f.name)
            k = min(f.max_len, sequence.max_len) if f.kind == "sequence" else f.max_len
            reads = []
            for j, field in enumerate(f.fields):
                if field.shares:
                    shared = index[field.shares]
                    group, m = member(("sparse", shared), features.sparse[shared].group_name)
                else:
                    group, m = member(("field", field.name), field.group_name)
                first = start + 1 + (j + 1) * f.max_len - k  # the last k columns of the field
                reads.append(read(group, "lists", first, m))
                for c in range(1, k):
                    read(group, "lists", first + c, m)
            (self.bags if f.kind == "multi_hot" else self.sequences)[f.name] = (start, k, reads)
            if f.kind == "sequence":  # the candidate: the example's ids of the features the fields share
                self.queries[f.name] = []
                for field in (fl for fl in f.fields if fl.shares):
                    group, m = member_of[("sparse", index[field.shares])]
                    self.queries[f.name].append(read(group, "sparse", index[field.shares], m))
        # the data's group order (then groups only list fields read): table names stay those of
        # bundles written before list features existed
        known = {g: i for i, g in enumerate(features.groups)}
        self.groups, self.group_names = nn.ModuleList(), sorted(columns, key=lambda g: known.get(g, len(known)))
        for g, group in enumerate(self.group_names):
            rows = []
            for key in members[group]:
                vocab = features.sparse[key[1]].vocab_size if key[0] == "sparse" else next(
                    fl.vocab_size for lf in features.lists for fl in lf.fields if fl.name == key[1])
                rows.append(min(vocab, spec.hash_buckets or 1 << 62))
            self.groups.append(GroupEmbedding(rows, spec.group_dims.get(group, spec.dim), spec.dim,
                                              [m for _, _, m in columns[group]]))
            for source in ("sparse", "lists"):
                self.register_buffer(f"{source}_columns_{g}", torch.tensor(
                    [c for s, c, _ in columns[group] if s == source], dtype=torch.int64), persistent=False)
        self.members = {group: list(keys) for group, keys in members.items()}
        # reads were numbered per group in order; sparse columns come first in the id matrix
        order = {group: [s for s, _, _ in cols] for group, cols in columns.items()}
        def position(group, n):  # the read's position in [sparse columns ‖ lists columns] of its group
            kinds = order[group]
            before = kinds[:n].count(kinds[n])
            return (self.group_names.index(group), before if kinds[n] == "sparse" else kinds.count("sparse") + before)
        # E0's sparse rows are group-major (each group's kept features in data order), as they always
        # were: the first reads of every group are its rows
        self.row_counts = [sum(g == group for g, _ in self.sparse_rows) for group in self.group_names]
        self.queries = {name: [position(*r) for r in reads] for name, reads in self.queries.items()}
        for table in (self.bags, self.sequences):
            for name, (start, k, reads) in table.items():
                table[name] = (start, k, [position(*r) for r in reads])
        self.bag_pooling = Pooling("mean")  # a multi-hot bag: the mean of its ids' embeddings
        self.encoders = nn.ModuleDict({
            name: build_encoder(sequence, spec.dim, k, bool(self.queries[name]), name)
            for name, (_, k, _) in self.sequences.items()})

    def lookup(self, sparse: torch.Tensor, domain: torch.Tensor, lists: torch.Tensor | None = None) -> list[torch.Tensor]:
        """The embedding-table reads: per group [B, K_g, table_dim] (its sparse columns, then its
        list columns), then the domain row [B, d] if enabled. Kept apart so that training can
        compile everything else (see train.fit)."""
        ids = []
        for g in range(len(self.groups)):
            group_ids = sparse.index_select(1, getattr(self, f"sparse_columns_{g}"))
            list_columns = getattr(self, f"lists_columns_{g}")
            if len(list_columns):
                group_ids = torch.cat([group_ids, lists.index_select(1, list_columns)], dim=1)
            ids.append(group_ids)
        if self.tables is not None:
            vectors = self.tables([group.table_rows(i) for group, i in zip(self.groups, ids)], lists)
        else:
            vectors = [group.lookup(i) for group, i in zip(self.groups, ids)]
        if self.domain_table is not None:
            vectors.append(self.domain_table(domain))
        return vectors

    def assemble(self, dense: torch.Tensor, vectors: list[torch.Tensor], lists: torch.Tensor | None = None):
        """Dense features and looked-up vectors → (E0 [B, N, d], h0 [B, W0])."""
        dense = dense.index_select(1, self.dense_index)
        projected = [group.project(v) for group, v in zip(self.groups, vectors)]
        rows = []
        if self.dense_projection is not None:
            rows.append(self.dense_projection(dense).unsqueeze(1))
        elif self.dense_bottom is not None:
            rows.append(self.dense_bottom(dense).unsqueeze(1))
        elif self.dense_rows is not None:
            rows.append(self.dense_rows(dense))
        rows += [v[:, :n] if n < v.shape[1] else v for v, n in zip(projected, self.row_counts) if n]
        for start, k, reads in self.bags.values():
            rows.append(self.bag_pooling(*self._events(projected, lists, start, k, reads), None, None)[0])
        sequence_rows = []
        for name, (start, k, reads) in self.sequences.items():
            tokens, mask = self._events(projected, lists, start, k, reads)
            query = sum(projected[g][:, c] for g, c in self.queries[name]) if self.queries[name] else None
            context = torch.cat(rows, dim=1) if rows else tokens.new_zeros(tokens.shape[0], 0, self.dim)
            out, new_context = self.encoders[name](tokens, mask, query, context)
            if new_context is not None:
                rows = [new_context]
            sequence_rows.append(out)
        rows += sequence_rows
        if self.domain_table is not None:
            rows.append(vectors[-1].unsqueeze(1))
        matrix = torch.cat(rows, dim=1)
        return matrix, torch.cat([dense, matrix.flatten(1)], dim=1)

    @staticmethod
    def _events(projected, lists, start, k, reads):
        """A list's event embeddings [B, k, d] (sum over its fields) and mask [B, k] (right-aligned)."""
        tokens = sum(projected[g][:, c:c + k] for g, c in reads)
        return tokens, event_mask(lists[:, start], k)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, domain: torch.Tensor,
                lists: torch.Tensor | None = None):
        return self.assemble(dense, self.lookup(sparse, domain, lists), lists)

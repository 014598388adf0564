"""The torchrec embedding engine: the InputLayer's feature tables as torchrec modules.

``build_model(arch, features, engine="torchrec")`` builds the same model as the plain engine
except for where the feature tables live: per feature group one table (the same rows, the same
per-member offsets and hashing, so a state dict converts both ways with ``convert_state``), held
by
- an ``EmbeddingBagCollection`` (mean pooling) for the groups no sequence reads: one torchrec
  feature per single-hot column (a bag of one id: the row itself) and per multi-hot bag (a jagged
  feature holding the row's ids, pooled by torchrec), and
- an ``EmbeddingCollection`` for the groups a sequence reads (the candidate's own id a feature of
  length 1, each list field a jagged feature holding only the real events of each row, the most
  recent ``k``; a bag in such a group is a jagged feature too),
fed one ``KeyedJaggedTensor`` each. The lookup returns what the plain engine's does — per group
[B, K_g, table_dim] — so everything after it (projections, pooling, encoders) is shared code:
zeros where the plain engine reads padding (which no encoder lets reach a prediction), and a bag
pooled by torchrec in each of its slots (the model's masked mean of identical vectors is that
vector, and the projection is linear, so the result is the plain engine's). Under ``DistributedModelParallel`` these two modules are what gets sharded
(``unirank.train.sharded``). The domain table and DeepFM's first-order weights stay plain
modules (a few rows each).
"""
from __future__ import annotations

import re

import torch
from torch import nn

from unirank.models.sequence import event_mask


def _torchrec():
    try:
        import torchrec
    except ImportError as err:  # pragma: no cover - depends on the install
        from unirank.errors import UnirankError

        raise UnirankError(f"torchrec is not installed ({err}); `make venv` installs it, or see the README's "
                           "install notes (Tables larger than one device)") from None
    return torchrec


class TorchrecTables(nn.Module):
    """Call: ``sparse`` [B, S] int64, ``lists`` [B, L] int64 | None → per group [B, K_g, table_dim].

    Built from an InputLayer's plan (``layer.groups``, ``layer.bags``, ``layer.sequences``),
    whose GroupEmbeddings keep their projections and lose their tables to this module."""

    def __init__(self, layer, device: torch.device | None = None):
        super().__init__()
        torchrec = _torchrec()
        self.num_groups = len(layer.groups)
        # per group: its list reads (position c in the group's columns, k, the lists column of the length)
        ranges: dict[int, list[tuple[int, int, int]]] = {g: [] for g in range(self.num_groups)}
        sequenced = set()  # groups a sequence reads
        for table in (layer.bags, layer.sequences):
            for start, k, reads in table.values():
                for g, c in reads:
                    ranges[g].append((c, k, start))
                    if table is layer.sequences:
                        sequenced.add(g)
        self.segments: dict[int, list[tuple[str, int, int, int]]] = {}  # g → [(key, first column, k, start)]
        bag_tables, seq_tables = [], []
        self.bag_groups, self.seq_groups = [], []
        for g, group in enumerate(layer.groups):
            weight = group.table.weight.detach()
            name = f"group{g}"
            segments, covered = [], set()
            for c, k, start in sorted(ranges[g]):
                segments.append((f"{name}.{c}", c, k, start))
                covered.update(range(c, c + k))
            segments += [(f"{name}.{c}", c, 1, -1) for c in range(group.num_columns) if c not in covered]
            segments.sort(key=lambda s: s[1])
            self.segments[g] = segments
            keys = [s[0] for s in segments]
            if g in sequenced:
                seq_tables.append(torchrec.EmbeddingConfig(name=name, embedding_dim=weight.shape[1],
                                                           num_embeddings=weight.shape[0], feature_names=keys))
                self.seq_groups.append(g)
            else:
                bag_tables.append(torchrec.EmbeddingBagConfig(name=name, embedding_dim=weight.shape[1],
                                                              num_embeddings=weight.shape[0], feature_names=keys,
                                                              pooling=torchrec.PoolingType.MEAN))
                self.bag_groups.append(g)
        self.ebc = torchrec.EmbeddingBagCollection(tables=bag_tables, device=device) if bag_tables else None
        self.ec = torchrec.EmbeddingCollection(tables=seq_tables, device=device) if seq_tables else None
        with torch.no_grad():  # the plain engine's initial weights: same seed, same model
            for g, group in enumerate(layer.groups):
                if device is None or device.type != "meta":
                    self.weight(g).copy_(group.table.weight)
                del group.table

    def weight(self, g: int) -> torch.Tensor:
        if g in self.bag_groups:
            return self.ebc.embedding_bags[f"group{g}"].weight
        return self.ec.embeddings[f"group{g}"].weight

    def forward(self, rows: list[torch.Tensor], lists: torch.Tensor | None) -> list[torch.Tensor]:
        """``rows``: per group its table rows [B, K_g] (offsets and hashing applied) → per group
        the vectors [B, K_g, table_dim]."""
        from torchrec import KeyedJaggedTensor

        batch = rows[0].shape[0]
        out: list[torch.Tensor | None] = [None] * self.num_groups
        if self.ebc is not None:
            keys, values, lengths = self._jagged(self.bag_groups, rows, lists, batch)[:3]
            kjt = KeyedJaggedTensor(keys=keys, values=torch.cat(values), lengths=torch.cat(lengths), stride=batch)
            pooled = self.ebc(kjt).to_dict()  # key → [B, table_dim]
            for g in self.bag_groups:  # a bag's mean in each of its k slots
                out[g] = torch.cat([pooled[key].unsqueeze(1).expand(-1, k, -1) for key, _, k, _ in self.segments[g]],
                                   dim=1)
        if self.ec is not None:
            keys, values, lengths, masks = self._jagged(self.seq_groups, rows, lists, batch)
            kjt = KeyedJaggedTensor(keys=keys, values=torch.cat(values), lengths=torch.cat(lengths), stride=batch)
            found = self.ec(kjt)
            for g in self.seq_groups:
                parts = []
                for key, c, k, start in self.segments[g]:
                    vectors = found[key].values()
                    if start < 0:
                        parts.append(vectors.reshape(batch, k, -1))
                    else:
                        padded = vectors.new_zeros(batch, k, vectors.shape[-1])
                        padded[masks[key]] = vectors
                        parts.append(padded)
                out[g] = torch.cat(parts, dim=1)
        return out

    def _jagged(self, groups: list[int], rows: list[torch.Tensor], lists: torch.Tensor | None, batch: int):
        """The KeyedJaggedTensor parts of ``groups``' features: keys, values and lengths per key
        (single-hot columns: one id per row; lists: the row's real events), and the lists' masks."""
        keys, values, lengths, masks = [], [], [], {}
        for g in groups:
            for key, c, k, start in self.segments[g]:
                ids = rows[g][:, c:c + k]
                if start < 0:
                    values.append(ids.reshape(-1))
                    lengths.append(torch.ones(batch, dtype=torch.int64, device=ids.device))
                else:
                    mask = masks[key] = event_mask(lists[:, start], k)
                    values.append(ids[mask])
                    lengths.append(mask.sum(dim=1))
                keys.append(key)
        return keys, values, lengths, masks


_PLAIN = re.compile(r"^(?P<prefix>.*)groups\.(?P<g>\d+)\.table\.weight$")
_TORCHREC = re.compile(r"^(?P<prefix>.*)tables\.(?:ebc\.embedding_bags|ec\.embeddings)\.group(?P<g>\d+)\.weight$")


def convert_state(state: dict[str, torch.Tensor], target: nn.Module) -> dict[str, torch.Tensor]:
    """A state dict written by either engine → the key names ``target``'s engine expects (tensors
    unchanged): a bundle trained with one engine loads in the other."""
    wanted: dict[tuple[str, str], str] = {}
    for key in target.state_dict():
        match = _PLAIN.match(key) or _TORCHREC.match(key)
        if match:
            wanted[(match["prefix"], match["g"])] = key
    converted = {}
    for key, value in state.items():
        match = _PLAIN.match(key) or _TORCHREC.match(key)
        converted[wanted.get((match["prefix"], match["g"]), key) if match else key] = value
    return converted

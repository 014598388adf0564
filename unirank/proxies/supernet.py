"""A weight-sharing supernet over a pool of ArchSpecs (sub-one-shot NAS, after SiGeo).

The supernet holds every choice of the pool at its largest size in one parameter store, and any
``ArchSpec`` of the pool is an active sub-network whose weights are *views* into that store:

- **layer choices as parallel candidates**: layer ``i``, slot ``j`` running module kind ``K`` owns
  the key ``stack.i.j.K.*`` — a cross and an MLP in the same slot have separate weights;
- **widths, ranks, expert counts, embedding dims by slicing**: a sub-network's tensor of shape
  ``s`` is ``store[key][:s0, :s1, …]`` (the leading block), so a width-64 MLP shares the first
  64 units of the width-256 one, 2 experts share the first 2 of 4, dim 8 shares the first 8
  columns of dim 16;
- **embeddings per feature**: each sparse feature owns one table ``[rows, max dim]``; a group
  table is the concatenation of its kept features' tables (first ``min(vocab, hash_buckets)``
  rows — ids are numbered by frequency, so hashing keeps the frequent rows), so dropping or
  hashing features never shifts another feature's rows; the dense projection's columns are
  picked by feature (``index_select``) for the same reason, and a row per dense feature
  (``dense_encoding``) reads that feature's own block;
- sharing patterns and tower modes own separate keys (``sharing.<pattern>.*``, ``towers.<mode>.*``).

Downstream of the inputs, a sub-network's k-th input column inherits the store's k-th column
(the usual once-for-all approximation: sizes, not meanings, are aligned).

``Supernet(features, pool)`` builds the store from the pool (each key at the bounding shape of
every arch that uses it; initial values from the first arch's own initialisation, so a fresh
supernet path equals a fresh ``build_model``). ``forward(arch, dense, sparse, domain)`` runs a
path with ``torch.func.functional_call`` on a cached module of that architecture; ``extract``
returns a stand-alone ``build_model(arch)`` with the inherited weights copied in.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.func import functional_call

from unirank.data.features import FeatureSpec
from unirank.models.ranker import build_model
from unirank.space.arch import ArchSpec



@dataclass
class _Binding:
    """How one parameter of a sub-network is read from the store."""

    name: str                       # parameter name in build_model(arch)
    shape: tuple[int, ...]
    key: str | None = None          # leading-block slice of store[key]
    columns: torch.Tensor | None = None   # dense projection: pick these input columns
    tables: list[tuple[str, int]] | None = None  # group table: (feature key, rows) concatenated


def _slot(key: str) -> str:
    """``ParameterDict`` names cannot contain dots."""
    return key.replace(".", ":")


def _slice(tensor: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    return tensor[tuple(slice(0, s) for s in shape)]


class Supernet(nn.Module):
    """Call: ``supernet(arch, dense [B, D], sparse [B, S], domain [B])`` → logits [B, T] of the
    sub-network ``arch`` (every arch passed to the constructor or to ``add``)."""

    def __init__(self, features: FeatureSpec, pool: list[ArchSpec]):
        super().__init__()
        self.features = features
        self.store = nn.ParameterDict()
        self._paths: dict[ArchSpec, tuple[nn.Module, list[_Binding]]] = {}
        for arch in pool:
            self.add(arch)

    # -- building the store ------------------------------------------------------------------
    def add(self, arch: ArchSpec) -> None:
        """Register ``arch`` as a path, growing the store where it needs larger blocks."""
        if arch in self._paths:
            return
        model, bindings, blocks = self._blocks(arch)
        for key, values in blocks:
            self._grow(key, values)
        for param in model.parameters():  # the path module only lends its structure and buffers
            param.data = torch.empty(0)
        self._paths[arch] = (model, bindings)

    def _blocks(self, arch: ArchSpec) -> tuple[nn.Module, list[_Binding], list[tuple[str, torch.Tensor]]]:
        """``build_model(arch)``, how each of its parameters is read from the store, and the store
        blocks it needs as (key, its initial values): one per group-table feature, the dense
        projection over every dense column, else the parameter itself."""
        model = build_model(arch, self.features)
        bindings, blocks = [], []
        slots = model.weight_slots()  # the model says which slot each parameter fills
        for name, param in model.named_parameters():
            slot = slots[name]
            binding = _Binding(name, tuple(param.shape), key=slot.key, columns=slot.columns, tables=slot.tables)
            bindings.append(binding)
            if binding.tables is not None:
                offset = 0
                for key, rows in binding.tables:
                    blocks.append((key, param.detach()[offset:offset + rows]))
                    offset += rows
            elif binding.columns is not None:
                full = torch.zeros(param.shape[0], len(self.features.dense))
                full[:, binding.columns] = param.detach()
                blocks.append((binding.key, full))
            else:
                blocks.append((binding.key, param.detach()))
        return model, bindings, blocks

    def _grow(self, key: str, values: torch.Tensor) -> None:
        """Make ``store[key]`` cover ``values.shape``; cells already there keep their values,
        new cells take ``values`` (so the first user of a block initialises it)."""
        slot = _slot(key)
        if slot not in self.store:
            self.store[slot] = nn.Parameter(values.clone())
            return
        old = self.store[slot].data
        if old.dim() != values.dim():
            raise ValueError(f"supernet key {key}: rank {values.dim()} != {old.dim()}")
        shape = tuple(max(a, b) for a, b in zip(old.shape, values.shape))
        if shape == tuple(old.shape):
            return
        grown = torch.zeros(shape, dtype=old.dtype)
        _slice(grown, tuple(values.shape)).copy_(values)
        _slice(grown, tuple(old.shape)).copy_(old)
        self.store[slot] = nn.Parameter(grown)

    # -- reading a path ----------------------------------------------------------------------
    def weights(self, arch: ArchSpec) -> dict[str, torch.Tensor]:
        """The sub-network's parameters as views of the store (gradients flow into the store)."""
        _, bindings = self._path(arch)
        out = {}
        for b in bindings:
            if b.tables is not None:
                out[b.name] = torch.cat([_slice(self.store[_slot(k)], (rows, *b.shape[1:])) for k, rows in b.tables])
            elif b.columns is not None:
                out[b.name] = self.store[_slot(b.key)][: b.shape[0]].index_select(1, b.columns)
            else:
                out[b.name] = _slice(self.store[_slot(b.key)], b.shape)
        return out

    def forward(self, arch: ArchSpec, dense: torch.Tensor, sparse: torch.Tensor,
                domain: torch.Tensor, lists: torch.Tensor | None = None) -> torch.Tensor:
        model, _ = self._path(arch)
        return functional_call(model, self.weights(arch), (dense, sparse, domain, lists))

    def extract(self, arch: ArchSpec) -> nn.Module:
        """A stand-alone ``build_model(arch)`` holding the inherited weights (copies)."""
        model = build_model(arch, self.features)
        weights = self.weights(arch)
        with torch.no_grad():
            for name, param in model.named_parameters():
                param.copy_(weights[name])
        return model

    def covers(self, arch: ArchSpec) -> bool:
        """Whether every weight of ``arch`` is a block of the store as it is (no key missing, no
        block larger): then its inherited weights are ones the warm-up trained, and scoring it
        does not grow the store."""
        if arch in self._paths:
            return True
        for key, values in self._blocks(arch)[2]:
            block = self.store[_slot(key)] if _slot(key) in self.store else None
            if (block is None or block.dim() != values.dim()
                    or any(s > t for s, t in zip(values.shape, block.shape))):
                return False
        return True

    def _path(self, arch: ArchSpec):
        if arch not in self._paths:
            self.add(arch)
        return self._paths[arch]

    @property
    def paths(self) -> list[ArchSpec]:
        return list(self._paths)

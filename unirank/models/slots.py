"""Which weight slot each parameter of a model fills: the model says it, nobody parses names.

A slot is what a weight-sharing supernet (``unirank.proxies.supernet``) stores once and lends to
every architecture that uses it: by ``key`` (the leading block of one stored tensor), by input
``columns`` (the dense projection: columns picked per dense feature), or as ``tables`` (a group's
embedding table: the concatenation of its features' own tables, ``(key, rows)`` each; the
per-feature dense rows: one block of 1 row per kept dense feature).

Keys: ``inputs.feature.<name>`` (one table per sparse feature or list field of its own), ``inputs.projection.<group>``,
``inputs.dense.<feature>.<encoding>.<parameter>``,
``stack.<layer>.<slot>.<kind>.<parameter>`` (a module owns its weights per layer, slot and kind),
``sharing.<pattern>.<parameter>``, ``towers.<mode>.<parameter>``; anything else by its name.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass
class WeightSlot:
    key: str | None = None
    columns: torch.Tensor | None = None          # [D'] int64: dense feature columns used
    tables: list[tuple[str, int]] | None = None  # [(feature key, rows), ...] in table order


def weight_slots(model: nn.Module) -> dict[str, WeightSlot]:
    """Parameter name → its slot, for a ``UnifiedRanker``."""
    names = {id(p): n for n, p in model.named_parameters()}
    slots = {n: WeightSlot(key=n) for n in names.values()}
    features, inputs = model.features, model.inputs
    for g, group in enumerate(inputs.groups):
        keys = [features.sparse[m].name if kind == "sparse" else m for kind, m in inputs.members[inputs.group_names[g]]]
        slots[names[id(group.table.weight)]] = WeightSlot(
            tables=[(f"inputs.feature.{key}", r) for key, r in zip(keys, group.rows.tolist())])
        if group.projection is not None:
            slots[names[id(group.projection.weight)]] = WeightSlot(key=f"inputs.projection.{inputs.group_names[g]}")
    if inputs.dense_projection is not None:
        slots[names[id(inputs.dense_projection.weight)]] = WeightSlot(
            key="inputs.dense_projection.weight", columns=inputs.dense_index.clone())
    if inputs.dense_rows is not None:  # a row per dense feature: each feature's weights are its own
        kept = [features.dense[i] for i in inputs.dense_index.tolist()]
        encoding = model.arch.embedding.dense_encoding
        for rest, p in inputs.dense_rows.named_parameters():
            slots[names[id(p)]] = WeightSlot(tables=[(f"inputs.dense.{name}.{encoding}.{rest}", 1) for name in kept])
    for i, layer in enumerate(model.stack.layers):
        for j, (part, spec) in enumerate(zip(layer.parts, model.arch.layers[i].modules)):
            for rest, p in part.named_parameters():
                slots[names[id(p)]] = WeightSlot(key=f"stack.{i}.{j}.{spec.kind}.{rest}")
    towers = getattr(model.sharing, "towers", None)
    tower_ids = {id(p) for p in towers.parameters()} if towers is not None else set()
    for rest, p in model.sharing.named_parameters():
        if id(p) in tower_ids:
            slots[names[id(p)]] = WeightSlot(key=f"towers.{model.arch.sharing.towers}.{rest[len('towers.'):]}")
        else:
            slots[names[id(p)]] = WeightSlot(key=f"sharing.{model.arch.sharing.pattern}.{rest}")
    return slots

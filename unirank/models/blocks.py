"""The block registry: everything the system knows about an interaction-stack module kind.

A block is one file (its ``nn.Module`` and a ``BLOCK = Block(...)`` entry beside it) plus its
line in ``_FILES`` below. The entry says which ``ModuleSpec`` fields the kind takes and checks
them, builds the module, suggests one from the search space and writes one back as the space's
parameters (the inverse), counts its distinct choices (space size), lists its dimensions for
``unirank space``, and names it briefly (``ArchSpec.summary``) and in words (dashboard). Every
other part of the system asks the registry instead of testing ``kind``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # types only: the registry is imported lazily by the spec and the space
    from torch import nn

    from unirank.config import SpaceConfig
    from unirank.space.arch import ModuleSpec


@dataclass(frozen=True)
class BuildContext:
    """What a module is built for: the width of its input ``h`` [B, W], the rows N and dim d of
    the feature matrix E [B, N, d], whether row 0 of E is the dense row, the dropout rate."""

    in_features: int
    num_rows: int
    dim: int
    dense_row: bool = False
    dropout: float | None = None


@dataclass(frozen=True)
class Block:
    kind: str
    params: tuple[str, ...]                                   # ModuleSpec fields the kind takes
    build: Callable[["ModuleSpec", BuildContext], "nn.Module"]
    # (trial, parameter prefix, space config) → ModuleSpec fields; prefix is e.g. "layer0_module1"
    suggest: Callable[[Any, str, "SpaceConfig"], dict]
    point: Callable[["ModuleSpec", str], dict]               # the inverse: spec → the space's parameters
    choices: Callable[["SpaceConfig"], int]                   # distinct specs the space allows
    space_rows: Callable[["SpaceConfig"], list[tuple[str, str]]]
    summary: Callable[["ModuleSpec"], str]                    # "mlp256", "cross(r16)"
    describe: Callable[["ModuleSpec"], str]                   # "MLP (width 256)"
    check: Callable[["ModuleSpec"], str | None] = field(default=lambda spec: None)  # error or None


# one line per block file (module path, attribute)
_FILES = ("unirank.models.mlp", "unirank.models.crossnet", "unirank.models.dot", "unirank.models.fm",
          "unirank.models.attention", "unirank.models.wukong")
_REGISTRY: dict[str, Block] = {}


def blocks() -> dict[str, Block]:
    """kind → Block, in registration order."""
    if not _REGISTRY:
        for path in _FILES:
            block = importlib.import_module(path).BLOCK
            _REGISTRY[block.kind] = block
    return _REGISTRY


def block(kind: str) -> Block:
    registry = blocks()
    if kind not in registry:
        raise ValueError(f"unknown module kind {kind!r} (known: {', '.join(registry)})")
    return registry[kind]

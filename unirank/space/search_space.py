"""SearchSpace: define-by-run on an Optuna trial, returning an ArchSpec.

Parameters (names as they appear in the Optuna study): ``embedding_dim``, ``cross_layers``,
``mlp_layers``, ``mlp_width_{i}`` per MLP layer, ``sharing``, and — only when sharing is mmoe —
``num_experts`` and ``expert_width``; ``tower_width``. The choices come from ``SpaceConfig``.
"""
from __future__ import annotations

from typing import Protocol

from unirank.config import SpaceConfig
from unirank.space.arch import ArchSpec, LayerSpec, SharingSpec


class TrialLike(Protocol):
    """The part of ``optuna.trial.Trial`` the space uses (so the space does not import optuna)."""

    def suggest_int(self, name: str, low: int, high: int) -> int: ...
    def suggest_categorical(self, name: str, choices: list) -> object: ...


class SearchSpace:
    def __init__(self, config: SpaceConfig | None = None):
        self.config = config or SpaceConfig()

    def suggest(self, trial: TrialLike) -> ArchSpec:
        c = self.config
        embedding_dim = trial.suggest_categorical("embedding_dim", list(c.embedding_dim))
        num_cross = trial.suggest_int("cross_layers", c.cross_layers.low, c.cross_layers.high)
        num_mlp = trial.suggest_int("mlp_layers", c.mlp_layers.low, c.mlp_layers.high)
        layers = [LayerSpec(block="cross") for _ in range(num_cross)]
        layers += [
            LayerSpec(block="mlp", width=trial.suggest_categorical(f"mlp_width_{i}", list(c.mlp_width)))
            for i in range(num_mlp)
        ]
        pattern = trial.suggest_categorical("sharing", list(c.sharing))
        experts = {}
        if pattern == "mmoe":
            experts = {
                "num_experts": trial.suggest_int("num_experts", c.num_experts.low, c.num_experts.high),
                "expert_width": trial.suggest_categorical("expert_width", list(c.expert_width)),
            }
        tower_width = trial.suggest_categorical("tower_width", list(c.tower_width))
        return ArchSpec(
            embedding_dim=embedding_dim, layers=tuple(layers),
            sharing=SharingSpec(pattern=pattern, tower_width=tower_width, **experts),
        )

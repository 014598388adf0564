"""SearchSpace: define-by-run on an Optuna trial, returning an ArchSpec.

Parameter names as they appear in the study (conditional ones only when their parent is chosen):

    embedding_dim, dim_<group> (group_dims), hash_buckets, domain_embedding,
    keep_<feature> / keep_group_<group> (feature_selection),
    num_layers; per layer i: layer<i>_parallel, layer<i>_module<j> and its parameters
      (layer<i>_module<j>_width | _rank, _experts | _heads), layer<i>_skip;
    towers, sharing and, by pattern: num_experts, expert_width (mmoe, ple),
      num_specific_experts, ple_levels, ple_specific_to (ple), star_layers, star_width_<k> (star);
    tower_width.
"""
from __future__ import annotations

import math
from typing import Protocol

from unirank.config import SpaceConfig
from unirank.data.features import FeatureSpec
from unirank.errors import UnirankError
from unirank.space.arch import ArchSpec, EmbeddingSpec, LayerSpec, ModuleSpec, SharingSpec


class TrialLike(Protocol):
    """The part of ``optuna.trial.Trial`` the space uses (so the space does not import optuna)."""

    def suggest_int(self, name: str, low: int, high: int) -> int: ...
    def suggest_categorical(self, name: str, choices: list) -> object: ...


class SearchSpace:
    def __init__(self, config: SpaceConfig | None = None, features: FeatureSpec | None = None):
        self.config = config or SpaceConfig()
        self.features = features
        if (self.config.feature_selection != "none" or self.config.group_dims) and features is None:
            raise UnirankError("space.feature_selection/group_dims need the data's FeatureSpec")

    # -- the space ---------------------------------------------------------------------------
    def suggest(self, trial: TrialLike) -> ArchSpec:
        return ArchSpec(embedding=self._embedding(trial), layers=self._layers(trial),
                        sharing=self._sharing(trial))

    def _embedding(self, trial: TrialLike) -> EmbeddingSpec:
        c = self.config
        dim = trial.suggest_categorical("embedding_dim", list(c.embedding_dim))
        group_dims = {}
        if c.group_dims:
            for group in self.features.groups:
                group_dims[group] = trial.suggest_categorical(f"dim_{group}", list(c.embedding_dim))
        dropped: list[str] = []
        if c.feature_selection == "features":
            dropped = [n for n in self.features.feature_names
                       if not trial.suggest_categorical(f"keep_{n}", [True, False])]
        elif c.feature_selection == "groups":
            groups = self.features.groups + (["dense"] if self.features.dense else [])
            off = {g for g in groups if not trial.suggest_categorical(f"keep_group_{g}", [True, False])}
            dropped = [*(n for n in self.features.dense if "dense" in off),
                       *(f.name for f in self.features.sparse if f.group_name in off)]
        domain_embedding = trial.suggest_categorical("domain_embedding", list(c.domain_embedding))
        # Keep at least two rows in E (a dot product needs a pair): give features back in order.
        while dropped and self._rows(dropped, domain_embedding) < 2:
            dropped.pop(0)
        return EmbeddingSpec(
            dim=dim, group_dims={g: d for g, d in group_dims.items() if d != dim},
            hash_buckets=trial.suggest_categorical("hash_buckets", list(c.hash_buckets)),
            domain_embedding=domain_embedding, dropped=tuple(dropped),
        )

    def _rows(self, dropped: list[str], domain_embedding: bool) -> int:
        """Rows of the feature matrix E that a candidate with these dropped features has."""
        gone = set(dropped)
        dense = any(n not in gone for n in self.features.dense)
        return dense + sum(f.name not in gone for f in self.features.sparse) + bool(domain_embedding)

    def _layers(self, trial: TrialLike) -> tuple[LayerSpec, ...]:
        c = self.config
        layers = []
        for i in range(trial.suggest_int("num_layers", c.num_layers.low, c.num_layers.high)):
            count = trial.suggest_int(f"layer{i}_parallel", c.parallel.low, c.parallel.high)
            modules = tuple(self._module(trial, f"layer{i}_module{j}") for j in range(count))
            skip = trial.suggest_categorical(f"layer{i}_skip", list(c.skip))
            layers.append(LayerSpec(modules=modules, skip=skip))
        return tuple(layers)

    def _module(self, trial: TrialLike, name: str) -> ModuleSpec:
        c = self.config
        kind = trial.suggest_categorical(name, list(c.modules))
        if kind == "mlp":
            return ModuleSpec(kind="mlp", width=trial.suggest_categorical(f"{name}_width", list(c.mlp_width)))
        if kind == "cross":
            rank = trial.suggest_categorical(f"{name}_rank", list(c.cross_rank))
            experts = None
            if rank is not None:
                experts = trial.suggest_categorical(f"{name}_experts", list(c.cross_experts))
            return ModuleSpec(kind="cross", rank=rank, experts=experts if experts and experts > 1 else None)
        if kind == "attention":
            return ModuleSpec(kind="attention", heads=trial.suggest_categorical(f"{name}_heads", list(c.attention_heads)))
        return ModuleSpec(kind=kind)

    def _sharing(self, trial: TrialLike) -> SharingSpec:
        c = self.config
        towers = trial.suggest_categorical("towers", list(c.towers))
        pattern = trial.suggest_categorical("sharing", list(c.sharing))
        extra: dict = {}
        if pattern in ("mmoe", "ple"):
            extra["num_experts"] = trial.suggest_int("num_experts", c.num_experts.low, c.num_experts.high)
            extra["expert_width"] = trial.suggest_categorical("expert_width", list(c.expert_width))
        if pattern == "ple":
            extra["num_specific_experts"] = trial.suggest_int(
                "num_specific_experts", c.num_specific_experts.low, c.num_specific_experts.high)
            extra["levels"] = trial.suggest_int("ple_levels", c.ple_levels.low, c.ple_levels.high)
            # towers per domain/objective fix whose experts are specific (see SharingSpec)
            extra["specific_to"] = (towers if towers != "portfolio" else
                                    trial.suggest_categorical("ple_specific_to", list(c.ple_specific_to)))
        if pattern == "star":
            depth = trial.suggest_int("star_layers", c.star_layers.low, c.star_layers.high)
            extra["star_widths"] = tuple(trial.suggest_categorical(f"star_width_{k}", list(c.star_width))
                                         for k in range(depth))
        return SharingSpec(pattern=pattern, towers=towers,
                           tower_width=trial.suggest_categorical("tower_width", list(c.tower_width)),
                           **extra)

    # -- description -------------------------------------------------------------------------
    def size(self) -> int:
        """Number of distinct ArchSpecs the space can produce (before duplicate group dims)."""
        c = self.config
        module_options = {
            "mlp": len(c.mlp_width), "dot": 1, "fm": 1, "attention": len(c.attention_heads),
            "cross": sum(1 if r is None else len(c.cross_experts) for r in c.cross_rank),
        }
        per_module = sum(module_options[k] for k in c.modules)
        per_layer = sum(per_module ** p for p in range(c.parallel.low, c.parallel.high + 1)) * len(c.skip)
        stacks = sum(per_layer ** n for n in range(c.num_layers.low, c.num_layers.high + 1))
        embedding = len(c.embedding_dim) * len(c.hash_buckets) * len(c.domain_embedding)
        if self.features is not None:
            if c.group_dims:
                embedding *= len(c.embedding_dim) ** len(self.features.groups)
            if c.feature_selection == "features":
                embedding *= 2 ** len(self.features.feature_names)
            elif c.feature_selection == "groups":
                embedding *= 2 ** (len(self.features.groups) + bool(self.features.dense))
        experts = (c.num_experts.high - c.num_experts.low + 1) * len(c.expert_width)
        sharing = 0
        for pattern in c.sharing:
            sharing += {"shared_bottom": 1, "mmoe": experts,
                        "ple": experts * (c.num_specific_experts.high - c.num_specific_experts.low + 1)
                        * (c.ple_levels.high - c.ple_levels.low + 1) * len(c.ple_specific_to),
                        "star": sum(len(c.star_width) ** k for k in range(c.star_layers.low, c.star_layers.high + 1)),
                        }[pattern]
        return embedding * stacks * sharing * len(c.towers) * len(c.tower_width)

    def describe(self) -> list[tuple[str, str]]:
        """(dimension, choices) rows, conditional ones indented under their parent."""
        c = self.config
        rng = lambda r: f"{r.low}..{r.high}"  # noqa: E731
        rows = [
            ("embedding_dim", str(list(c.embedding_dim))),
            ("  dim_<group>", "per feature group, same choices" if c.group_dims else "off"),
            ("hash_buckets", str(list(c.hash_buckets))),
            ("domain_embedding", str(list(c.domain_embedding))),
            ("feature_selection", c.feature_selection),
            ("num_layers", rng(c.num_layers)),
            ("  modules per layer (parallel)", rng(c.parallel)),
            ("  module kind", str(list(c.modules))),
            ("    mlp width", str(list(c.mlp_width))),
            ("    cross rank (null = full)", str(list(c.cross_rank))),
            ("      cross experts (if low rank)", str(list(c.cross_experts))),
            ("    attention heads", str(list(c.attention_heads))),
            ("  skip", str(list(c.skip))),
            ("towers", str(list(c.towers))),
            ("sharing", str(list(c.sharing))),
            ("  num_experts, expert_width (mmoe, ple)", f"{rng(c.num_experts)}, {list(c.expert_width)}"),
            ("  num_specific_experts, levels, specific_to (ple)",
             f"{rng(c.num_specific_experts)}, {rng(c.ple_levels)}, {list(c.ple_specific_to)}"),
            ("  star layers × width (star)", f"{rng(c.star_layers)} × {list(c.star_width)}"),
            ("tower_width", str(list(c.tower_width))),
        ]
        return rows


def format_size(n: int) -> str:
    return f"{n:,}" if n < 10**7 else f"{n:.2e} (≈10^{int(math.log10(n))})"

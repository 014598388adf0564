"""ArchSpec: the one serialisable description of a unified ranking model.

Search, proxies, models, dashboard and export all speak ArchSpec. It is frozen (hashable), JSON
round-trips losslessly (``ArchSpec.from_json(a.to_json()) == a``), carries ``schema_version`` and
validates itself with errors that name the field::

    {"schema_version": 1,
     "embedding_dim": 16,
     "layers": [{"block": "cross"}, {"block": "mlp", "width": 256}],
     "sharing": {"pattern": "mmoe", "num_experts": 4, "expert_width": 64, "tower_width": 32}}

``layers`` is the interaction stack applied to [dense ‖ flattened embeddings], in order. A run of
consecutive ``cross`` layers uses the representation entering the run as its x0 (DCNv2 stacked).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unirank.errors import UnirankError, describe_validation_error

SCHEMA_VERSION = 1


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LayerSpec(_Spec):
    """One interaction layer: ``mlp`` (Linear+ReLU to ``width``) or ``cross`` (DCNv2, keeps width)."""

    block: Literal["mlp", "cross"]
    width: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _width_matches_block(self) -> "LayerSpec":
        if self.block == "mlp" and self.width is None:
            raise ValueError("an mlp layer needs width (an integer >= 1)")
        if self.block == "cross" and self.width is not None:
            raise ValueError("a cross layer keeps its input width; remove width")
        return self


class SharingSpec(_Spec):
    """How the portfolios share the representation.

    ``shared_bottom``: every portfolio tower reads the same representation.
    ``mmoe``: ``num_experts`` expert MLPs (width ``expert_width``), mixed per portfolio by a gate.
    Each portfolio (domain × objective) has its own tower: Linear(→tower_width)+ReLU+Linear(→1).
    """

    pattern: Literal["shared_bottom", "mmoe"]
    num_experts: int | None = Field(None, ge=1)
    expert_width: int | None = Field(None, ge=1)
    tower_width: int = Field(ge=1)

    @model_validator(mode="after")
    def _experts_match_pattern(self) -> "SharingSpec":
        if self.pattern == "mmoe" and (self.num_experts is None or self.expert_width is None):
            raise ValueError("mmoe needs num_experts and expert_width (integers >= 1)")
        if self.pattern == "shared_bottom" and (self.num_experts or self.expert_width):
            raise ValueError("shared_bottom has no experts; remove num_experts/expert_width")
        return self


class ArchSpec(_Spec):
    schema_version: Literal[1] = SCHEMA_VERSION
    embedding_dim: int = Field(ge=1, le=1024)
    layers: tuple[LayerSpec, ...] = ()
    sharing: SharingSpec

    def to_json(self, indent: int | None = 2) -> str:
        return self.model_dump_json(indent=indent, exclude_none=True)

    def to_dict(self) -> dict:
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def from_dict(cls, data: object, source: str = "arch") -> "ArchSpec":
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            raise UnirankError(describe_validation_error(err, source)) from None

    @classmethod
    def from_json(cls, text: str, source: str = "arch.json") -> "ArchSpec":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise UnirankError(f"{source}: line {err.lineno}: not valid JSON ({err.msg})") from None
        return cls.from_dict(data, source)

    @classmethod
    def load(cls, path: str | Path) -> "ArchSpec":
        path = Path(path)
        if not path.is_file():
            raise UnirankError(f"architecture file not found: {path}")
        return cls.from_json(path.read_text(), source=str(path))

    def summary(self) -> str:
        """One line for plots and tables, e.g. ``emb16 | cross×2 → mlp256-128 | mmoe4×64 | tower32``."""
        parts, crosses, widths = [], 0, []
        for layer in self.layers:
            if layer.block == "cross":
                if widths:
                    parts.append("mlp" + "-".join(map(str, widths)))
                    widths = []
                crosses += 1
            else:
                if crosses:
                    parts.append(f"cross×{crosses}")
                    crosses = 0
                widths.append(layer.width)
        if crosses:
            parts.append(f"cross×{crosses}")
        if widths:
            parts.append("mlp" + "-".join(map(str, widths)))
        sharing = self.sharing.pattern
        if self.sharing.pattern == "mmoe":
            sharing = f"mmoe{self.sharing.num_experts}×{self.sharing.expert_width}"
        stack = " → ".join(parts) or "no layers"
        return f"emb{self.embedding_dim} | {stack} | {sharing} | tower{self.sharing.tower_width}"

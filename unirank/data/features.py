"""FeatureSpec: what a model needs to know about the data, and nothing about the rows.

A *portfolio* is one (domain, objective) pair; the unified model has one head per portfolio.
Sparse ids are 0 for out-of-vocabulary/missing values and 1..vocab_size-1 for known values.
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


def cardinality_group(vocab_size: int) -> str:
    """Default feature group by vocabulary size: ``small`` ≤ 32 ids, ``medium`` ≤ 1024, ``large``."""
    if vocab_size <= 32:
        return "small"
    return "medium" if vocab_size <= 1024 else "large"


class SparseFeature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    vocab_size: int = Field(ge=1, description="number of ids, including the OOV id 0")
    group: str = Field("", description="feature group (per-group embedding dims, group filters)")

    @property
    def group_name(self) -> str:
        return self.group or cardinality_group(self.vocab_size)


class FeatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dense: tuple[str, ...]
    sparse: tuple[SparseFeature, ...]
    domain: str
    domains: tuple[str, ...] = Field(min_length=1)
    objectives: tuple[str, ...] = Field(min_length=1)

    @property
    def num_domains(self) -> int:
        return len(self.domains)

    @property
    def num_objectives(self) -> int:
        return len(self.objectives)

    @property
    def num_portfolios(self) -> int:
        return self.num_domains * self.num_objectives

    @property
    def groups(self) -> list[str]:
        """Sparse feature groups in first-seen order."""
        return list(dict.fromkeys(f.group_name for f in self.sparse))

    @property
    def feature_names(self) -> list[str]:
        return [*self.dense, *(f.name for f in self.sparse)]

    @property
    def portfolios(self) -> list[str]:
        """Names ``"<domain>/<objective>"`` in head order (domain-major)."""
        return [f"{d}/{o}" for d in self.domains for o in self.objectives]

"""FeatureSpec: what a model needs to know about the data, and nothing about the rows.

A *portfolio* is one (domain, objective) pair; the unified model has one head per portfolio.
Sparse ids are 0 for out-of-vocabulary/missing values and 1..vocab_size-1 for known values.

List features hold several ids per example: a *multi-hot* bag (a movie's genres) or a *sequence*
(a user's earlier events in time order, each with optional side ids such as the rating given).
They travel in one int64 tensor ``lists`` [B, FeatureSpec.lists_width]; per list feature, in order:
its length (1 column), then each of its fields as ``max_len`` columns, right-aligned (0 before the
first event, the most recent event in the last column, so the k most recent are the last k). A field may *share* a sparse feature's vocabulary and
embedding table (a history of item ids shares ``item_id``'s), so the candidate and the events it
is compared with live in one space.
"""
from __future__ import annotations

from typing import Literal

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


class ListField(BaseModel):
    """One id field of a list feature; ``shares`` names the sparse feature whose vocabulary and
    embedding table it uses ("" = its own)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    vocab_size: int = Field(ge=1, description="number of ids, including the OOV id 0")
    shares: str = ""

    @property
    def group_name(self) -> str:
        return cardinality_group(self.vocab_size)


class ListFeature(BaseModel):
    """A multi-hot bag or a sequence; ``fields[0]`` holds the ids, the others side ids per event."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    kind: Literal["multi_hot", "sequence"]
    max_len: int = Field(ge=1)
    fields: tuple[ListField, ...] = Field(min_length=1)

    @property
    def width(self) -> int:
        """Columns this feature takes in ``lists``: its length and ``max_len`` per field."""
        return 1 + self.max_len * len(self.fields)


class FeatureSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    dense: tuple[str, ...]
    sparse: tuple[SparseFeature, ...]
    domain: str
    domains: tuple[str, ...] = Field(min_length=1)
    objectives: tuple[str, ...] = Field(min_length=1)
    lists: tuple[ListFeature, ...] = ()
    # the last dense columns when they hold a teacher's representation (LoopFM, ``search.distill.embedding``)
    teacher: tuple[str, ...] = ()

    @property
    def data_dense(self) -> tuple[str, ...]:
        """The dense columns read from the data (all but the teacher's)."""
        return self.dense[:len(self.dense) - len(self.teacher)]

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
        return [*self.dense, *(f.name for f in self.sparse), *(f.name for f in self.lists)]

    @property
    def sequences(self) -> list[ListFeature]:
        return [f for f in self.lists if f.kind == "sequence"]

    def list_offset(self, name: str) -> int:
        """The column of ``lists`` where feature ``name`` starts (its length column)."""
        offset = 0
        for feature in self.lists:
            if feature.name == name:
                return offset
            offset += feature.width
        raise KeyError(name)

    @property
    def lists_width(self) -> int:
        return sum(f.width for f in self.lists)

    @property
    def portfolios(self) -> list[str]:
        """Names ``"<domain>/<objective>"`` in head order (domain-major)."""
        return [f"{d}/{o}" for d in self.domains for o in self.objectives]

"""Preprocessing fitted on the train split only: vocabularies with an OOV id, dense normalisation.

The fitted state is plain JSON (it is written into every export bundle's ``features.json``), and
``transform`` is vectorised pandas/numpy work: no Python loop over rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from pydantic import BaseModel, ConfigDict

from unirank.data.batches import TensorSplit
from unirank.data.features import FeatureSpec, ListFeature, ListField, SparseFeature
from unirank.data.table import RawTable, real_slots
from unirank.errors import UnirankError

# Columns whose absolute values exceed this are heavy-tailed (money, counts): signed log first.
LOG_THRESHOLD = 100.0


def signed_log(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """sign(x)·log(1 + |x|), what heavy-tailed columns become before they are normalised."""
    return np.copysign(np.log1p(np.abs(values)), values, out=out)


class DenseStats(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    mean: float
    std: float
    signed_log: bool

    @classmethod
    def fitted(cls, mean: float, std: float, signed: bool) -> "DenseStats":
        """A column's statistics; a constant column (std ≈ 0) is only centred."""
        return cls(mean=mean, std=std if std > 1e-12 else 1.0, signed_log=signed)


class ListState(BaseModel):
    """A list feature's layout; its own fields' vocabularies are in ``PreprocessState.list_vocab``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str
    kind: str
    max_len: int
    fields: list[str]
    shares: dict[str, str] = {}


class TeacherFeatures(BaseModel):
    """A teacher's representation as input features (LoopFM): the output of the teacher's
    interaction stack h [W], centred and projected on its ``len(columns)`` principal directions of
    the training rows, each scaled to unit variance: ``z = ((h - mean) @ components.T) / scale``.
    ``unirank.train.teacher_features`` computes them; they are appended to ``dense``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    teacher: str                     # the teacher's name (a bundle's path | "trial N of study S")
    key: str                         # hash of the teacher's architecture and weights
    columns: list[str]
    mean: list[float]
    components: list[list[float]]    # [K, W]
    scale: list[float]


class PreprocessState(BaseModel):
    """Everything ``transform`` needs; JSON round-trips."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dense: dict[str, DenseStats]
    vocab: dict[str, list[str]]
    hashed: dict[str, int] = {}
    domain: str
    domains: list[str]
    objectives: list[str]
    lists: list[ListState] = []
    list_vocab: dict[str, list[str]] = {}
    teacher_features: TeacherFeatures | None = None  # appended to dense after ``transform``

    def without_teacher(self) -> "PreprocessState":
        """The state of the data's own columns (what ``transform`` reads)."""
        return self.model_copy(update={"teacher_features": None}) if self.teacher_features else self

    def field_vocab(self, spec: ListState, field: str) -> list[str]:
        return self.vocab[spec.shares[field]] if field in spec.shares else self.list_vocab[field]

    def feature_spec(self) -> FeatureSpec:
        lists = tuple(ListFeature(name=s.name, kind=s.kind, max_len=s.max_len, fields=tuple(
            ListField(name=f, vocab_size=len(self.field_vocab(s, f)) + 1, shares=s.shares.get(f, ""))
            for f in s.fields)) for s in self.lists)
        teacher = tuple(self.teacher_features.columns) if self.teacher_features else ()
        return FeatureSpec(lists=lists, teacher=teacher,
            dense=(*self.dense, *teacher),
            sparse=tuple(SparseFeature(name=n, vocab_size=len(v) + 1) for n, v in self.vocab.items())
            + tuple(SparseFeature(name=n, vocab_size=size + 1) for n, size in self.hashed.items()),
            domain=self.domain, domains=tuple(self.domains), objectives=tuple(self.objectives),
        )


def fit_preprocessing(table: RawTable, train_rows: np.ndarray, min_count: int) -> PreprocessState:
    """Fit vocabularies (ids by descending train frequency, count ≥ min_count) and dense stats."""
    train = table.frame.iloc[train_rows]
    dense = {}
    for column in table.dense:
        values = train[column].to_numpy(dtype=np.float64)
        heavy = bool(np.nanmax(np.abs(values), initial=0.0) > LOG_THRESHOLD)
        if heavy:
            values = signed_log(values)
        mean = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
        std = float(np.nanstd(values)) if np.isfinite(values).any() else 1.0
        dense[column] = DenseStats.fitted(mean, std, heavy)
    vocab = {}
    for column in (c for c in table.sparse if c not in table.hashed):
        counts = train[column].astype("string").value_counts(dropna=True)
        vocab[column] = [str(v) for v in counts[counts >= min_count].index]
    lists, list_vocab = [], {}
    for raw in table.lists:
        for name, shared in raw.shares.items():
            if shared not in vocab:
                raise UnirankError(f"{table.source}: list field {raw.name}.{name} shares {shared!r}, which is not a "
                                   "categorical (non-hashed) column of this data")
        valid = real_slots(raw.lengths[train_rows], raw.max_len)
        for name, values in raw.fields.items():
            if name not in raw.shares:
                counts = pd.Series(values[train_rows][valid]).value_counts()
                list_vocab[name] = [str(v) for v in counts[counts >= min_count].index]
        lists.append(ListState(name=raw.name, kind=raw.kind, max_len=raw.max_len, fields=list(raw.fields),
                               shares=dict(raw.shares)))
    domains = sorted(str(v) for v in table.frame[table.domain].astype("string").dropna().unique())
    if len(domains) < 1:
        raise UnirankError(f"{table.source}: domain column {table.domain!r} has no values")
    return PreprocessState(dense=dense, vocab=vocab, hashed=dict(table.hashed), domain=table.domain, domains=domains,
                           objectives=list(table.objectives), lists=lists, list_vocab=list_vocab)


def transform(table: RawTable, rows: np.ndarray, state: PreprocessState) -> TensorSplit:
    """Rows of the table → tensors: dense [N, D] float32, sparse [N, S] int64 (0 = OOV),
    domain [N] int64, labels [N, T] float32 with mask [N, T] bool (False = label missing), and
    with list features ``lists`` [N, L] int64 (layout in ``unirank.data.features``)."""
    part = table.frame.iloc[rows]
    n = len(part)
    dense = np.zeros((n, len(state.dense)), dtype=np.float32)
    for j, (column, stats) in enumerate(state.dense.items()):
        values = part[column].to_numpy(dtype=np.float64)
        if stats.signed_log:
            values = signed_log(values)
        values = (values - stats.mean) / stats.std
        dense[:, j] = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    sparse = np.zeros((n, len(state.vocab) + len(state.hashed)), dtype=np.int64)
    for j, (column, values) in enumerate(state.vocab.items()):
        codes = pd.Categorical(part[column].astype("string"), categories=values).codes
        sparse[:, j] = codes.astype(np.int64) + 1  # -1 (unknown/missing) becomes the OOV id 0
    for j, (column, size) in enumerate(state.hashed.items(), start=len(state.vocab)):
        ids = part[column].to_numpy(dtype=np.int64)
        sparse[:, j] = np.where((ids >= 0) & (ids < size), ids + 1, 0)
    domain_codes = pd.Categorical(part[state.domain].astype("string"), categories=state.domains).codes
    labels = part[state.objectives].to_numpy(dtype=np.float32)
    mask = ~np.isnan(labels)
    keep = domain_codes >= 0  # rows without a known domain cannot be routed to a portfolio head
    lists = _list_columns(table, rows, state)
    return TensorSplit(
        dense=torch.from_numpy(dense[keep]),
        sparse=torch.from_numpy(sparse[keep]),
        domain=torch.from_numpy(domain_codes[keep].astype(np.int64)),
        labels=torch.from_numpy(np.nan_to_num(labels[keep], nan=0.0)),
        mask=torch.from_numpy(mask[keep]),
        lists=torch.from_numpy(lists[keep]) if lists is not None else None,
    )


def _list_columns(table: RawTable, rows: np.ndarray, state: PreprocessState) -> np.ndarray | None:
    """The ``lists`` columns [n, L] int64 of ``rows``: per list its length, then per field the ids
    (0 = OOV, and before the first event)."""
    if not state.lists:
        return None
    raws = {raw.name: raw for raw in table.lists}
    parts = []
    for spec in state.lists:
        raw = raws.get(spec.name)
        if raw is None or list(raw.fields) != spec.fields or raw.max_len != spec.max_len:
            raise UnirankError(f"{table.source}: list feature {spec.name!r} is not read as the fitted state expects "
                               f"(fields {spec.fields}, max_len {spec.max_len})")
        lengths = raw.lengths[rows]
        parts.append(lengths[:, None])
        valid = real_slots(lengths, spec.max_len)
        for name in spec.fields:
            values = raw.fields[name][rows]
            codes = pd.Categorical(values.ravel(), categories=state.field_vocab(spec, name)).codes
            ids = (codes.astype(np.int64) + 1).reshape(values.shape)
            parts.append(np.where(valid, ids, 0))
    return np.concatenate(parts, axis=1)

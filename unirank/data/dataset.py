"""Dataset: read → split (seeded) → fit preprocessing on train → tensors, cached on disk.

The users' tables (csv/parquet) are prepared in one streaming pass (``unirank.data.streaming``);
the built-in sources through a RawTable in memory. The cache holds every split's tensors as column
files (``{split}.{tensor}.npy``, memory-mapped read-only by every trial on a node) and the fitted
state (``preprocess.json``); its key is a hash of the data config and the source files' sizes and
modification times, so a changed config or file never reuses stale tensors.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from unirank.config import (CensusDataConfig, CsvDataConfig, DataConfig, MovieLensDataConfig,
                            SyntheticDataConfig)
from unirank.data.column_files import SPLITS, ColumnSink, FileSink, read_splits, write_splits
from unirank.data.features import FeatureSpec
from unirank.data.preprocess import PreprocessState, fit_preprocessing, transform
from unirank.data.table import RawTable
from unirank.errors import UnirankError

_CACHE_VERSION = 2  # 2: column files (was one tensors.pt)


@dataclass
class Dataset:
    features: FeatureSpec
    state: PreprocessState
    splits: dict[str, TensorSplit]

    @property
    def train(self) -> TensorSplit:
        return self.splits["train"]

    @property
    def val(self) -> TensorSplit:
        return self.splits["val"]

    @property
    def test(self) -> TensorSplit:
        return self.splits["test"]


def read_raw(cfg: DataConfig) -> RawTable:
    if isinstance(cfg, SyntheticDataConfig):
        from unirank.data.synthetic import generate_synthetic
        return generate_synthetic(cfg)
    if isinstance(cfg, CensusDataConfig):
        from unirank.data.census import read_census
        return read_census(cfg)
    if isinstance(cfg, MovieLensDataConfig):
        from unirank.data.movielens import read_movielens
        return read_movielens(cfg)
    raise UnirankError(f"data.source: unsupported {cfg!r}")


def split_rows(num_rows: int, cfg: DataConfig, times=None, given=None) -> dict[str, np.ndarray]:
    """Row indices of train/val/test: as ``given`` by the source (a split column, one path per
    split), a seeded permutation, or by time (earliest rows train, latest test; ties keep file
    order; with ``split.cuts``: by dates or fractions of the rows in time order; with
    ``split.gap_fraction``: that share of the rows, the latest before validation, left out)."""
    if given is not None:
        labels = np.asarray(given.astype(object).fillna(""))
        return {name: np.flatnonzero(labels == name) for name in SPLITS}
    if cfg.split.by == "time":
        rows = _time_split(num_rows, cfg, times)
        n_gap = int(round(num_rows * cfg.split.gap_fraction))
        if n_gap:
            if n_gap >= len(rows["train"]):
                raise UnirankError(f"data.split.gap_fraction: {cfg.split.gap_fraction} leaves out {n_gap} rows, "
                                   f"but only {len(rows['train'])} come before validation; expected a smaller gap")
            train = rows["train"]  # the latest n_gap by time (ties: the later in file order) left out
            rows["train"] = np.delete(train, np.argsort(np.asarray(times)[train], kind="stable")[-n_gap:])
        return rows
    order = np.random.default_rng(cfg.split.seed).permutation(num_rows)
    n_val = int(round(num_rows * cfg.split.val_fraction))
    n_test = int(round(num_rows * cfg.split.test_fraction))
    return {"val": order[:n_val], "test": order[n_val:n_val + n_test],
            "train": order[n_val + n_test:]}


def _time_split(num_rows: int, cfg: DataConfig, times) -> dict[str, np.ndarray]:
    """Train/val/test row indices of a time split (by fractions or by ``cuts``), gap not yet taken."""
    if times is None:
        raise UnirankError(f"data.split.by: time needs a time column; data.source {cfg.source} has none "
                           "(csv/parquet: name it in data.split.time_column)")
    cuts = cfg.split.cuts
    if cuts is not None and not isinstance(cuts[0], float):
        stamps = np.asarray(times)
        if not np.issubdtype(stamps.dtype, np.datetime64):
            raise UnirankError("data.split.cuts: dates given, but the time column holds numbers; "
                               "give fractions (e.g. [0.7, 0.85]) or a date column")
        val_from, test_from = (np.datetime64(c) for c in cuts)
        rows = {"train": np.flatnonzero(stamps < val_from),
                "val": np.flatnonzero((stamps >= val_from) & (stamps < test_from)),
                "test": np.flatnonzero(stamps >= test_from)}
        for name, cut in (("train", "val_from"), ("val", "test_from"), ("test", "test_from")):
            if len(rows[name]) == 0:
                raise UnirankError(f"data.split.cuts: the {name} split is empty: the times run from "
                                   f"{stamps.min()} to {stamps.max()}; move {cut} inside them")
        return rows
    order = np.argsort(np.asarray(times), kind="stable")[::-1]  # latest first: val/test cut below
    if cuts is not None:
        n_test, n_val = int(round(num_rows * (1 - cuts[1]))), int(round(num_rows * (cuts[1] - cuts[0])))
    else:
        n_val = int(round(num_rows * cfg.split.val_fraction))
        n_test = int(round(num_rows * cfg.split.test_fraction))
    return {"test": order[:n_test][::-1].copy(), "val": order[n_test:n_test + n_val][::-1].copy(),
            "train": order[n_test + n_val:][::-1].copy()}


def build_dataset(cfg: DataConfig, state: PreprocessState | None = None) -> Dataset:
    """Read and tensorise. With ``state`` (e.g. from an export bundle) nothing is refitted."""
    if state is not None and state.teacher_features is not None:
        raise UnirankError(f"the model reads its teacher's representation ({state.teacher_features.teacher}) "
                           "besides the data's columns: pass its teacher (unirank train --teacher BUNDLE)")
    if isinstance(cfg, CsvDataConfig):
        from unirank.data.streaming import prepare_table

        sink = ColumnSink()
        state = prepare_table(cfg, sink, state)
        return Dataset(features=state.feature_spec(), state=state, splits=sink.splits())
    table = read_raw(cfg)
    rows = split_rows(len(table.frame), cfg, table.times, table.split)
    for name in ("train", "val"):
        if len(rows[name]) == 0:
            raise UnirankError(f"{table.source}: the {name} split has no rows ({len(table.frame)} rows in all); "
                               "check data.split")
    if state is None:
        state = fit_preprocessing(table, rows["train"], cfg.min_count)
    splits = {name: transform(table, rows[name], state) for name in SPLITS}
    check_splits(table.source, state, np.stack([np.bincount(splits[name].domain.numpy(), minlength=len(state.domains))
                                                for name in SPLITS]))
    return Dataset(features=state.feature_spec(), state=state, splits=splits)


def check_splits(source: str, state: PreprocessState, rows: np.ndarray) -> None:
    """``rows`` [3, D]: each split's rows per domain. Train and val need rows, and every domain rows
    in both (its heads learn and stop early on them)."""
    for k, name in ((0, "train"), (1, "val")):
        if rows[k].sum() == 0:
            raise UnirankError(f"{source}: the {name} split has no rows ({int(rows.sum())} rows in all); "
                               "check data.split")
        missing = [d for d, n in zip(state.domains, rows[k]) if n == 0]
        if missing:
            raise UnirankError(f"{source}: domain {missing[0]!r} of column {state.domain!r} has no rows in the "
                               f"{name} split; merge it or choose another domain column")


def cache_key(cfg: DataConfig) -> str:
    # fields left at their defaults are not part of the key: adding a config field (with a default)
    # in a later version does not orphan the caches of existing studies
    payload = {"version": _CACHE_VERSION, "config": cfg.model_dump(mode="json", exclude_defaults=True)}
    if isinstance(cfg, CsvDataConfig):  # every file read: a changed or added file is a new key
        from unirank.data.tabular import resolve_files
        files = [f for part, spec in cfg.paths().items() for f in resolve_files(spec, part)]
        payload["files"] = [[str(f.resolve()), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
    elif getattr(cfg, "path", None) is not None and Path(cfg.path).is_file():
        stat = Path(cfg.path).stat()
        payload["file"] = [str(Path(cfg.path).resolve()), stat.st_size, stat.st_mtime_ns]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def prepare_dataset(cfg: DataConfig, cache_root: Path) -> Path:
    """Build (or reuse) the cached dataset for ``cfg``; returns the cache folder."""
    folder = Path(cache_root) / cache_key(cfg)
    if (folder / "preprocess.json").is_file():
        return folder
    # Prepared into a folder of this process and renamed at the end, so a crash never leaves a
    # half-written cache behind and two processes preparing the same data never share a file.
    staging = Path(cache_root) / f".{folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if isinstance(cfg, CsvDataConfig):
            from unirank.data.streaming import prepare_table

            state = prepare_table(cfg, FileSink(staging))
        else:
            dataset = build_dataset(cfg)
            write_splits(staging, dataset.splits)
            state = dataset.state
        (staging / "data_config.json").write_text(cfg.model_dump_json())
        (staging / "preprocess.json").write_text(state.model_dump_json())
        try:
            os.rename(staging, folder)
        except OSError:  # another process finished first (or a stale unfinished folder is in the way)
            if not (folder / "preprocess.json").is_file():
                shutil.rmtree(folder, ignore_errors=True)
                os.rename(staging, folder)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def load_prepared(folder: Path) -> Dataset:
    folder = Path(folder)
    state = PreprocessState.model_validate_json((folder / "preprocess.json").read_text())
    # memory-mapped: concurrent trials on a node share the files' pages instead of each holding a copy
    return Dataset(features=state.feature_spec(), state=state, splits=read_splits(folder))

"""Generic CSV/Parquet reader: the study config names the dense, sparse, domain and label columns."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from unirank.config import CsvDataConfig
from unirank.data.table import RawTable
from unirank.errors import UnirankError


def read_table(cfg: CsvDataConfig) -> RawTable:
    path = Path(cfg.path)
    if not path.is_file():
        raise UnirankError(f"data.path: file not found: {path}")
    try:
        if path.suffix in (".parquet", ".pq"):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, sep=cfg.delimiter, low_memory=False)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:
        raise UnirankError(f"{path}: cannot parse ({str(err).splitlines()[0]})") from None
    if frame.empty:
        raise UnirankError(f"{path}: no data rows")
    for role, columns in (("dense", cfg.dense), ("sparse", cfg.sparse), ("domain", [cfg.domain]),
                          ("objectives", cfg.objectives)):
        for column in columns:
            if column not in frame.columns:
                shown = ", ".join(map(str, list(frame.columns)[:12]))
                raise UnirankError(
                    f"{path}: column {column!r} declared in data.{role} is missing (file has: {shown})"
                )
    for column in cfg.dense:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna() & frame[column].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise UnirankError(
                f"{path}: data.dense column {column!r} row {row + 2} is not numeric "
                f"(got '{frame[column].iloc[row]}')"
            )
        frame[column] = values.astype("float32")
    for column in cfg.objectives:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = ~values.isin([0, 1]) & frame[column].notna()
        if bad.any():
            row = int(np.argmax(bad.to_numpy()))
            raise UnirankError(
                f"{path}: label column {column!r} row {row + 2}: got '{frame[column].iloc[row]}', "
                "expected 0, 1 or empty (missing)"
            )
        frame[column] = values.astype("float32")
    for column in [*cfg.sparse, cfg.domain]:
        frame[column] = frame[column].astype("string")
    sparse = list(cfg.sparse) if cfg.domain in cfg.sparse else [cfg.domain, *cfg.sparse]
    return RawTable(frame=frame, dense=list(cfg.dense), sparse=sparse, domain=cfg.domain,
                    objectives=list(cfg.objectives), source=f"csv:{path}")

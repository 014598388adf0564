"""RawTable: the rows as a reader returns them, before preprocessing."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass
class RawList:
    """One list feature as a reader returns it: per row its length (≤ ``max_len``, already cut to
    the most recent events) and per field a [rows, max_len] array of raw values as strings,
    right-aligned in time order ("" before the first event, the most recent one last).
    ``shares``: field → the sparse column whose vocabulary it uses."""

    name: str
    kind: str  # "multi_hot" | "sequence"
    max_len: int
    lengths: np.ndarray            # [rows] int64
    fields: dict[str, np.ndarray]  # field name → [rows, max_len] str
    shares: dict[str, str] = field(default_factory=dict)


def real_slots(lengths: np.ndarray, max_len: int) -> np.ndarray:
    """Lengths [rows] → [rows, max_len] bool, True where a right-aligned list holds an event."""
    return np.arange(max_len) >= max_len - np.asarray(lengths)[:, None]


def last_events(counts: np.ndarray, max_len: int) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Rows holding ``counts`` [rows] values each, flat, row after row → each row's last ``max_len``
    (the most recent), right-aligned in a [rows, max_len] grid: (kept lengths [rows] int64, the
    grid cells (row, column) of the kept values, their indices in the flat values)."""
    counts = np.asarray(counts, dtype=np.int64)
    kept = np.minimum(counts, max_len)
    slots = np.arange(int(kept.sum())) - np.repeat(np.cumsum(kept) - kept, kept)  # 0..kept-1 per row
    cells = (np.repeat(np.arange(len(kept)), kept), max_len - np.repeat(kept, kept) + slots)
    return kept, cells, np.repeat(np.cumsum(counts) - kept, kept) + slots


def pad_lists(values: np.ndarray, offsets: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat values [V] with row ``offsets`` [rows + 1] → (lengths [rows], [rows, max_len] str),
    keeping each row's last ``max_len`` values (the most recent), right-aligned, "" before."""
    lengths, cells, sources = last_events(np.diff(offsets), max_len)
    out = np.full((len(lengths), max_len), "", dtype=object)
    out[cells] = values[offsets[0] + sources].astype(str).astype(object)
    return lengths, out


@dataclass
class RawTable:
    """A DataFrame and the roles of its columns.

    ``frame[objective]`` holds 0/1 labels or NaN where the label is missing (masked, not dropped).
    """

    frame: pd.DataFrame
    dense: list[str]
    sparse: list[str]
    domain: str
    objectives: list[str]
    source: str
    # Sparse columns that already hold integer ids in [0, size): used as ids directly (no
    # vocabulary to fit or store), e.g. hashed Criteo features.
    hashed: dict[str, int] = field(default_factory=dict)
    # Row timestamps for time-based splits (``split.by: time``); None when the source has none.
    times: "pd.Series | None" = None
    # Each row's split ("train"/"val"/"test", missing = in none) when the source decides it (a split
    # column, or one path per split); None: ``dataset.split_rows`` decides.
    split: "pd.Series | None" = None
    # Multi-hot and sequence features (``RawList``), rows aligned with ``frame``.
    lists: list[RawList] = field(default_factory=list)

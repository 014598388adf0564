"""RawTable: the rows as a reader returns them, before preprocessing."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


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

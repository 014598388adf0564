"""RawTable: the rows as a reader returns them, before preprocessing."""
from __future__ import annotations

from dataclasses import dataclass

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

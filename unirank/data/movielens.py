"""MovieLens-100K reader (the RecBole atomic files ``ml-100k.inter/.user/.item``).

One row per rating, joined with its user and movie:
- sparse: ``user_id``, ``item_id``, ``gender``, ``occupation``, ``zip3`` (first 3 zip digits),
  ``first_genre``, ``release_decade``, ``weekday``;
- dense: ``age``, ``release_year``, ``genre_count``;
- objectives: ``like`` = rating ≥ 4, ``love`` = rating = 5;
- domain (``data.domain``): ``age_band`` (<25, 25-34, 35-44, 45+), ``gender`` or ``genre``
  (the movie's first genre);
- ``times`` = the rating timestamp (``split.by: time``, the default: train on the past, validate
  and test on the latest ratings);
- with ``history_length`` L > 0, the sequence ``history``: the user's last L ratings strictly before
  this one's timestamp (ratings at the same second are not history), each event the movie
  (``history_item``, sharing ``item_id``'s ids), its first genre (``history_genre``, sharing
  ``first_genre``'s) and the rating given (``history_rating``); with ``genres``, the multi-hot
  ``genres`` (every genre of the movie).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from unirank.config import MovieLensDataConfig
from unirank.data.table import RawList, RawTable, pad_lists, real_slots
from unirank.errors import UnirankError

FILES = {"inter": "ml-100k.inter", "user": "ml-100k.user", "item": "ml-100k.item"}
SPARSE = ["user_id", "item_id", "gender", "occupation", "zip3", "first_genre", "release_decade", "weekday"]
DENSE = ["age", "release_year", "genre_count"]


def _read(folder: Path, kind: str, needed: list[str]) -> pd.DataFrame:
    path = folder / FILES[kind]
    if not path.is_file():
        raise UnirankError(f"data.path: {path} not found (expected the MovieLens-100K atomic files "
                           f"{', '.join(FILES.values())} in {folder})")
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise UnirankError(f"{path}: cannot parse ({str(err).splitlines()[0]})") from None
    frame.columns = [c.split(":", 1)[0] for c in frame.columns]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise UnirankError(f"{path}: missing column {missing[0]!r} (header: {', '.join(frame.columns)})")
    return frame


def _age_band(age: pd.Series) -> pd.Series:
    return pd.cut(age, bins=[-1, 24, 34, 44, 200], labels=["<25", "25-34", "35-44", "45+"]).astype(str)


def read_movielens(cfg: MovieLensDataConfig) -> RawTable:
    folder = Path(cfg.path)
    if not folder.is_dir():
        raise UnirankError(f"data.path: folder not found: {folder}")
    inter = _read(folder, "inter", ["user_id", "item_id", "rating", "timestamp"])
    users = _read(folder, "user", ["user_id", "age", "gender", "occupation", "zip_code"])
    items = _read(folder, "item", ["item_id", "release_year", "class"])
    frame = inter.merge(users, on="user_id", how="left").merge(items, on="item_id", how="left")
    rating = pd.to_numeric(frame["rating"], errors="coerce")
    if rating.isna().any():
        row = int(rating.isna().to_numpy().argmax())
        raise UnirankError(f"{folder / FILES['inter']}: rating on row {row + 2} is not a number")
    timestamp = pd.to_numeric(frame["timestamp"], errors="coerce")
    frame["like"] = (rating >= 4).astype("float32")
    frame["love"] = (rating >= 5).astype("float32")
    frame["age"] = pd.to_numeric(frame["age"], errors="coerce").astype("float32")
    frame["release_year"] = pd.to_numeric(frame["release_year"], errors="coerce").astype("float32")
    genres = frame["class"].fillna("").str.split()
    frame["genre_count"] = genres.str.len().astype("float32")
    frame["first_genre"] = genres.str[0].fillna("unknown")
    frame["genre"] = frame["first_genre"]
    frame["zip3"] = frame["zip_code"].fillna("").str[:3]
    frame["release_decade"] = (frame["release_year"] // 10 * 10).astype("Int64").astype(str)
    frame["weekday"] = pd.to_datetime(timestamp, unit="s").dt.day_name().fillna("unknown")
    frame["age_band"] = _age_band(frame["age"])
    for column in [*SPARSE, cfg.domain]:
        frame[column] = frame[column].astype("string")
    sparse = SPARSE if cfg.domain in SPARSE else [cfg.domain, *SPARSE]
    lists = []
    if cfg.history_length:
        lists.append(_history(frame, timestamp.to_numpy(), rating.astype(int).astype(str).to_numpy(), cfg.history_length))
    if cfg.genres:
        counts = genres.str.len().to_numpy()
        offsets = np.concatenate([[0], np.cumsum(counts)])
        lengths, padded = pad_lists(np.concatenate(genres.to_numpy()).astype(str) if counts.sum() else
                                    np.array([], dtype=str), offsets, max(1, int(counts.max())))
        lists.append(RawList(name="genres", kind="multi_hot", max_len=padded.shape[1], lengths=lengths,
                             fields={"genre_bag": padded}))
    return RawTable(frame=frame, dense=list(DENSE), sparse=sparse, domain=cfg.domain,
                    objectives=["like", "love"], source=f"movielens:{folder}", times=timestamp, lists=lists)


def _history(frame: pd.DataFrame, times: np.ndarray, ratings: np.ndarray, length: int) -> RawList:
    """Each row's user's last ``length`` ratings strictly before its time, right-aligned."""
    order = np.lexsort((np.arange(len(frame)), times, frame["user_id"].to_numpy()))
    user, t = frame["user_id"].to_numpy()[order], times[order]
    position = np.arange(len(order))
    new_user = np.r_[True, user[1:] != user[:-1]]
    new_time = new_user | np.r_[True, t[1:] != t[:-1]]
    user_start = np.maximum.accumulate(np.where(new_user, position, 0))
    end = np.maximum.accumulate(np.where(new_time, position, 0))  # first rating at this second: exclusive
    lengths = np.minimum(end - user_start, length)
    index = end[:, None] - length + np.arange(length)              # [n, L] event positions, right-aligned
    valid = real_slots(lengths, length)
    fields = {}
    for name, column in (("history_item", frame["item_id"]), ("history_genre", frame["first_genre"]),
                         ("history_rating", pd.Series(ratings))):
        values = column.astype(str).to_numpy()[order]
        padded = np.where(valid, values[np.clip(index, 0, None)], "").astype(object)
        fields[name] = np.empty_like(padded)
        fields[name][order] = padded
    out_lengths = np.empty_like(lengths)
    out_lengths[order] = lengths
    return RawList(name="history", kind="sequence", max_len=length, lengths=out_lengths.astype(np.int64),
                   fields=fields, shares={"history_item": "item_id", "history_genre": "first_genre"})

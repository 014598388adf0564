"""The users' own tables: CSV or Parquet, one file, a directory, a glob, or one path per split.

Files are read with pyarrow's dataset API, projected to the columns the study names (a directory's
hive-style ``key=value`` folders become columns); a single CSV file is read by pandas, as before.
Checks name the file and row of the first bad value. Labels are 0/1 or the positive values the
config gives; rows get their split from the split column, the file they came from, or later from
``dataset.split_rows`` (random, by time).
"""
from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

from unirank.config import CsvDataConfig
from unirank.data.table import RawTable
from unirank.errors import UnirankError

_SUFFIXES = {"parquet": (".parquet", ".pq"), "csv": (".csv", ".tsv", ".txt", ".gz")}


def resolve_files(spec: Path | str, role: str) -> list[Path]:
    """A file, a directory (every data file under it) or a glob → sorted files; error when none."""
    text = str(spec)
    if any(c in text for c in "*?["):
        files = sorted(Path(p) for p in glob.glob(text, recursive=True) if Path(p).is_file())
    elif Path(text).is_dir():
        files = sorted(p for p in Path(text).rglob("*") if p.is_file() and not p.name.startswith((".", "_"))
                       and p.suffix in (*_SUFFIXES["parquet"], *_SUFFIXES["csv"]))
    elif Path(text).is_file():
        files = [Path(text)]
    else:
        raise UnirankError(f"data.{role}: file not found: {text}")
    if not files:
        raise UnirankError(f"data.{role}: no data files in {text}")
    return files


def _format(cfg: CsvDataConfig, files: list[Path]) -> str:
    if all(f.suffix in _SUFFIXES["parquet"] for f in files):
        return "parquet"
    if cfg.source == "parquet":
        odd = next(f for f in files if f.suffix not in _SUFFIXES["parquet"])
        raise UnirankError(f"data.source: parquet, but {odd} is not a .parquet file")
    return "csv"


def _read(spec: Path, role: str, cfg: CsvDataConfig, roles: dict[str, str]) -> tuple[pd.DataFrame, list]:
    """The named columns of every file of ``spec`` → (frame, [(file, first row), ...])."""
    files = resolve_files(spec, role)
    fmt, columns = _format(cfg, files), list(roles)
    try:
        if fmt == "csv" and len(files) == 1:
            frame = pd.read_csv(files[0], sep=cfg.delimiter, low_memory=False)
            _check_columns(list(frame.columns), roles, files[0])
            return frame[columns], [(files[0], 0)]
        import pyarrow.csv as pacsv
        import pyarrow.dataset as pads

        import pyarrow as pa

        # CSV columns are read as text (empty = missing) and checked below like pandas' reads:
        # pyarrow's own inference would turn "n/a" into a silent null, or fail on a later file
        file_format = (pads.CsvFileFormat(
            parse_options=pacsv.ParseOptions(delimiter=cfg.delimiter),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                                 null_values=[""], strings_can_be_null=True))
            if fmt == "csv" else "parquet")
        is_dir = Path(str(spec)).is_dir()
        data = pads.dataset(str(spec) if is_dir else [str(f) for f in files], format=file_format,
                            partitioning="hive" if is_dir else None)
        _check_columns(data.schema.names, roles, spec)
        partitioning = getattr(data, "partitioning", None)
        folder_keys = set(partitioning.schema.names) if partitioning is not None else set()
        origins, start = [], 0
        for fragment in data.get_fragments():  # every file must hold the columns (no silent nulls)
            _check_columns([*fragment.physical_schema.names, *folder_keys], roles, fragment.path)
            for column in roles:
                if column in fragment.physical_schema.names:
                    mine, first = fragment.physical_schema.field(column).type, data.schema.field(column).type
                    if mine != first:
                        raise UnirankError(f"{fragment.path}: column {column!r} is {mine}, but the first file "
                                           f"has {first}: every file needs the same column types")
            origins.append((Path(fragment.path), start))
            start += fragment.count_rows()
        frame = data.to_table(columns=columns).to_pandas()
    except UnirankError:
        raise
    except (ValueError, TypeError, OSError, UnicodeDecodeError, pd.errors.ParserError) as err:  # pyarrow's too
        raise UnirankError(f"{spec}: cannot read ({str(err).splitlines()[0]})") from None
    if frame.empty:
        raise UnirankError(f"{spec}: no data rows")
    return frame.reset_index(drop=True), origins


def _check_columns(present: list[str], wanted: dict[str, str], where) -> None:
    for column, role in wanted.items():
        if column not in present:
            shown = ", ".join(map(str, present[:12]))
            raise UnirankError(f"{where}: column {column!r} declared in data.{role} is missing (file has: {shown})")


def _first_flagged(origins: list, mask: np.ndarray) -> tuple[Path, int, int]:
    """The first frame row set in ``mask``: (its file, its row number in that file — CSV: its
    line, the header is 1 —, the frame row)."""
    row = int(np.argmax(mask))
    file, first = next((f, s) for f, s in reversed(origins) if s <= row)
    return file, row - first + (1 if file.suffix in _SUFFIXES["parquet"] else 2), row


def read_table(cfg: CsvDataConfig) -> RawTable:
    labels = cfg.labels()
    domain = cfg.domain
    roles = {**{c: "objectives" for c in labels}, **({domain: "domain"} if domain else {}),
             **{c: "sparse" for c in cfg.sparse}, **{c: "dense" for c in cfg.dense}}
    if cfg.split.by == "column":
        roles[cfg.split.column] = "split.column"
    if cfg.split.by == "time" and cfg.split.time_column:
        roles[cfg.split.time_column] = "split.time_column"
    frames, origins, split = [], [], []
    for part, spec in cfg.paths().items():
        frame, where = _read(spec, "path" if part == "all" else part, cfg, roles)
        offset = sum(len(f) for f in frames)
        origins += [(f, s + offset) for f, s in where]
        frames.append(frame)
        split.append(np.full(len(frame), part, dtype=object))
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]

    for column in cfg.dense:
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = (values.isna() & frame[column].notna()).to_numpy()
        if bad.any():
            file, line, row = _first_flagged(origins, bad)
            raise UnirankError(f"{file}: data.dense column {column!r} row {line} is not numeric "
                               f"(got '{frame[column].iloc[row]}')")
        frame[column] = values.astype("float32")
    for column, positives in labels.items():
        raw = frame[column]
        if positives is None:
            values = pd.to_numeric(raw, errors="coerce")
            bad = (~values.isin([0, 1]) & raw.notna()).to_numpy()
            if bad.any():
                file, line, row = _first_flagged(origins, bad)
                raise UnirankError(f"{file}: label column {column!r} row {line}: got '{raw.iloc[row]}', expected "
                                   f"0, 1 or empty (missing), or name the positive value(s): objectives: {{{column}: VALUE}}")
        else:
            text = raw.astype("string").str.strip()
            values = text.isin(positives).astype("float32").where(raw.notna())
            if not values.eq(1).any():
                shown = ", ".join(map(str, raw.dropna().astype(str).unique()[:8]))
                raise UnirankError(f"data.objectives: no row of {column!r} has a positive value "
                                   f"{list(positives)} (values: {shown})")
        frame[column] = values.astype("float32")
    if domain is None:  # one domain: plain single-domain CTR
        domain = next(n for n in ("domain", "_domain", "__domain__") if n not in frame.columns)
        frame[domain] = "all"
    for column in [*cfg.sparse, domain]:
        frame[column] = frame[column].astype("string")
    sparse = list(cfg.sparse) if domain in cfg.sparse or cfg.domain is None else [domain, *cfg.sparse]
    table = RawTable(frame=frame, dense=list(cfg.dense), sparse=sparse, domain=domain,
                     objectives=list(labels), source=f"{cfg.source}:{cfg.path or cfg.train}")
    if cfg.path is None:
        table.split = pd.Series(np.concatenate(split)).replace({"all": "train"})
    elif cfg.split.by == "column":
        table.split = _split_column(frame[cfg.split.column], cfg, origins)
    if cfg.split.by == "time" and cfg.split.time_column:
        table.times = _times(frame[cfg.split.time_column], cfg.split.time_column, origins)
    return table


def _split_column(values: pd.Series, cfg: CsvDataConfig, origins: list) -> pd.Series:
    """The split column's values → "train"/"val"/"test"; another value is an error."""
    names = {str(v): k for k, v in cfg.split.values.items()}
    text = values.astype("string").str.strip()
    mapped = text.map(names)
    unknown = (mapped.isna() & text.notna()).to_numpy()
    if unknown.any():
        file, line, row = _first_flagged(origins, unknown)
        raise UnirankError(f"{file}: data.split.column {cfg.split.column!r} row {line}: unknown value "
                           f"'{text.iloc[row]}', expected one of {sorted(names)} (data.split.values)")
    for part in ("train", "val"):
        if not (mapped == part).any():
            shown = ", ".join(map(str, text.dropna().unique()[:8]))
            raise UnirankError(f"data.split.values: no row of column {cfg.split.column!r} is "
                               f"{cfg.split.values[part]!r} ({part}); the column holds: {shown}")
    return mapped


def _times(values: pd.Series, column: str, origins: list) -> pd.Series:
    """A time column (numbers, or dates/timestamps as text or datetime) → datetime64 or float."""
    if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values):
        out = values
    else:
        out = pd.to_datetime(values, errors="coerce")
    bad = out.isna().to_numpy()
    if bad.any():
        file, line, row = _first_flagged(origins, bad)
        raise UnirankError(f"{file}: data.split.time_column {column!r} row {line}: got "
                           f"'{values.iloc[row]}', expected a date, timestamp or number")
    return out.reset_index(drop=True)

"""The users' own tables: CSV or Parquet, one file, a directory, a glob, or one path per split.

Files are opened with pyarrow's dataset API and read in record batches by ``unirank.data.streaming``,
projected to the columns the study names (a directory's hive-style ``key=value`` folders become
columns). This module opens and checks the files, decides each row's split before the rows are
read (the split column, the file a row came from, or ``dataset.split_rows``: random, by time), and
locates a bad value's file and row for the one-line errors.
"""
from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pandas as pd

from unirank.config import CsvDataConfig
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


def open_part(spec: Path, role: str, cfg: CsvDataConfig, roles: dict[str, str]):
    """The files of ``spec`` as one pyarrow dataset, checked: every file holds the named columns
    with the first file's types. → (dataset, [(file, its first row), ...], rows). CSV columns are
    read as text (empty = missing) and checked like numbers later: pyarrow's own inference would
    turn "n/a" into a silent null, or fail on a later file. String columns of Parquet files are
    read as the files' own dictionaries (no re-hashing of every value)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.dataset as pads

    files = resolve_files(spec, role)
    fmt, columns = _format(cfg, files), list(roles)
    is_dir = Path(str(spec)).is_dir()
    source = str(spec) if is_dir else [str(f) for f in files]
    try:
        if fmt == "csv":
            file_format = pads.CsvFileFormat(
                parse_options=pacsv.ParseOptions(delimiter=cfg.delimiter),
                convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in columns},
                                                     null_values=[""], strings_can_be_null=True))
        else:
            import pyarrow.parquet as pq

            schema = pq.read_schema(files[0])  # the first file's, as the dataset's (folder keys are not files' columns)
            text = [c for c in columns if c in schema.names
                    and (pa.types.is_string(schema.field(c).type) or pa.types.is_large_string(schema.field(c).type))]
            file_format = pads.ParquetFileFormat(read_options=pads.ParquetReadOptions(dictionary_columns=text))
        data = pads.dataset(source, format=file_format, partitioning="hive" if is_dir else None)
        _check_columns(data.schema.names, roles, spec)
        partitioning = getattr(data, "partitioning", None)
        folder_keys = set(partitioning.schema.names) if partitioning is not None else set()
        origins, start = [], 0
        for fragment in data.get_fragments():  # every file must hold the columns (no silent nulls)
            physical = fragment.physical_schema
            _check_columns([*physical.names, *folder_keys], roles, fragment.path)
            for column in roles:
                if column in physical.names:
                    mine, first = _plain(physical.field(column).type), _plain(data.schema.field(column).type)
                    if mine != first:
                        raise UnirankError(f"{fragment.path}: column {column!r} is {mine}, but the first file "
                                           f"has {first}: every file needs the same column types")
            origins.append((Path(fragment.path), start))
            start += fragment.count_rows()
    except UnirankError:
        raise
    except (ValueError, TypeError, OSError, UnicodeDecodeError) as err:  # pyarrow's too
        raise UnirankError(f"{spec}: cannot read ({str(err).splitlines()[0]})") from None
    if start == 0:
        raise UnirankError(f"{spec}: no data rows")
    return data, origins, start


def _plain(kind):
    """A column type without its dictionary encoding (a file may store a column either way)."""
    import pyarrow as pa

    return kind.value_type if pa.types.is_dictionary(kind) else kind


def column_roles(cfg: CsvDataConfig) -> dict[str, str]:
    """Every column the study reads → its config field (for the messages)."""
    roles = {**{c: "objectives" for c in cfg.labels()}, **({cfg.domain: "domain"} if cfg.domain else {}),
             **{c: "sparse" for c in cfg.sparse}, **{c: "dense" for c in cfg.dense},
             **{m.column: f"multi_hot.{n}" for n, m in cfg.multi_hot.items()},
             **{f.column: f"sequences.{n}.fields.{k}" for n, q in cfg.sequences.items() for k, f in q.fields.items()}}
    if cfg.split.by == "column":
        roles[cfg.split.column] = "split.column"
    if cfg.split.by == "time" and cfg.split.time_column:
        roles[cfg.split.time_column] = "split.time_column"
    return roles


def split_codes(cfg: CsvDataConfig, parts: list[tuple[str, object, list, int]]) -> np.ndarray:
    """Each row's split before any row is read: [rows] int8, 0 train, 1 val, 2 test, -1 none.
    ``parts``: (split name or "all", dataset, origins, rows) per configured path."""
    from unirank.data.dataset import SPLITS, split_rows

    rows = sum(n for *_, n in parts)
    if cfg.path is None:  # one path per split
        return np.concatenate([np.full(n, SPLITS.index(name), dtype=np.int8) for name, _, _, n in parts])
    _, data, origins, _ = parts[0]
    if cfg.split.by == "column":
        given = _split_column(_column(data, cfg.split.column), cfg, origins)
        codes = np.full(rows, -1, dtype=np.int8)
        for k, name in enumerate(SPLITS):
            codes[(given == name).to_numpy(dtype=bool, na_value=False)] = k
        return codes
    times = None
    if cfg.split.by == "time" and cfg.split.time_column:
        column = cfg.split.time_column
        times = _times(_column(data, column), column, origins)
    codes = np.full(rows, -1, dtype=np.int8)
    given = split_rows(rows, cfg, times)
    for k, name in enumerate(SPLITS):
        codes[given[name]] = k
    return codes


def _column(data, name: str) -> pd.Series:
    """One column of every row of a part (split and time columns), dictionaries decoded."""
    import pyarrow as pa

    column = data.to_table(columns=[name]).column(0)
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.to_pandas()


def locate(origins: list, row: int) -> tuple[Path, int]:
    """Row ``row`` of a part → (its file, its row number in that file: CSV its line, the header
    is 1; Parquet counting from 1)."""
    file, first = next((f, s) for f, s in reversed(origins) if s <= row)
    return file, row - first + (1 if file.suffix in _SUFFIXES["parquet"] else 2)


def _check_columns(present: list[str], wanted: dict[str, str], where) -> None:
    for column, role in wanted.items():
        if column not in present:
            shown = ", ".join(map(str, present[:12]))
            raise UnirankError(f"{where}: column {column!r} declared in data.{role} is missing (file has: {shown})")


def _first_flagged(origins: list, mask: np.ndarray) -> tuple[Path, int, int]:
    """The first frame row set in ``mask``: (its file, its row number in that file — CSV: its
    line, the header is 1 —, the frame row)."""
    row = int(np.argmax(mask))
    return (*locate(origins, row), row)


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

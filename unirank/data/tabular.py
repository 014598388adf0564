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
from unirank.data.table import RawList, RawTable, pad_lists
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
            lists = {c: str for c, r in roles.items() if r.startswith(("multi_hot", "sequences"))}
            frame = pd.read_csv(files[0], sep=cfg.delimiter, low_memory=False, dtype=lists)
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
             **{c: "sparse" for c in cfg.sparse}, **{c: "dense" for c in cfg.dense},
             **{m.column: f"multi_hot.{n}" for n, m in cfg.multi_hot.items()},
             **{f.column: f"sequences.{n}.fields.{k}" for n, q in cfg.sequences.items() for k, f in q.fields.items()}}
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
    table.lists = _lists(frame, cfg, origins)
    return table


def _lists(frame: pd.DataFrame, cfg: CsvDataConfig, origins: list) -> list[RawList]:
    """The ``multi_hot`` and ``sequences`` columns → RawLists (the last ``max_len`` ids kept)."""
    lists = []
    for name, bag in cfg.multi_hot.items():
        values, offsets = _list_cells(frame[bag.column], bag.sep, f"multi_hot.{name}", origins)
        _not_all_empty(values, bag.column, f"multi_hot.{name}", bag.sep, origins)
        lengths, padded = pad_lists(values, offsets, bag.max_len)
        lists.append(RawList(name=name, kind="multi_hot", max_len=bag.max_len, lengths=lengths,
                             fields={name: padded}, shares={name: bag.shares} if bag.shares else {}))
    for name, seq in cfg.sequences.items():
        fields, lengths, first_offsets = {}, None, None
        for key, field in seq.fields.items():
            values, offsets = _list_cells(frame[field.column], seq.sep, f"sequences.{name}.fields.{key}", origins)
            _not_all_empty(values, field.column, f"sequences.{name}.fields.{key}", seq.sep, origins)
            if first_offsets is not None and not np.array_equal(np.diff(offsets), np.diff(first_offsets)):
                file, line, _ = _first_flagged(origins, np.diff(offsets) != np.diff(first_offsets))
                raise UnirankError(f"{file}: data.sequences.{name}: row {line} has a different number of events in "
                                   f"{field.column!r} than in {next(iter(seq.fields.values())).column!r}; every field "
                                   "of a sequence needs one value per event")
            first_offsets = offsets if first_offsets is None else first_offsets
            lengths, fields[key] = pad_lists(values, offsets, seq.max_len)
        lists.append(RawList(name=name, kind="sequence", max_len=seq.max_len, lengths=lengths, fields=fields,
                             shares={k: f.shares for k, f in seq.fields.items() if f.shares}))
    return lists


def _not_all_empty(values: np.ndarray, column: str, role: str, sep: str, origins: list) -> None:
    """One empty history is a user's first event; a column with no event in any row is a mistake
    (the wrong column, or ids read as missing) and an error."""
    if len(values) == 0:
        files = ", ".join(str(f) for f, _ in origins[:2]) + (" …" if len(origins) > 2 else "")
        raise UnirankError(f"{files}: data.{role} column {column!r} is empty in every row (expected a list or ids "
                           f"separated by {sep!r} in at least one row)")


def _list_cells(cells: pd.Series, sep: str, role: str, origins: list) -> tuple[np.ndarray, np.ndarray]:
    """A list column (Parquet lists, or ``sep``-separated strings) → (its ids as strings [V], row
    offsets [rows + 1]). Missing or empty cells are empty lists; anything else is an error naming
    the file and row."""
    items: list[str] = []
    lengths = np.zeros(len(cells), dtype=np.int64)
    for row, cell in enumerate(cells.to_numpy()):
        if cell is None or cell is pd.NA or (isinstance(cell, float) and np.isnan(cell)):
            values = []
        elif isinstance(cell, str):
            values = [v.strip() for v in cell.split(sep)] if cell.strip() else []
        elif isinstance(cell, (list, tuple, np.ndarray)):
            values = [_id_text(v, role, origins, row) for v in cell]
        else:
            file, line, _ = _first_flagged(origins, np.arange(len(cells)) == row)
            raise UnirankError(f"{file}: data.{role} column {cells.name!r} row {line}: got '{cell}', expected a "
                               f"list (a Parquet list column) or ids separated by {sep!r}")
        lengths[row] = len(values)
        items += values
    return np.asarray(items, dtype=object), np.concatenate([[0], np.cumsum(lengths)])


def _id_text(value, role: str, origins: list, row: int) -> str:
    """One id of a Parquet list → its text (integers and strings; 3.0 is 3); others are errors."""
    if isinstance(value, (str, np.str_)):
        return str(value)
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return str(int(value))
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    file, line, _ = _first_flagged(origins, np.arange(row + 1) == row)
    raise UnirankError(f"{file}: data.{role} row {line}: id '{value}' is not an integer or a string")


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

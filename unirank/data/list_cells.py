"""List columns of one record batch (multi-hot bags, sequence fields) → right-aligned id codes.

A cell is a Parquet list (of strings or integers) or a ``sep``-separated string; missing or empty
cells are empty lists. Each row keeps its last ``max_len`` values (the most recent events),
right-aligned: codes [n, max_len] int32 into the batch's distinct values, -1 before the first event.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unirank.config import CsvDataConfig
from unirank.data.encode import Where, as_text
from unirank.data.table import last_events
from unirank.errors import UnirankError


@dataclass
class ListPlan:
    """One list feature to read: ``fields`` internal key → field name, ``columns`` key → column,
    ``shares`` field name → the sparse column whose vocabulary it uses."""

    name: str
    kind: str  # "multi_hot" | "sequence"
    max_len: int
    sep: str
    fields: dict[str, str]
    columns: dict[str, str]
    roles: dict[str, str]
    shares: dict[str, str]

    @property
    def first_key(self) -> str:
        return next(iter(self.fields))

    def keyed_columns(self):
        return [(key, self.columns[key], self.roles[key]) for key in self.fields]


def list_plans(cfg: CsvDataConfig) -> list[ListPlan]:
    plans = []
    for name, bag in cfg.multi_hot.items():
        key = f"list:{name}"
        plans.append(ListPlan(name=name, kind="multi_hot", max_len=bag.max_len, sep=bag.sep, fields={key: name},
                              columns={key: bag.column}, roles={key: f"multi_hot.{name}"},
                              shares={name: bag.shares} if bag.shares else {}))
    for name, seq in cfg.sequences.items():
        keys = {f"list:{name}.{k}": k for k in seq.fields}
        plans.append(ListPlan(name=name, kind="sequence", max_len=seq.max_len, sep=seq.sep, fields=keys,
                              columns={key: seq.fields[k].column for key, k in keys.items()},
                              roles={key: f"sequences.{name}.fields.{k}" for key, k in keys.items()},
                              shares={k: f.shares for k, f in seq.fields.items() if f.shares}))
    return plans


def encode_list_field(plan: ListPlan, record, codes: dict, values: dict, where: Where) -> np.ndarray:
    """Every field of ``plan`` in ``record`` → ``codes[key]`` [n, max_len] int32 and ``values[key]``;
    returns the kept lengths [n] int64. The fields of a sequence need one value per event."""
    import pyarrow.compute as pc

    first = None
    for key, column, role in plan.keyed_columns():
        flat, lengths = _cells(record.column(column), column, role, plan.sep, where)
        if first is None:
            first = (lengths, column)
        elif not np.array_equal(lengths, first[0]):
            file, line = where(int(np.argmax(lengths != first[0])))
            raise UnirankError(f"{file}: data.sequences.{plan.name}: row {line} has a different number of events "
                               f"in {column!r} than in {first[1]!r}; every field of a sequence needs one value per "
                               "event")
        kept, cells, sources = last_events(lengths, plan.max_len)
        encoded = pc.dictionary_encode(flat.take(sources))
        grid = np.full((len(lengths), plan.max_len), -1, dtype=np.int32)
        grid[cells] = np.asarray(pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False), dtype=np.int32)
        codes[key], values[key] = grid, encoded.dictionary
    return kept


def _cells(array, column: str, role: str, sep: str, where: Where):
    """A list column [n] → (its values, row after row, as pyarrow strings [V]; lengths [n] int64)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        array, kind = array.dictionary_decode(), kind.value_type
    if pa.types.is_null(kind):
        return pa.array([], type=pa.string()), np.zeros(len(array), dtype=np.int64)
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.utf8_trim_whitespace(array.cast(pa.string()))
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)  # "" is an empty history
        array = pc.split_pattern(text, pattern=sep)
        flat = pc.utf8_trim_whitespace(pc.list_flatten(array))
    elif pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        flat = _ids(pc.list_flatten(array), array, role, where)
    else:
        row = int(np.argmax(np.asarray(pc.is_valid(array))))
        file, line = where(row)
        raise UnirankError(f"{file}: data.{role} column {column!r} row {line}: got '{array[row].as_py()}', expected "
                           f"a list (a Parquet list column) or ids separated by {sep!r}")
    lengths = np.asarray(pc.fill_null(pc.list_value_length(array), 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return flat, lengths


def _ids(flat, lists, role: str, where: Where):
    """A Parquet list's values → strings: strings and integers (3.0 is 3); others are errors."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = flat.type
    if len(flat) == 0 or pa.types.is_null(kind):  # no id anywhere (or only missing ones)
        return pa.nulls(len(flat), type=pa.string())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind) \
            or pa.types.is_dictionary(kind):
        return as_text(flat)
    bad = np.ones(len(flat), dtype=bool)
    if pa.types.is_floating(kind):
        values = np.asarray(flat.to_numpy(zero_copy_only=False), dtype=np.float64)
        bad = ~np.isfinite(values) | (values != np.round(values))
        if not bad.any():
            return flat.cast(pa.int64(), safe=False).cast(pa.string())
    first = int(np.argmax(bad))
    lengths = np.asarray(pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False))
    row = int(np.searchsorted(np.cumsum(lengths), first, side="right"))
    file, line = where(row)
    raise UnirankError(f"{file}: data.{role} row {line}: id '{flat[first].as_py()}' is not an integer or a string")

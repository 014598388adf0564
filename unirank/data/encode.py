"""One record batch's columns → numpy: categorical codes, dense values, labels (vectorised pyarrow).

``where(row)`` turns a row of the batch into (file, row in that file) for the one-line errors.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from unirank.errors import UnirankError

Where = Callable[[int], tuple]


def as_text(array):
    """Any pyarrow array → strings (dictionaries decoded; numbers as their text)."""
    import pyarrow as pa

    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode() if not pa.types.is_string(array.type.value_type) else array
    if pa.types.is_dictionary(array.type) or pa.types.is_string(array.type):
        return array
    if pa.types.is_large_string(array.type) or pa.types.is_integer(array.type) or pa.types.is_boolean(array.type):
        return array.cast(pa.string())
    if pa.types.is_floating(array.type):  # 3.0 → "3" (ids stored as floats because of missing values)
        whole = np.asarray(array.to_numpy(zero_copy_only=False))
        if np.all(np.isnan(whole) | (whole == np.round(whole))):
            return array.cast(pa.int64(), safe=False).cast(pa.string())
    return array.cast(pa.string())


def encode_column(array) -> tuple[np.ndarray, object]:
    """A categorical column [n] → (codes [n] int32 into its distinct values, -1 = missing;
    the distinct values as pyarrow strings). A Parquet dictionary column is used as stored."""
    import pyarrow as pa
    import pyarrow.compute as pc

    array = as_text(array)
    encoded = array if pa.types.is_dictionary(array.type) else pc.dictionary_encode(array)
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
    return codes, encoded.dictionary.cast(pa.string())


def read_dense(record, columns: list[str], where: Where) -> np.ndarray:
    """Dense columns → [n, D] float32 (NaN = missing); text that is not a number is an error."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.empty((record.num_rows, len(columns)), dtype=np.float32)
    for j, column in enumerate(columns):
        array = record.column(column)
        values, cast = _numbers(array)
        if not cast:
            text = pc.utf8_trim_whitespace(array.cast(pa.string()))
            row = int(np.argmax(np.isnan(values) & ~np.asarray(pc.is_null(text))))
            file, line = where(row)
            raise UnirankError(f"{file}: data.dense column {column!r} row {line} is not numeric "
                               f"(got '{text[row].as_py()}')")
        out[:, j] = values
    return out


def _numbers(array) -> tuple[np.ndarray, bool]:
    """A column → (float64 values [n], NaN where missing; whether pyarrow cast every value — if not,
    the values are Python's parse, NaN for text that is not a number)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    try:
        return np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64), True
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return np.array([_number(v) for v in array.cast(pa.string()).to_pylist()], dtype=np.float64), False


def _number(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def read_labels(record, labels: dict, where: Where, positives: dict) -> np.ndarray:
    """Label columns → [n, T] float32 of 0/1, NaN where missing. A column with ``labels[c]`` =
    positive values is 1 where it holds one of them; else it must hold 0/1. ``positives[c]``
    ([seen any positive, up to 8 values shown]) is updated for the no-positive error."""
    import pyarrow as pa
    import pyarrow.compute as pc

    out = np.empty((record.num_rows, len(labels)), dtype=np.float32)
    for j, (column, wanted) in enumerate(labels.items()):
        array = record.column(column)
        if pa.types.is_dictionary(array.type):
            array = array.dictionary_decode()
        missing = np.asarray(pc.is_null(array).to_numpy(zero_copy_only=False), dtype=bool)
        if wanted is not None:
            text = pc.utf8_trim_whitespace(as_text(array))
            hit = np.asarray(pc.fill_null(pc.is_in(text, value_set=pa.array(list(wanted))), False), dtype=bool)
            seen = positives[column]
            seen[0] = seen[0] or bool(hit.any())
            if len(seen[1]) < 8:
                seen[1].extend(v for v in pc.unique(text.drop_null()).to_pylist()[:8] if v not in seen[1])
            out[:, j] = np.where(missing, np.nan, hit)
            continue
        values, _ = _numbers(array)
        bad = ~missing & ~np.isin(values, (0.0, 1.0))
        if bad.any():
            row = int(np.argmax(bad))
            file, line = where(row)
            raise UnirankError(f"{file}: label column {column!r} row {line}: got '{array[row].as_py()}', expected "
                               f"0, 1 or empty (missing), or name the positive value(s): objectives: {{{column}: VALUE}}")
        out[:, j] = np.where(missing, np.nan, values)
    return out

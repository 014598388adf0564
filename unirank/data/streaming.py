"""The users' tables (CSV/Parquet) → prepared splits, in one streaming pass over the rows.

1. Each row's split is decided first (``tabular.split_codes``: only the split or time column is
   read for it).
2. One pass over the record batches of every file (pyarrow, column-projected; Parquet string
   columns arrive as the files' own dictionaries, so no value is hashed again): each batch becomes
   an ``EncodedBatch`` — per categorical column (and list field) int32 codes into the batch's own
   distinct values, dense values, labels — while the training rows' value counts and dense moments
   are added up. Values are checked on the way; a bad one is a one-line error naming file and row.
3. Vocabularies (ids by descending training frequency, ties in order of first appearance) and
   normalisation are fitted from those counts — or taken from a given state (an export bundle) —,
   each batch's distinct values are mapped to final ids (one hash per distinct value, not per row),
   and the rows are appended to their split's column files (``column_files.ColumnSink``).

Memory: the encoded batches (int32 codes and float32 values: about half of the final int64/float32
arrays) plus one batch being read; the final arrays go to disk row block by row block.
"""
from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np

from unirank.config import CsvDataConfig
from unirank.data.column_files import SPLITS, ColumnSink
from unirank.data.encode import encode_column, read_dense, read_labels
from unirank.data.list_cells import ListPlan, encode_list_field, list_plans
from unirank.data.preprocess import _LOG_THRESHOLD, DenseStats, ListState, PreprocessState
from unirank.data.tabular import column_roles, locate, open_part, split_codes
from unirank.errors import UnirankError

BATCH_ROWS = 1 << 18
# rows transformed at a time: arrays of a few MB come back from the allocator's free lists; ones of
# 100+ MB would be fresh memory maps whose pages the kernel zeroes again every time
_BLOCK_ROWS = 1 << 16


def _moments(batch: "EncodedBatch") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training rows' (count, mean, sum of squared deviations) per dense column; non-finite
    values are missing."""
    train = np.flatnonzero(batch.split == 0)
    width = batch.dense.shape[1]
    n, mean, m2 = np.zeros(width), np.zeros(width), np.zeros(width)
    for j in range(width):  # column by column: small temporaries
        chosen = batch.dense[:, j][train]
        chosen = chosen[np.isfinite(chosen)]
        if len(chosen):
            n[j], mean[j] = len(chosen), chosen.mean(dtype=np.float64)
            m2[j] = np.square(chosen - np.float32(mean[j]), dtype=np.float64).sum()
    return n, mean, m2


def _dense_stats(columns: list[str], signed: np.ndarray, parts) -> dict[str, DenseStats]:
    """Per-batch moments combined pairwise (Chan, Golub and LeVeque) → mean and std per column."""
    n = mean = m2 = np.zeros(len(columns))
    for bn, bmean, bm2 in parts:
        total = n + bn
        delta = bmean - mean
        share = np.divide(bn, total, out=np.zeros_like(total), where=total > 0)
        mean, m2, n = mean + delta * share, m2 + bm2 + delta ** 2 * n * share, total
    out = {}
    for j, column in enumerate(columns):
        std = float(np.sqrt(m2[j] / n[j])) if n[j] else 1.0
        out[column] = DenseStats(mean=float(mean[j]), std=std if std > 1e-12 else 1.0, signed_log=bool(signed[j]))
    return out


def _signed_log(signed: np.ndarray, batch: "EncodedBatch"):
    """Heavy-tailed dense columns (``signed``) → sign(x)·log(1 + |x|), in place; then the
    training rows' moments (``_moments``) of the values as they will be normalised."""
    for j in np.flatnonzero(signed):
        column = batch.dense[:, j]
        np.copysign(np.log1p(np.abs(column)), column, out=column)
    return _moments(batch)


@dataclass
class EncodedBatch:
    """One record batch, encoded: n rows."""

    split: np.ndarray                           # [n] int8: 0 train, 1 val, 2 test, -1 none
    sparse: np.ndarray                          # [S, n] int32 codes of the categorical columns, -1 = none
    codes: dict[str, np.ndarray]                # key → [n] (a row of ``sparse``; [n, max_len] for list fields)
    values: dict                                # key → the batch's distinct values (pyarrow strings)
    dense: np.ndarray                           # [n, D] float32 raw (NaN = missing), later transformed in place
    labels: np.ndarray                          # [n, T] float32 0/1, NaN = missing
    lengths: dict[str, np.ndarray]              # list name → [n] int64 kept events
    counts: dict[str, np.ndarray]               # key → the training rows' count of each distinct value
    positives: dict[str, tuple[bool, list]]     # label column with positive values → (any, values seen)
    max_abs: np.ndarray                         # [D] the training rows' largest |value| per dense column


def _in_order(function, items, workers: int):
    """``function(*item)`` for every item on a thread pool (pyarrow and numpy release the GIL),
    results in the items' order, at most ``2 * workers`` in flight."""
    pending = deque()
    with ThreadPoolExecutor(workers) as pool:
        for item in items:
            pending.append(pool.submit(function, *item))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _each(function, keys: list) -> dict:
    """{key: function(key)} computed on the thread pool."""
    return dict(zip(keys, _in_order(function, ((k,) for k in keys), _workers())))


class _Plan:
    """What the study reads from the table, in the order of the prepared tensors."""

    def __init__(self, cfg: CsvDataConfig) -> None:
        self.cfg = cfg
        self.labels = cfg.labels()
        self.dense = list(cfg.dense)
        self.domain = cfg.domain
        # the domain column is a sparse feature too (first), unless listed already or absent
        self.sparse = list(cfg.sparse) if cfg.domain is None or cfg.domain in cfg.sparse else [cfg.domain, *cfg.sparse]
        self.lists: list[ListPlan] = list_plans(cfg)
        self.roles = column_roles(cfg)
        self.columns = sorted({*self.labels, *self.sparse, *self.dense, *(c for p in self.lists for c in p.columns.values())})

    def domain_name(self) -> str:
        """The domain's name in the prepared state: its column, or a free name for "one domain"."""
        return self.domain or next(n for n in ("domain", "_domain", "__domain__") if n not in self.columns)


def prepare_table(cfg: CsvDataConfig, sink: ColumnSink, state: PreprocessState | None = None) -> PreprocessState:
    """Stream the configured files into ``sink``; fit the preprocessing on the training rows unless
    ``state`` is given. Returns the state. Raises UnirankError (one line) on bad data."""
    plan = _Plan(cfg)
    source = f"{cfg.source}:{cfg.path or cfg.train}"
    parts = [(name, *open_part(spec, "path" if name == "all" else name, cfg, plan.roles))
             for name, spec in cfg.paths().items()]
    with ThreadPoolExecutor(1) as pool:  # the splits (a permutation of every row) while the first batches decode
        splits = pool.submit(split_codes, cfg, parts)
        batches = list(_in_order(partial(_encode, plan), _records(plan, parts, splits), _workers()))
    _check_batches(plan, parts, batches)
    keys = list(batches[0].values)
    distinct = _each(lambda k: _distinct([b.values[k] for b in batches]), keys)
    signed = (np.max([b.max_abs for b in batches], axis=0) > _LOG_THRESHOLD if state is None
              else np.array([state.dense[c].signed_log for c in plan.dense], dtype=bool))
    moments = list(_in_order(partial(_signed_log, signed), ((b,) for b in batches), _workers()))
    if state is None:
        state = _fit(plan, batches, distinct, _dense_stats(plan.dense, signed, moments))
    for batch in batches:
        batch.counts = {}
    lookups, domains = _lookups(plan, state, batches, distinct)
    destinations = []  # per batch: (each row's split, -1 for none or an unknown domain; its domain id)
    for batch, lookup in zip(batches, domains):
        domain = lookup[batch.codes[plan.domain] + 1] if plan.domain else np.zeros(len(batch.split), dtype=np.int64)
        destinations.append((np.where(domain >= 0, batch.split, -1).astype(np.int8), domain))
    _check_splits(source, state, destinations)
    _write(plan, state, batches, destinations, lookups, sink)
    return state


def _records(plan: _Plan, parts: list, pending):
    """Every record batch of every part, in file order: (record, its rows' splits, where(row));
    ``pending``: the future of ``split_codes``."""
    offset = 0
    for _, data, origins, rows in parts:
        start = 0
        for record in data.to_batches(columns=plan.columns, batch_size=BATCH_ROWS, use_threads=True):
            splits = pending.result()
            if record.num_rows:
                where = lambda row, s=start, o=origins: locate(o, s + row)  # noqa: E731
                yield record, splits[offset + start: offset + start + record.num_rows], where
                start += record.num_rows
        offset += rows


def _encode(plan: _Plan, record, split: np.ndarray, where) -> EncodedBatch:
    """One record batch → its codes, values and the training rows' counts (a worker thread)."""
    codes, values = {}, {}
    sparse = np.empty((len(plan.sparse), record.num_rows), dtype=np.int32)  # column-major: one row per column
    for j, column in enumerate(plan.sparse):
        sparse[j], values[column] = encode_column(record.column(column))
        codes[column] = sparse[j]
    lengths = {raw.name: encode_list_field(raw, record, codes, values, where) for raw in plan.lists}
    dense = read_dense(record, plan.dense, where)
    positives = {c: [False, []] for c, p in plan.labels.items() if p is not None}
    labels = read_labels(record, plan.labels, where, positives)
    train = np.flatnonzero(split == 0)
    counts = {key: np.bincount(code[train].ravel() + 1, minlength=len(values[key]) + 1)[1:]  # -1 (none) dropped
              for key, code in codes.items()}
    max_abs = np.array([np.fmax.reduce(np.abs(dense[:, j][train]), initial=0.0) for j in range(dense.shape[1])])
    return EncodedBatch(split=split, sparse=sparse, codes=codes, values=values, dense=dense, labels=labels, lengths=lengths,
                        counts=counts, positives={c: tuple(v) for c, v in positives.items()}, max_abs=max_abs)


def _check_batches(plan: _Plan, parts: list, batches: list[EncodedBatch]) -> None:
    if not batches:
        raise UnirankError(f"{plan.cfg.path or plan.cfg.train}: no data rows")
    for raw in plan.lists:  # the fields of a sequence have equal lengths: the first one tells
        if not any(b.lengths[raw.name].any() for b in batches):
            _, column, role = raw.keyed_columns()[0]
            files = ", ".join(str(f) for f, _ in parts[0][2][:2]) + (" …" if len(parts[0][2]) > 2 else "")
            raise UnirankError(f"{files}: data.{role} column {column!r} is empty in every row (expected a list "
                               f"or ids separated by {raw.sep!r} in at least one row)")
    for column, wanted in plan.labels.items():
        if wanted is not None and not any(b.positives[column][0] for b in batches):
            shown = list(dict.fromkeys(v for b in batches for v in b.positives[column][1]))[:8]
            raise UnirankError(f"data.objectives: no row of {column!r} has a positive value "
                               f"{list(wanted)} (values: {', '.join(map(str, shown))})")


def _distinct(per_batch: list):
    """The batches' distinct values → (the distinct values of all batches [U] (pyarrow strings),
    per batch: the index in them of each of its values)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.concat_arrays(per_batch))
    index = encoded.indices.to_numpy(zero_copy_only=False)
    return encoded.dictionary, np.split(index, np.cumsum([len(v) for v in per_batch])[:-1])


def _vocabulary(distinct, counts: list[np.ndarray], min_count: int) -> list[str]:
    values, index = distinct
    total = np.bincount(np.concatenate(index), weights=np.concatenate(counts), minlength=len(values))
    order = np.argsort(-total, kind="stable")
    order = order[(total[order] >= min_count) & (total[order] > 0)]
    return values.take(order).to_pylist()


def _fit(plan: _Plan, batches, distinct, dense: dict[str, DenseStats]) -> PreprocessState:
    """Vocabularies (ids by descending training count, ≥ data.min_count), list fields' own ones,
    the domains (every domain value of the table, sorted)."""
    counts = {key: [b.counts[key] for b in batches] for key in batches[0].counts}
    vocab = _each(lambda c: _vocabulary(distinct[c], counts[c], plan.cfg.min_count), plan.sparse)
    list_vocab, lists = {}, []
    for raw in plan.lists:
        for key, name in raw.fields.items():
            shared = raw.shares.get(name)
            if shared is not None and shared not in vocab:
                raise UnirankError(f"{plan.cfg.source}:{plan.cfg.path or plan.cfg.train}: list field {raw.name}.{name} "
                                   f"shares {shared!r}, which is not a categorical column of this data")
            if shared is None:
                list_vocab[name] = _vocabulary(distinct[key], counts[key], plan.cfg.min_count)
        lists.append(ListState(name=raw.name, kind=raw.kind, max_len=raw.max_len, fields=list(raw.fields.values()),
                               shares=dict(raw.shares)))
    if plan.domain is None:
        domains = ["all"]
    else:
        domains = sorted(str(v) for v in distinct[plan.domain][0].to_pylist() if v is not None)
        if not domains:
            raise UnirankError(f"{plan.cfg.path or plan.cfg.train}: domain column {plan.domain!r} has no values")
    return PreprocessState(dense=dense, vocab=vocab, domain=plan.domain_name(), domains=domains,
                           objectives=list(plan.labels), lists=lists, list_vocab=list_vocab)


def _lookups(plan: _Plan, state: PreprocessState, batches, distinct):
    """Per key, per batch: ``lookup[code + 1]`` is a code's final id (code -1, none: 0, the OOV id);
    and per batch the domain column's ``lookup[code + 1]`` → domain index (-1: unknown, the row is
    left out: it cannot be routed to a head)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def ids(key: str, vocab: list[str], missing: int, base: int) -> list[np.ndarray]:
        values, index = distinct[key]
        found = pc.index_in(values, value_set=pa.array(vocab, type=pa.string()))
        final = np.asarray(found.fill_null(missing - base).to_numpy(zero_copy_only=False), dtype=np.int64) + base
        return [np.concatenate(([missing], final[where])) for where in index]

    if [c for c in plan.sparse] != list(state.vocab):
        raise UnirankError(f"data.sparse: the table's categorical columns {plan.sparse} are not the fitted ones "
                           f"{list(state.vocab)}")
    out = _each(lambda c: ids(c, state.vocab[c], 0, 1), plan.sparse)
    for raw, spec in zip(plan.lists, state.lists):
        for key, name in raw.fields.items():
            out[key] = ids(key, state.field_vocab(spec, name), 0, 1)
    return out, ids(plan.domain, state.domains, -1, 0) if plan.domain else [None] * len(batches)


def _check_splits(source: str, state: PreprocessState, destinations) -> None:
    """Train and val need rows, and every domain rows in both (a domain's heads learn from them)."""
    per_split = np.zeros((3, len(state.domains)), dtype=np.int64)
    for destination, domain in destinations:
        for k in range(3):
            per_split[k] += np.bincount(domain[destination == k], minlength=len(state.domains))
    for k, name in ((0, "train"), (1, "val")):
        if per_split[k].sum() == 0:
            raise UnirankError(f"{source}: the {name} split has no rows ({int(per_split.sum())} rows in all); "
                               "check data.split")
        missing = [d for d, n in zip(state.domains, per_split[k]) if n == 0]
        if missing:
            raise UnirankError(f"{source}: domain {missing[0]!r} of column {state.domain!r} has no rows in the "
                               f"{name} split; merge it or choose another domain column")


def _write(plan: _Plan, state: PreprocessState, batches, destinations, lookups, sink: ColumnSink) -> None:
    """Every batch's rows, transformed, appended to their split's tensors."""
    sizes = [sum(int((d == k).sum()) for d, _ in destinations) for k in range(3)]
    width = sum(1 + raw.max_len * len(raw.fields) for raw in plan.lists)
    for k, split in enumerate(SPLITS):
        n = sizes[k]
        sink.open(split, "dense", np.float32, (n, len(plan.dense)))
        sink.open(split, "sparse", np.int64, (n, len(plan.sparse)))
        sink.open(split, "domain", np.int64, (n,))
        sink.open(split, "labels", np.float32, (n, len(plan.labels)))
        sink.open(split, "mask", np.bool_, (n, len(plan.labels)))
        if plan.lists:
            sink.open(split, "lists", np.int64, (n, width))
    mean = np.array([state.dense[c].mean for c in plan.dense], dtype=np.float32)
    std = np.array([state.dense[c].std for c in plan.dense], dtype=np.float32)

    def rows_of(b: int) -> list[tuple[str, dict[str, np.ndarray]]]:  # a worker thread: one batch's rows
        batch, (destination, domain) = batches[b], destinations[b]
        batches[b] = None  # free its encoded rows once written
        table = np.concatenate([lookups[c][b] for c in plan.sparse])
        starts = np.cumsum([0, *(len(lookups[c][b]) for c in plan.sparse[:-1])]) + 1
        out = []
        for block in range(0, len(domain), _BLOCK_ROWS):  # small temporaries: reused, not page-faulted anew
            rows = slice(block, block + _BLOCK_ROWS)
            order = np.argsort(destination[rows], kind="stable") + block  # grouped by split: one slice each
            bounds = np.searchsorted(destination[order], np.arange(-1, 4), side="left")
            index = batch.sparse[:, order].astype(np.int64)
            index += starts[:, None]
            tensors = {"sparse": table[index.T],  # [n, S] int64, one gather
                       "dense": np.nan_to_num((batch.dense[order] - mean) / std, nan=0.0, posinf=0.0, neginf=0.0),
                       "domain": domain[order], "labels": np.nan_to_num(batch.labels[order], nan=0.0),
                       "mask": ~np.isnan(batch.labels[order])}
            if plan.lists:
                lists, at = np.empty((len(order), width), dtype=np.int64), 0
                for raw in plan.lists:
                    lists[:, at] = batch.lengths[raw.name][order]
                    at += 1
                    for key in raw.fields:
                        lists[:, at:at + raw.max_len] = lookups[key][b][batch.codes[key][order] + 1]
                        at += raw.max_len
                tensors["lists"] = lists
            out += [(split, {name: t[bounds[k + 1]:bounds[k + 2]] for name, t in tensors.items()})
                    for k, split in enumerate(SPLITS) if bounds[k + 2] > bounds[k + 1]]
        return out

    for parts in _in_order(rows_of, ((b,) for b in range(len(batches))), _workers()):
        for split, tensors in parts:
            for name, rows in tensors.items():
                sink.append(split, name, rows)
    sink.close()

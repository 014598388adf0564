"""The users' tables (CSV/Parquet) → prepared splits, in one streaming pass over the rows.

1. Each row's split is decided before its batch is counted (``tabular.split_codes``: only the
   split or time column is read for it; computed while the first batches decode).
2. One pass over the record batches of every file (pyarrow, column-projected; Parquet string
   columns arrive as the files' own dictionaries, so no value is hashed again): each batch becomes
   an ``EncodedBatch`` (``unirank.data.encoded``) — per categorical column (and list field) int32
   codes into the batch's own distinct values, dense values, labels — with the training rows' value
   counts. Values are checked on the way; a bad one is a one-line error naming file and row.
3. Vocabularies and normalisation are fitted from those (``unirank.data.fitting``) — or taken from
   a given state (an export bundle) —, each batch's distinct values are mapped to final ids (one
   hash per distinct value, not per row), and the rows are appended to their split's column files
   (``column_files.ColumnSink``), on worker threads (``unirank.data.threads``).

Memory: the encoded batches (int32 codes and float32 values: about half of the final int64/float32
arrays) plus one batch being read; the final arrays go to disk row block by row block.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np

from unirank.config import CsvDataConfig
from unirank.data.column_files import SPLITS, ColumnSink
from unirank.data.dataset import check_splits
from unirank.data.encoded import EncodedBatch, TablePlan, encode_batch
from unirank.data.fitting import dense_stats, distinct_values, fit_state, log_then_moments, lookups
from unirank.data.preprocess import LOG_THRESHOLD, PreprocessState
from unirank.data.tabular import locate, open_part, split_codes
from unirank.data.threads import each, in_order, workers
from unirank.errors import UnirankError

BATCH_ROWS = 1 << 18
# rows transformed at a time: arrays of a few MB come back from the allocator's free lists; ones of
# 100+ MB would be fresh memory maps whose pages the kernel zeroes again every time
_BLOCK_ROWS = 1 << 16


def prepare_table(cfg: CsvDataConfig, sink: ColumnSink, state: PreprocessState | None = None) -> PreprocessState:
    """Stream the configured files into ``sink``; fit the preprocessing on the training rows unless
    ``state`` is given. Returns the state. Raises UnirankError (one line) on bad data."""
    plan = TablePlan(cfg)
    source = f"{cfg.source}:{cfg.path or cfg.train}"
    parts = [(name, *open_part(spec, "path" if name == "all" else name, cfg, plan.roles))
             for name, spec in cfg.paths().items()]
    with ThreadPoolExecutor(1) as pool:  # the splits (a permutation of every row) while the first batches decode
        splits = pool.submit(split_codes, cfg, parts)
        batches = list(in_order(partial(encode_batch, plan), _records(plan, parts, splits), workers()))
    _check_batches(plan, parts, batches)
    keys = list(batches[0].values)
    distinct = each(lambda k: distinct_values([b.values[k] for b in batches]), keys)
    signed = (np.max([b.max_abs for b in batches], axis=0) > LOG_THRESHOLD if state is None
              else np.array([state.dense[c].signed_log for c in plan.dense], dtype=bool))
    moments = list(in_order(partial(log_then_moments, signed, state is None), ((b,) for b in batches), workers()))
    if state is None:
        state = fit_state(plan, batches, distinct, dense_stats(plan.dense, signed, moments))
    for batch in batches:
        batch.counts = {}
    ids, domains = lookups(plan, state, batches, distinct)
    destinations = []  # per batch: (each row's split, -1 for none or an unknown domain; its domain id)
    for batch, lookup in zip(batches, domains):
        domain = lookup[batch.codes[plan.domain] + 1] if plan.domain else np.zeros(len(batch.split), dtype=np.int64)
        destinations.append((np.where(domain >= 0, batch.split, -1).astype(np.int8), domain))
    rows = np.zeros((len(SPLITS), len(state.domains)), dtype=np.int64)  # per split and domain
    for destination, domain in destinations:
        for k in range(len(SPLITS)):
            rows[k] += np.bincount(domain[destination == k], minlength=len(state.domains))
    check_splits(source, state, rows)
    _write(plan, state, batches, destinations, ids, rows.sum(axis=1), sink)
    return state


def _records(plan: TablePlan, parts: list, pending):
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


def _check_batches(plan: TablePlan, parts: list, batches: list[EncodedBatch]) -> None:
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


def _write(plan: TablePlan, state: PreprocessState, batches, destinations, lookups, sizes: np.ndarray,
           sink: ColumnSink) -> None:
    """Every batch's rows, transformed, appended to their split's tensors (``sizes`` rows each)."""
    width = sum(1 + raw.max_len * len(raw.fields) for raw in plan.lists)
    for k, split in enumerate(SPLITS):
        n = int(sizes[k])
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

    for parts in in_order(rows_of, ((b,) for b in range(len(batches))), workers()):
        for split, tensors in parts:
            for name, rows in tensors.items():
                sink.append(split, name, rows)
    sink.close()

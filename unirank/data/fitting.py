"""The preprocessing fitted from encoded batches (``unirank.data.streaming``'s second step).

Dense columns: signed log where the training rows' largest |value| exceeds the threshold, then
mean and std from per-batch moments combined pairwise. Categorical columns and list fields: the
batches' distinct values merged (one hash per distinct value), ids by descending training count
(≥ ``min_count``; ties in order of first appearance); domains: every value of the domain column,
sorted. ``lookups`` maps each batch's codes to final ids, for a fitted or a given state.
"""
from __future__ import annotations

import numpy as np

from unirank.data.encoded import EncodedBatch, TablePlan
from unirank.data.preprocess import DenseStats, ListState, PreprocessState, signed_log
from unirank.data.threads import each
from unirank.errors import UnirankError


def moments(batch: EncodedBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def dense_stats(columns: list[str], signed: np.ndarray, parts) -> dict[str, DenseStats]:
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
        out[column] = DenseStats.fitted(float(mean[j]), std, bool(signed[j]))
    return out


def log_then_moments(signed: np.ndarray, fitting: bool, batch: EncodedBatch):
    """Heavy-tailed dense columns (``signed``) → sign(x)·log(1 + |x|), in place; then, when
    ``fitting``, the training rows' moments (``moments``) of the values as they will be normalised."""
    for j in np.flatnonzero(signed):
        signed_log(batch.dense[:, j], out=batch.dense[:, j])
    return moments(batch) if fitting else None


def distinct_values(per_batch: list):
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


def fit_state(plan: TablePlan, batches, distinct, dense: dict[str, DenseStats]) -> PreprocessState:
    """Vocabularies (ids by descending training count, ≥ data.min_count), list fields' own ones,
    the domains (every domain value of the table, sorted)."""
    counts = {key: [b.counts[key] for b in batches] for key in batches[0].counts}
    vocab = each(lambda c: _vocabulary(distinct[c], counts[c], plan.cfg.min_count), plan.sparse)
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


def lookups(plan: TablePlan, state: PreprocessState, batches, distinct):
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

    if plan.sparse != list(state.vocab):
        raise UnirankError(f"data.sparse: the table's categorical columns {plan.sparse} are not the fitted ones "
                           f"{list(state.vocab)}")
    out = each(lambda c: ids(c, state.vocab[c], 0, 1), plan.sparse)
    for raw, spec in zip(plan.lists, state.lists):
        for key, name in raw.fields.items():
            out[key] = ids(key, state.field_vocab(spec, name), 0, 1)
    return out, ids(plan.domain, state.domains, -1, 0) if plan.domain else [None] * len(batches)

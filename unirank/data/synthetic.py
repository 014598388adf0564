"""Built-in synthetic multi-domain multi-objective data, seeded, where architecture matters.

Rows belong to one of ``num_domains`` domains (unequal sizes). Sparse ids follow a power law
(Zipf exponent 1.1), as real categorical features do. Two objectives, ``click`` and ``convert``:

    logit_click   = base_d + Σ_s b_s[c_s] + Σ_(a,b)∈P  0.8·<z_a[c_a], z_b[c_b]>     (pairwise, FM-like)
                    + 0.7·x0·x1 + 0.5·x2                                              (dense cross)
                    + γ_d·<z_0[c_0], z_2[c_2]>                                        (domain-specific)
    logit_convert = -1 + 0.5·shared(logit_click) + 0.8·<z_3[c_3], z_7[c_7]> + δ_d·x1

with P = {(0,1), (2,3), (4,5), (1,6)}, per-id biases b and latent vectors z (dim 4), and domain
effects γ, δ whose signs differ between domains. A first-order model cannot express the pairwise
terms, and a model that ignores the domain cannot express γ_d, δ_d: the architecture choice
genuinely changes quality. ``convert`` is unlabelled on 25% of rows (masked, Lattice-style).

With ``history_length`` L > 0 each row also has a behaviour sequence ``history`` (1..L earlier items
of ``c1``'s vocabulary and their categories, sharing the ids of ``c1`` and of the new sparse feature
``c1_cat``, the candidate's category) with a planted target-attention effect: items fall in 20
categories; each row has an interest category u, half of its history is drawn from u, and half of
the candidates ``c1`` too; then

    logit_click += 6 · (share of history items in the candidate's category − 0.25)

which only a model that compares the candidate with its history can express.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from unirank.config import SyntheticDataConfig
from unirank.data.table import RawList, RawTable, real_slots

_LATENT_DIM = 4
_CLUSTERS = 20
_PAIRS = ((0, 1), (2, 3), (4, 5), (1, 6))


def generate_synthetic(cfg: SyntheticDataConfig) -> RawTable:
    if cfg.layout in ("criteo", "criteo_mdmo"):
        return generate_criteo_shaped(cfg)
    return generate_synthetic_with_truth(cfg)[0]


def generate_synthetic_with_truth(cfg: SyntheticDataConfig) -> tuple[RawTable, np.ndarray]:
    """``generate_synthetic``'s table and the probabilities its labels were drawn from → [N, 2]
    (click, convert), row for row: the Bayes-optimal model, the floor of every model's NE."""
    if cfg.layout in ("criteo", "criteo_mdmo"):
        raise ValueError("generate_synthetic_with_truth: the criteo-shaped layouts are not supported")
    rng = np.random.default_rng(cfg.seed)
    n, num_sparse, vocab = cfg.num_rows, max(cfg.num_sparse, 8), cfg.vocab_size

    domain_weights = 1.0 / np.arange(1, cfg.num_domains + 1)
    domain = rng.choice(cfg.num_domains, size=n, p=domain_weights / domain_weights.sum())

    zipf = 1.0 / np.arange(1, vocab + 1) ** 1.1
    ids = np.stack([rng.choice(vocab, size=n, p=zipf / zipf.sum()) for _ in range(num_sparse)], 1)
    # Each feature gets its own id permutation so that id 0 is not the popular id everywhere.
    ids = np.stack([rng.permutation(vocab)[ids[:, s]] for s in range(num_sparse)], 1)
    bias = rng.normal(0.0, 0.3, size=(num_sparse, vocab))
    latent = rng.normal(0.0, 1.0 / np.sqrt(_LATENT_DIM) * 1.4, size=(num_sparse, vocab, _LATENT_DIM))
    dense = rng.normal(size=(n, max(cfg.num_dense, 4)))
    history = _plant_history(rng, ids, vocab, cfg.history_length) if cfg.history_length else None

    def pair(a: int, b: int) -> np.ndarray:
        return np.einsum("nk,nk->n", latent[a, ids[:, a]], latent[b, ids[:, b]])

    base = rng.normal(-1.3, 0.4, size=cfg.num_domains)
    gamma = np.array([1.2 * (-1) ** d for d in range(cfg.num_domains)])
    delta = np.array([0.8 * (-1) ** (d + 1) for d in range(cfg.num_domains)])

    first_order = sum(bias[s, ids[:, s]] for s in range(num_sparse))
    shared = first_order + sum(0.8 * pair(a, b) for a, b in _PAIRS) + 0.7 * dense[:, 0] * dense[:, 1]
    logit_click = base[domain] + shared + 0.5 * dense[:, 2] + gamma[domain] * pair(0, 2)
    if history is not None:
        logit_click += 6.0 * (history[1] - 0.25)
    logit_convert = -1.0 + 0.5 * shared + 0.8 * pair(3, 7) + delta[domain] * dense[:, 1]

    truth = np.stack([_sigmoid(logit_click), _sigmoid(logit_convert)], 1)
    click = (rng.random(n) < truth[:, 0]).astype(np.float32)
    convert = (rng.random(n) < truth[:, 1]).astype(np.float32)
    convert[rng.random(n) < 0.25] = np.nan

    frame = pd.DataFrame({"domain": [f"d{d}" for d in domain]})
    sparse_names = [f"c{s}" for s in range(cfg.num_sparse)]
    for s, name in enumerate(sparse_names):
        frame[name] = ids[:, s]
    if history is not None:
        frame["c1_cat"] = history[2][ids[:, 1]]
        sparse_names.append("c1_cat")
    dense_names = [f"x{j}" for j in range(cfg.num_dense)]
    for j, name in enumerate(dense_names):
        frame[name] = dense[:, j].astype(np.float32)
    frame["click"] = click
    frame["convert"] = convert
    return RawTable(
        frame=frame,
        dense=dense_names,
        # The domain id is also an input feature, so shared layers can condition on it.
        sparse=["domain", *sparse_names],
        domain="domain",
        objectives=["click", "convert"],
        source="synthetic",
        lists=[history[0]] if history is not None else [],
    ), truth


def _plant_history(rng: np.random.Generator, ids: np.ndarray, vocab: int,
                   length: int) -> tuple[RawList, np.ndarray, np.ndarray]:
    """A history per row (sets ``ids[:, 1]``, the candidate, for half the rows) → (the RawList,
    per row the share of its history in the candidate's category, each item's category)."""
    n = len(ids)
    cluster = rng.integers(0, _CLUSTERS, size=vocab)
    cluster[rng.permutation(vocab)[:_CLUSTERS]] = np.arange(_CLUSTERS)  # no cluster is empty
    by_cluster = np.argsort(cluster, kind="stable")                         # items grouped by cluster
    sizes = np.bincount(cluster, minlength=_CLUSTERS)
    starts = np.cumsum(sizes) - sizes
    interest = rng.integers(0, _CLUSTERS, size=n)

    def from_interest(rows: np.ndarray) -> np.ndarray:
        c = interest[rows]
        return by_cluster[starts[c] + (rng.random(len(rows)) * sizes[c]).astype(np.int64)]

    follow = np.flatnonzero(rng.random(n) < 0.5)
    ids[follow, 1] = from_interest(follow)
    events = rng.integers(0, vocab, size=(n, length))
    in_interest = rng.random((n, length)) < 0.5
    rows, slots = np.nonzero(in_interest)
    events[rows, slots] = from_interest(rows)
    lengths = rng.integers(1, length + 1, size=n)
    real = real_slots(lengths, length)  # right-aligned, the most recent last
    match = ((cluster[events] == cluster[ids[:, 1]][:, None]) & real).sum(1) / lengths
    fields = {"history_item": np.where(real, events.astype(str), "").astype(object),
              "history_cat": np.where(real, cluster[events].astype(str), "").astype(object)}
    return RawList(name="history", kind="sequence", max_len=length, lengths=lengths.astype(np.int64), fields=fields,
                   shares={"history_item": "c1", "history_cat": "c1_cat"}), match, cluster


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def generate_criteo_shaped(cfg: SyntheticDataConfig) -> RawTable:
    """Criteo-shaped rows: label, 13 dense ``I1..I13`` (log-normal counts), 26 sparse ``C1..C26``
    holding pre-hashed ids in [0, vocab_size) drawn from a power law; one domain (layout
    ``criteo_mdmo``: ``num_domains`` domains and a second objective, conversion).

    The click logit is a sum of per-id effects of C1..C4, two pairwise id interactions and a
    dense cross, so models can learn something; it is meant for speed, not for quality studies.
    """
    rng = np.random.default_rng(cfg.seed)
    n, vocab = cfg.num_rows, cfg.vocab_size
    ranks = np.floor(vocab * rng.random((n, 26)) ** 3.0).astype(np.int64)  # power law in rank
    ids = (ranks * 2654435761 + np.arange(26) * 97) % vocab  # scatter popular ids over the table
    dense = rng.lognormal(0.0, 1.0, size=(n, 13)).astype(np.float32)
    effect = rng.normal(0.0, 0.5, size=(4, 4096))
    logit = -1.2 + sum(effect[k, ids[:, k] % 4096] for k in range(4))
    logit += 0.6 * effect[0, (ids[:, 4] ^ ids[:, 5]) % 4096] + 0.4 * np.log1p(dense[:, 0]) * np.log1p(dense[:, 1])
    frame = pd.DataFrame(dense, columns=[f"I{j}" for j in range(1, 14)])
    for k in range(26):
        frame[f"C{k + 1}"] = ids[:, k]
    objectives = ["click"]
    if cfg.layout == "criteo_mdmo":  # domains shift the click rate; conversion follows C5..C6 too
        domain = rng.choice(cfg.num_domains, size=n, p=np.arange(cfg.num_domains, 0, -1) / np.arange(1, cfg.num_domains + 1).sum())
        logit += rng.normal(0.0, 0.5, size=cfg.num_domains)[domain]
        frame["domain"] = np.array([f"d{d}" for d in range(cfg.num_domains)])[domain]
        conversion = logit - 1.5 + effect[1, ids[:, 5] % 4096] - effect[2, ids[:, 6] % 4096]
        frame["conversion"] = (rng.random(n) < _sigmoid(conversion)).astype(np.float32)
        objectives.append("conversion")
    else:
        frame["domain"] = "all"
    frame["click"] = (rng.random(n) < _sigmoid(logit)).astype(np.float32)
    sparse = [f"C{k}" for k in range(1, 27)]
    return RawTable(frame=frame, dense=[f"I{j}" for j in range(1, 14)], sparse=sparse, domain="domain",
                    objectives=objectives, source=f"synthetic:{cfg.layout}", hashed={c: vocab for c in sparse})

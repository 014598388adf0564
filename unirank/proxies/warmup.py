"""The warm-up proxy (sub-one-shot NAS after SiGeo): warm a supernet up on a fraction of the
training data, then score candidates from their inherited weights.

Warm-up (``warm_up``): the supernet's store is trained with Adam on ``fraction`` of the training
rows (a seeded sample) for ``epochs`` passes; each step trains sub-networks drawn from the pool —
``uniform`` (one random path) or ``sandwich`` (the largest and the smallest path by parameter
count plus one random path, gradients summed; Yu & Huang, BigNAS/slimmable "sandwich rule").

Scoring, per candidate (``proxy_terms``): its weights are inherited from the supernet
(``Supernet.extract``), with the ``finetuned`` scorer trained alone for ``finetune_steps``
mini-batches of the warm-up rows, then

- ``loss``: mean masked BCE on the proxy's held-out rows — up to ``loss_rows`` rows carved from
  the *training* split that no warm-up or fine-tuning step sees (``proxies/rows.py``; the same
  rows for every candidate; forward only). No validation or test row is read: those are what
  the proxy is judged on;
- ``train_loss``: mean BCE on the ``score_batches`` training batches of the gradient terms;
- ``zico``: Σ_layers log(Σ_θ mean_b|g| / std_b(g)) over those batches — gradient
  signal-to-noise (ZiCo, Li et al. 2023), higher is better;
- ``fisher_rao``: log mean_b(θ·g_b)², the Fisher–Rao norm θᵀFθ with the empirical Fisher;
  ``fisher_rao_sum``: log|θ·Σ_b g_b|, SiGeo's form; higher is better.

Three scorers, named for what they are (``WarmupConfig.scorer``; lower ``score`` is better):

- ``warmup_loss``: ``loss`` of the inherited weights, standardised over the pool — the warm-up
  loss alone, no per-candidate training;
- ``finetuned``: the same after the candidate's fine-tuning, optionally with the geometry terms:
  ``z(loss) − w·z(zico) − w·z(fisher_rao)`` (w = ``geometry_weight``; 0 = the loss alone);
- ``sigeo``: SiGeo as the paper defines it (Zheng et al. 2023; RecSys defaults λ = 1), on the
  inherited weights with no per-candidate training: ``−(zico + fisher_rao_sum − train_loss)``.

Which ranks best, at what cost, on which data, is measured by ``benchmarks/proxy_fidelity.py``
(``BENCHMARKS.md``); the default of ``search.screen.scorer`` is the one chosen there.
"""
from __future__ import annotations

import math
import multiprocessing
import os
import random
import time
from dataclasses import dataclass

import torch

from unirank.data.batches import Batch, TensorSplit
from unirank.data.dataset import Dataset
from unirank.proxies.rows import ProxyRows, proxy_rows
from unirank.proxies.supernet import Supernet
from unirank.proxies.zero_cost import loss_and_grads, zico_sum
from unirank.space.arch import ArchSpec
from unirank.train.fit import masked_bce


@dataclass(frozen=True)
class WarmupConfig:
    fraction: float = 0.5       # of the training rows used for the warm-up
    epochs: int = 1
    batch_size: int = 512
    lr: float = 3e-3
    rule: str = "sandwich"      # sandwich | uniform
    score_batches: int = 4          # training batches for the gradient terms
    score_batch_size: int = 512
    loss_rows: int = 16384          # held-out training rows for the loss term (forward only)
    # Steps each candidate trains alone from its inherited weights; None = finetune_fraction of
    # the study's longest training (max_epochs × batches per epoch), i.e. a fixed share of the
    # compute of training it fully.
    finetune_steps: int | None = None
    finetune_fraction: float = 0.04
    max_epochs: int = 8
    geometry_weight: float = 0.0    # w of the finetuned scorer (see the module doc)
    scorer: str = "finetuned"       # warmup_loss | finetuned | sigeo
    seed: int = 0


def finetune_steps(cfg: WarmupConfig, train_rows: int) -> int:
    if cfg.finetune_steps is not None:
        return cfg.finetune_steps
    return math.ceil(cfg.finetune_fraction * cfg.max_epochs * math.ceil(train_rows / cfg.batch_size))


@dataclass
class WarmupStats:
    steps: int
    paths_trained: int
    examples: int
    seconds: float


def rows_for(dataset: Dataset, cfg: WarmupConfig) -> ProxyRows:
    """The proxy's rows, all from the training split (see ``proxies/rows.py``)."""
    return proxy_rows(dataset, cfg.seed, holdout_rows=cfg.loss_rows, fraction=cfg.fraction,
                      min_warm=cfg.batch_size, grad_rows=cfg.score_batches * cfg.score_batch_size)


def split_for_warmup(dataset: Dataset, cfg: WarmupConfig) -> tuple[TensorSplit, TensorSplit]:
    """(warm-up rows, gradient rows) of ``rows_for``."""
    rows = rows_for(dataset, cfg)
    return rows.warm, rows.grad


def _size(supernet: Supernet, arch: ArchSpec) -> int:
    return sum(math.prod(b.shape) for b in supernet._path(arch)[1])


def warm_up(supernet: Supernet, dataset: Dataset, cfg: WarmupConfig) -> WarmupStats:
    """Train the supernet's store on the warm-up rows by sampling paths of its pool."""
    started = time.perf_counter()
    warm, _ = split_for_warmup(dataset, cfg)
    pool = supernet.paths
    rng = random.Random(cfg.seed)
    by_size = sorted(pool, key=lambda a: _size(supernet, a))
    optimizer = torch.optim.Adam(supernet.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed)
    steps = paths = 0
    for _ in range(cfg.epochs):
        for batch in warm.batches(cfg.batch_size, generator):
            chosen = [rng.choice(pool)]
            if cfg.rule == "sandwich":
                chosen = [by_size[-1], by_size[0], *chosen]
            optimizer.zero_grad(set_to_none=True)
            for arch in chosen:
                loss = masked_bce(supernet(arch, *batch.inputs), batch.labels, batch.mask)
                (loss / len(chosen)).backward()
            optimizer.step()
            steps += 1
            paths += len(chosen)
    return WarmupStats(steps, paths, steps * cfg.batch_size, time.perf_counter() - started)


def score_batches(dataset: Dataset, cfg: WarmupConfig) -> list[Batch]:
    _, scoring = split_for_warmup(dataset, cfg)
    return list(scoring.batches(cfg.score_batch_size))[: cfg.score_batches]


def _finetune(model: torch.nn.Module, rows: TensorSplit, cfg: WarmupConfig, steps: int) -> None:
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(cfg.seed + 1)
    for step, b in enumerate(rows.batches(cfg.batch_size, generator)):
        if step >= steps:
            break
        optimizer.zero_grad(set_to_none=True)
        masked_bce(model(*b.inputs), b.labels, b.mask).backward()
        optimizer.step()


@torch.no_grad()
def held_out_loss(model: torch.nn.Module, rows: TensorSplit) -> float:
    """Mean masked BCE over ``rows`` (every candidate is scored on the same rows)."""
    total, count = 0.0, 0.0
    for b in rows.batches(8192):
        losses = torch.nn.functional.binary_cross_entropy_with_logits(
            model(*b.inputs).float(), b.labels, reduction="none")
        total += float((losses * b.mask).sum())
        count += float(b.mask.sum())
    return total / max(count, 1.0)


def proxy_terms(supernet: Supernet, arch: ArchSpec, batches: list[Batch], cfg: WarmupConfig,
                loss_rows: TensorSplit | None = None, warm_rows: TensorSplit | None = None,
                steps: int = 0) -> dict[str, float]:
    """The SiGeo terms of one candidate: ``loss``, ``zico``, ``fisher_rao`` (see the module doc).
    ``loss_rows``: where the loss term is measured (default: the gradient batches);
    ``warm_rows``: where the per-candidate fine-tuning (``steps``) draws its batches."""
    model = supernet.extract(arch)
    finetune = bool(steps and warm_rows is not None and cfg.scorer == "finetuned")
    started = time.perf_counter()
    if finetune:
        _finetune(model, warm_rows, cfg, steps)
    tuned = time.perf_counter()
    losses, grads = zip(*(loss_and_grads(model, b) for b in batches))
    # seconds per training step; without fine-tuning, per forward+backward (a lower bound)
    step_seconds = (tuned - started) / steps if finetune else (time.perf_counter() - tuned) / len(batches)
    dots = [sum(float((p * g).sum()) for _, p, g in named) for named in grads]  # θ·g_b per batch
    fisher_rao = math.log(max(sum(d * d for d in dots) / len(dots), 1e-30))
    fisher_rao_sum = math.log(max(abs(sum(dots)), 1e-30))
    train_loss = sum(losses) / len(losses)
    loss = held_out_loss(model, loss_rows) if loss_rows is not None else train_loss
    return {"loss": loss, "train_loss": train_loss, "zico": zico_sum(list(grads)), "fisher_rao": fisher_rao,
            "fisher_rao_sum": fisher_rao_sum, "step_seconds": step_seconds}


TERMS = ("loss", "zico", "fisher_rao")
SCORERS = ("warmup_loss", "finetuned", "sigeo")


def standardisation(terms: dict[ArchSpec, dict[str, float]]) -> dict[str, tuple[float, float]]:
    """(mean, std) of each proxy term over a pool (std 1 where the pool does not vary)."""
    norms = {}
    for name in TERMS:
        values = [t[name] for t in terms.values()]
        mean = sum(values) / len(values)
        norms[name] = (mean, (sum((v - mean) ** 2 for v in values) / len(values)) ** 0.5 or 1.0)
    return norms


def score_of(t: dict[str, float], norms: dict[str, tuple[float, float]], geometry_weight: float,
             scorer: str = "finetuned") -> float:
    """A candidate's score from its terms (lower is better; see the module doc): SiGeo's raw sum,
    or z(loss) − w·z(zico) − w·z(fisher_rao) with z standardised by the pool's ``norms``."""
    if scorer == "sigeo":
        return -(t["zico"] + t["fisher_rao_sum"] - t["train_loss"])
    z = {name: (t[name] - mean) / std for name, (mean, std) in norms.items()}
    weight = geometry_weight if scorer == "finetuned" else 0.0
    return z["loss"] - weight * (z["zico"] + z["fisher_rao"])


def combine(terms: dict[ArchSpec, dict[str, float]], geometry_weight: float,
            norms: dict[str, tuple[float, float]] | None = None,
            scorer: str = "finetuned") -> dict[ArchSpec, dict[str, float]]:
    """Add ``score`` (``score_of``) to every candidate's terms; ``norms``: the pool's
    ``standardisation`` when already computed."""
    norms = norms or standardisation(terms)
    return {a: {**t, "score": score_of(t, norms, geometry_weight, scorer)} for a, t in terms.items()}


class WarmupScorer:
    """A supernet over ``pool``, warmed up (``stats``), that scores candidates from their
    inherited weights: the pool at once (``score_pool``), then any candidate one at a time
    (``score``), standardised like the pool so its score ranks among the pool's."""

    def __init__(self, dataset: Dataset, pool: list[ArchSpec], cfg: WarmupConfig = WarmupConfig()):
        torch.manual_seed(cfg.seed)
        self.cfg, self.pool = cfg, list(pool)
        self.supernet = Supernet(dataset.features, self.pool)
        self.stats = warm_up(self.supernet, dataset, cfg)
        self.batches = score_batches(dataset, cfg)
        rows = rows_for(dataset, cfg)
        self.warm_rows, self.loss_rows = rows.warm, rows.holdout  # training rows only
        self.steps = finetune_steps(cfg, len(dataset.splits["train"]))
        self.norms: dict[str, tuple[float, float]] | None = None  # set by score_pool

    def terms(self, arch: ArchSpec) -> dict[str, float]:
        return proxy_terms(self.supernet, arch, self.batches, self.cfg, self.loss_rows, self.warm_rows, self.steps)

    def score_pool(self, workers: int = 1) -> dict[ArchSpec, dict[str, float]]:
        """Terms and ``score`` of every pool candidate; ``workers`` > 1 scores them in that many
        forked one-thread processes (terms and ``step_seconds`` are then those of a one-thread
        trial; with one worker the driver scores on one thread too, so that the scores do not
        depend on the worker count)."""
        global _SCORING
        _SCORING = self
        threads = torch.get_num_threads()
        try:
            workers = max(1, min(workers, len(self.pool)))
            if workers == 1 or "fork" not in multiprocessing.get_all_start_methods():
                torch.set_num_threads(1)
                terms = [_score_one(i) for i in range(len(self.pool))]
            else:
                with multiprocessing.get_context("fork").Pool(workers, initializer=_single_thread) as procs:
                    terms = procs.map(_score_one, range(len(self.pool)), chunksize=1)
        finally:
            _SCORING = None
            torch.set_num_threads(threads)
        by_arch = dict(zip(self.pool, terms))
        self.norms = standardisation(by_arch)
        return combine(by_arch, self.cfg.geometry_weight, self.norms, self.cfg.scorer)

    def score(self, arch: ArchSpec) -> dict[str, float]:
        """Terms and ``score`` of one candidate, on one thread, standardised like the pool, and
        ``covered`` (1.0 when every block it needs was in the warmed store). An uncovered candidate
        (more experts, a wider block, a module kind in a slot no pool candidate had) grows the
        store: cells no pool candidate had keep their fresh initialisation and only the
        candidate's own fine-tuning trains them, so it scores somewhat worse than it would."""
        if self.norms is None:
            raise RuntimeError("score_pool first: a candidate's score is standardised like the pool's")
        covered = self.supernet.covers(arch)
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            t = self.terms(arch)
        finally:
            torch.set_num_threads(threads)
        return {**t, "covered": float(covered),
                "score": score_of(t, self.norms, self.cfg.geometry_weight, self.cfg.scorer)}


# The scorer forked scoring workers read (set by ``score_pool`` just before it forks them).
_SCORING: WarmupScorer | None = None


def _score_one(index: int) -> dict[str, float]:
    return _SCORING.terms(_SCORING.pool[index])


def _single_thread() -> None:
    torch.set_num_threads(1)


def warmup_proxy(dataset: Dataset, pool: list[ArchSpec], cfg: WarmupConfig = WarmupConfig(),
                 workers: int = 1) -> tuple[dict[ArchSpec, dict[str, float]], WarmupStats, float]:
    """Build the supernet over ``pool``, warm it up, score every candidate (``WarmupScorer``).
    Returns (scores per arch, warm-up stats, scoring seconds)."""
    scorer = WarmupScorer(dataset, pool, cfg)
    started = time.perf_counter()
    scores = scorer.score_pool(workers)
    return scores, scorer.stats, time.perf_counter() - started


def default_workers() -> int:
    """CPUs this process may use (the scoring pool's default size)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)

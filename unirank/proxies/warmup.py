"""The warm-up proxy (sub-one-shot NAS after SiGeo): warm a supernet up on a fraction of the
training data, then score candidates from their inherited weights.

Warm-up (``warm_up``): the supernet's store is trained with Adam on ``fraction`` of the training
rows (a seeded sample) for ``epochs`` passes; each step trains sub-networks drawn from the pool —
``uniform`` (one random path) or ``sandwich`` (the largest and the smallest path by parameter
count plus one random path, gradients summed; Yu & Huang, BigNAS/slimmable "sandwich rule").

Scoring (``sigeo_scores``), per candidate, on ``score_batches`` training batches *not* used in the
warm-up, with the inherited weights θ (``Supernet.extract``):

- ``loss``   L̂ = mean masked BCE (the warm-up training loss of the candidate);
- ``zico``   Σ_layers log(Σ_θ mean_b|g| / std_b(g)) — gradient signal-to-noise (ZiCo term);
- ``fisher_rao`` log mean_b(θ·g)² — the Fisher–Rao norm θᵀFθ with the empirical Fisher;
- ``sigeo``  = L̂ − λ_zico·zico/|layers| − λ_fr·fisher_rao, **lower is better** (SiGeo,
  Zheng et al. 2023: "SiGeo = −λ₃L̂ + λ₁·ZiCo + λ₂·log θᵀFθ", negated to rank like NE).

The defaults λ_zico = λ_fr = 0.02 were set on the built-in synthetic data only and are kept
fixed on real data (see ``benchmarks/proxy_fidelity.py``): the loss term carries the ranking; the
geometry terms break ties between candidates whose warm-up losses are close.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

import torch

from unirank.data.batches import Batch, TensorSplit
from unirank.data.dataset import Dataset
from unirank.proxies.supernet import Supernet
from unirank.space.arch import ArchSpec
from unirank.train.fit import masked_bce


@dataclass(frozen=True)
class WarmupConfig:
    fraction: float = 0.1       # of the training rows used for the warm-up
    epochs: int = 1
    batch_size: int = 512
    lr: float = 3e-3
    rule: str = "sandwich"      # sandwich | uniform
    score_batches: int = 4
    score_batch_size: int = 512
    lambda_zico: float = 0.02
    lambda_fisher_rao: float = 0.02
    seed: int = 0


@dataclass
class WarmupStats:
    steps: int
    paths_trained: int
    examples: int
    seconds: float


def _rows(split: TensorSplit, index: torch.Tensor) -> TensorSplit:
    return TensorSplit(**{k: v[index] for k, v in split.tensors().items()})


def split_for_warmup(dataset: Dataset, cfg: WarmupConfig) -> tuple[TensorSplit, TensorSplit]:
    """(warm-up rows, scoring rows): disjoint seeded samples of the training split."""
    train = dataset.splits["train"]
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))
    n_warm = max(cfg.batch_size, int(cfg.fraction * len(train)))
    n_score = cfg.score_batches * cfg.score_batch_size
    return _rows(train, order[:n_warm]), _rows(train, order[n_warm:n_warm + n_score])


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
                loss = masked_bce(supernet(arch, batch.dense, batch.sparse, batch.domain), batch.labels, batch.mask)
                (loss / len(chosen)).backward()
            optimizer.step()
            steps += 1
            paths += len(chosen)
    return WarmupStats(steps, paths, steps * cfg.batch_size, time.perf_counter() - started)


def score_batches(dataset: Dataset, cfg: WarmupConfig) -> list[Batch]:
    _, scoring = split_for_warmup(dataset, cfg)
    return list(scoring.batches(cfg.score_batch_size))[: cfg.score_batches]


def sigeo_score(supernet: Supernet, arch: ArchSpec, batches: list[Batch], cfg: WarmupConfig) -> dict[str, float]:
    """The SiGeo components and the combined score of one candidate (see the module doc)."""
    model = supernet.extract(arch)
    losses, grads, fr = [], [], []
    for b in batches:
        model.zero_grad(set_to_none=True)
        loss = masked_bce(model(b.dense, b.sparse, b.domain), b.labels, b.mask)
        loss.backward()
        losses.append(float(loss))
        named = [(n, p.detach(), p.grad.detach().clone()) for n, p in model.named_parameters() if p.grad is not None]
        grads.append(named)
        fr.append(sum(float((p * g).sum()) for _, p, g in named) ** 2)
    layers: dict[str, float] = {}
    for k, (name, _, _) in enumerate(grads[0]):
        stacked = torch.stack([g[k][2] for g in grads])
        mean, std = stacked.abs().mean(0), stacked.std(0)
        keep = std > 0
        layer = name.rsplit(".", 1)[0]
        layers[layer] = layers.get(layer, 0.0) + float((mean[keep] / std[keep]).sum())
    zico = sum(math.log(v) for v in layers.values() if v > 0)
    fisher_rao = math.log(max(sum(fr) / len(fr), 1e-30))
    loss = sum(losses) / len(losses)
    score = loss - cfg.lambda_zico * zico / max(1, len(layers)) - cfg.lambda_fisher_rao * fisher_rao
    return {"sigeo": score, "loss": loss, "zico": zico, "fisher_rao": fisher_rao}


def warmup_proxy(dataset: Dataset, pool: list[ArchSpec], cfg: WarmupConfig = WarmupConfig()
                 ) -> tuple[dict[ArchSpec, dict[str, float]], WarmupStats, float]:
    """Build the supernet over ``pool``, warm it up, score every candidate.
    Returns (scores per arch, warm-up stats, scoring seconds)."""
    torch.manual_seed(cfg.seed)
    supernet = Supernet(dataset.features, pool)
    stats = warm_up(supernet, dataset, cfg)
    started = time.perf_counter()
    batches = score_batches(dataset, cfg)
    scores = {arch: sigeo_score(supernet, arch, batches, cfg) for arch in pool}
    return scores, stats, time.perf_counter() - started

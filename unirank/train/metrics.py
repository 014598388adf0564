"""Ranking metrics per portfolio: NE, AUC, log loss, and their example-weighted means.

NE (normalized entropy, He et al. 2014; Meta's ranking papers) = mean log loss / H(p̄), where
H(p) = -p·log p - (1-p)·log(1-p) and p̄ is the mean label of the evaluated examples. A predictor
that always outputs the base rate has NE = 1; lower is better.

Two AUCs, named for what they are:
- **grouped AUC** (``auc`` of a portfolio; ``grouped_auc`` of an objective; ``mean_auc``): AUC
  within each portfolio (one domain, one objective), then the example-weighted mean. It only asks
  the model to rank examples of the same domain, like GAUC.
- **pooled AUC** (``pooled_auc`` of an objective; ``mean_pooled_auc``): AUC of one objective over
  all its labelled examples, every domain together — the number papers and FuxiCTR/BARS report.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

_EPS = 1e-7


def log_loss(labels: np.ndarray, probs: np.ndarray) -> float:
    probs = np.clip(probs.astype(np.float64), _EPS, 1 - _EPS)
    labels = labels.astype(np.float64)
    return float(-np.mean(labels * np.log(probs) + (1 - labels) * np.log(1 - probs)))


def binary_entropy(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log(p) + (1 - p) * math.log(1 - p))


def normalized_entropy(labels: np.ndarray, probs: np.ndarray) -> float:
    """log loss / entropy of the base rate; NaN when all labels are equal (entropy 0)."""
    entropy = binary_entropy(float(np.mean(labels)))
    return log_loss(labels, probs) / entropy if entropy > 0 else float("nan")


def auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """ROC AUC as the Mann-Whitney statistic, ties counted half; NaN for a single class.

    (Pure numpy, so that evaluation on a bare GPU image needs no scikit-learn.)
    """
    labels = np.asarray(labels) > 0.5
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    _, inverse, counts = np.unique(np.asarray(probs), return_inverse=True, return_counts=True)
    average_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based mean rank of each tie group
    rank_sum = average_rank[inverse][labels].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


@dataclass
class EvalResult:
    """Per-portfolio metrics (``"<domain>/<objective>" → {ne, auc, logloss, count, base_rate}``)
    and their means weighted by the number of labelled examples in each portfolio."""

    portfolios: dict[str, dict[str, float]] = field(default_factory=dict)
    objectives: dict[str, dict[str, float]] = field(default_factory=dict)
    mean_ne: float = float("nan")
    mean_auc: float = float("nan")
    mean_logloss: float = float("nan")
    mean_pooled_auc: float = float("nan")

    def to_dict(self) -> dict:
        return {"mean_ne": self.mean_ne, "mean_auc": self.mean_auc, "mean_pooled_auc": self.mean_pooled_auc,
                "mean_logloss": self.mean_logloss, "portfolios": self.portfolios,
                "objectives": self.objectives}


def portfolio_metrics(probs: np.ndarray, labels: np.ndarray, mask: np.ndarray, domain: np.ndarray,
                      domains: list[str] | tuple[str, ...],
                      objectives: list[str] | tuple[str, ...]) -> EvalResult:
    """``probs``, ``labels``, ``mask`` [N, T]; ``domain`` [N] → EvalResult.

    ``objectives`` holds, per objective, the example-weighted means over its domains (``ne``,
    ``grouped_auc``, ``logloss``) and the ``pooled_auc`` over all its labelled examples.
    """
    result = EvalResult()
    sums = {"ne": [0.0, 0.0], "auc": [0.0, 0.0], "logloss": [0.0, 0.0]}
    for d, domain_name in enumerate(domains):
        for t, objective in enumerate(objectives):
            rows = (domain == d) & mask[:, t]
            count = int(rows.sum())
            if count == 0:
                continue
            y, p = labels[rows, t], probs[rows, t]
            metrics = {"ne": normalized_entropy(y, p), "auc": auc(y, p), "logloss": log_loss(y, p),
                       "count": count, "base_rate": float(np.mean(y))}
            result.portfolios[f"{domain_name}/{objective}"] = metrics
            for name, acc in sums.items():
                if math.isfinite(metrics[name]):
                    acc[0] += metrics[name] * count
                    acc[1] += count
    result.mean_ne, result.mean_auc, result.mean_logloss = (
        (acc[0] / acc[1] if acc[1] else float("nan")) for acc in sums.values()
    )
    pooled = []
    for t, objective in enumerate(objectives):
        parts = [m for name, m in result.portfolios.items() if name.rsplit("/", 1)[1] == objective]
        rows = mask[:, t].astype(bool)
        means = {key: _weighted([(m[metric], m["count"]) for m in parts])
                 for key, metric in (("ne", "ne"), ("grouped_auc", "auc"), ("logloss", "logloss"))}
        means["pooled_auc"] = auc(labels[rows, t], probs[rows, t]) if rows.any() else float("nan")
        means["count"] = int(rows.sum())
        result.objectives[objective] = means
        pooled.append((means["pooled_auc"], means["count"]))
    result.mean_pooled_auc = _weighted(pooled)
    return result


def with_losses(ranking: EvalResult, losses: EvalResult) -> EvalResult:
    """``ranking``'s AUCs with ``losses``' NE and log loss (portfolios, objectives, means): the two
    results of one split scored two ways (``unirank.train.fit``: a calibrated model's AUCs are its
    served table's, its losses cross-fitted)."""
    return EvalResult(portfolios={k: {**v, **{m: losses.portfolios[k][m] for m in ("ne", "logloss")}}
                                  for k, v in ranking.portfolios.items()},
                      objectives={k: {**v, **{m: losses.objectives[k][m] for m in ("ne", "logloss")}}
                                  for k, v in ranking.objectives.items()},
                      mean_ne=losses.mean_ne, mean_auc=ranking.mean_auc, mean_logloss=losses.mean_logloss,
                      mean_pooled_auc=ranking.mean_pooled_auc)


def _weighted(pairs: list[tuple[float, int]]) -> float:
    pairs = [(v, n) for v, n in pairs if math.isfinite(v)]
    total = sum(n for _, n in pairs)
    return sum(v * n for v, n in pairs) / total if total else float("nan")

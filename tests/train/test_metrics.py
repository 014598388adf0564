import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from unirank.train.metrics import auc, binary_entropy, log_loss, normalized_entropy, portfolio_metrics


def test_ne_of_base_rate_predictor_is_one():
    labels = np.array([1, 0, 0, 0, 1, 0, 0, 0, 0, 0], dtype=float)
    assert normalized_entropy(labels, np.full(10, 0.2)) == pytest.approx(1.0)


def test_ne_is_logloss_over_entropy():
    labels = np.array([1, 0, 1, 1], dtype=float)
    probs = np.array([0.9, 0.2, 0.6, 0.7])
    assert normalized_entropy(labels, probs) == pytest.approx(log_loss(labels, probs) / binary_entropy(0.75))
    assert binary_entropy(0.5) == pytest.approx(math.log(2))


def test_auc_matches_scikit_learn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.random(2000) < 0.3
    probs = np.round(rng.random(2000) + 0.4 * labels, 1)
    assert auc(labels, probs) == pytest.approx(roc_auc_score(labels, probs))
    assert math.isnan(auc(np.ones(5), np.linspace(0, 1, 5)))


def test_portfolio_means_are_weighted_by_labelled_examples():
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    mask = np.array([[1, 1], [1, 1], [1, 0], [1, 0]], dtype=bool)
    probs = np.full((4, 2), 0.5)
    domain = np.array([0, 0, 1, 1])
    result = portfolio_metrics(probs, labels, mask, domain, ["a", "b"], ["x", "y"])
    assert set(result.portfolios) == {"a/x", "a/y", "b/x"}  # b/y has no labels: no portfolio entry
    assert result.portfolios["a/x"]["count"] == 2
    expected = sum(m["ne"] * m["count"] for m in result.portfolios.values()) / 6
    assert result.mean_ne == pytest.approx(expected)


def test_objective_means_pool_their_domains():
    labels = np.array([[1, 0], [0, 1], [1, 1], [0, 0]], dtype=float)
    mask = np.ones((4, 2), dtype=bool)
    probs = np.array([[0.8, 0.3], [0.3, 0.6], [0.4, 0.7], [0.6, 0.2]])
    result = portfolio_metrics(probs, labels, mask, np.array([0, 0, 1, 1]), ["a", "b"], ["x", "y"])
    p = result.portfolios
    assert result.objectives["x"]["grouped_auc"] == pytest.approx((p["a/x"]["auc"] * 2 + p["b/x"]["auc"] * 2) / 4)
    assert set(result.objectives) == {"x", "y"}


def test_pooled_auc_ranks_all_domains_together_and_differs_from_the_grouped_mean():
    # Within each domain the model ranks perfectly (grouped AUC 1), but domain b's scores all sit
    # below domain a's although b has positives: pooled over the objective, AUC is below 1.
    labels = np.array([[1], [0], [1], [0]], dtype=float)
    probs = np.array([[0.9], [0.8], [0.3], [0.2]])
    result = portfolio_metrics(probs, labels, np.ones((4, 1), bool), np.array([0, 0, 1, 1]), ["a", "b"], ["x"])
    x = result.objectives["x"]
    assert x["grouped_auc"] == pytest.approx(1.0) and result.mean_auc == pytest.approx(1.0)
    assert x["pooled_auc"] == pytest.approx(roc_auc_score(labels[:, 0], probs[:, 0])) == pytest.approx(0.75)
    assert result.mean_pooled_auc == pytest.approx(0.75) and x["count"] == 4
    assert result.to_dict()["mean_pooled_auc"] == pytest.approx(0.75)

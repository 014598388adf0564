"""Proxy scores: finite, deterministic, and the warm-up really trains the supernet."""
import math
import time

import torch

from unirank.models.ranker import build_model
from unirank.proxies.short_train import short_train_ne
from unirank.proxies.supernet import Supernet
from unirank.proxies.warmup import (WarmupConfig, WarmupScorer, combine, proxy_terms, score_batches,
                                    warm_up, warmup_proxy)
from unirank.proxies.zero_cost import ZERO_COST
from unirank.search.screening import ProxyGate
from unirank.space import PRESETS
from unirank.train.fit import masked_bce


def _batches(dataset, n=3):
    return list(dataset.splits["train"].batches(256, torch.Generator().manual_seed(0)))[:n]


def test_zero_cost_proxies_are_finite_repeatable_and_leave_the_model_as_it_was(tiny_dataset):
    batches = _batches(tiny_dataset)
    for preset in ("dcnv2", "mmoe", "autoint"):
        torch.manual_seed(0)
        model = build_model(PRESETS[preset], tiny_dataset.features)
        before = {k: v.clone() for k, v in model.state_dict().items()}
        for name, proxy in ZERO_COST.items():
            first, second = proxy(model, batches), proxy(model, batches)
            assert math.isfinite(first) and first == second, (preset, name)
        for k, v in model.state_dict().items():
            assert torch.equal(v, before[k]), (preset, k)  # synflow restores the signs
    small = build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features)
    large = build_model(PRESETS["dcnv2"], tiny_dataset.features)
    assert ZERO_COST["params"](large, batches) < ZERO_COST["params"](small, batches)


def test_zero_cost_proxies_score_sequence_models(tiny_sequence_dataset):
    batches = _batches(tiny_sequence_dataset)
    for preset in ("din", "bst"):
        torch.manual_seed(0)
        model = build_model(PRESETS[preset], tiny_sequence_dataset.features)
        for name, proxy in ZERO_COST.items():
            assert math.isfinite(proxy(model, batches)), (preset, name)


def test_warm_up_lowers_every_paths_loss_and_scores_have_all_terms(tiny_dataset):
    pool = [PRESETS[n] for n in ("shared_bottom_mlp", "dcnv2", "mmoe", "star")]
    cfg = WarmupConfig(fraction=0.5, epochs=2, batch_size=256, lr=3e-3)
    torch.manual_seed(0)
    supernet = Supernet(tiny_dataset.features, pool)
    batches = score_batches(tiny_dataset, cfg)

    def loss(arch):
        with torch.no_grad():
            return sum(float(masked_bce(supernet(arch, b.dense, b.sparse, b.domain), b.labels, b.mask))
                       for b in batches) / len(batches)

    before = {a: loss(a) for a in pool}
    stats = warm_up(supernet, tiny_dataset, cfg)
    assert stats.steps > 0 and stats.paths_trained == 3 * stats.steps  # sandwich: 3 paths per step
    terms = {}
    for arch in pool:
        assert loss(arch) < before[arch], arch.summary()
        terms[arch] = proxy_terms(supernet, arch, batches, cfg)  # no fine-tuning rows: pure inheritance
        assert set(terms[arch]) == {"loss", "train_loss", "zico", "fisher_rao", "fisher_rao_sum", "step_seconds"}
        assert terms[arch]["step_seconds"] > 0
        assert all(math.isfinite(v) for v in terms[arch].values())
        assert abs(terms[arch]["loss"] - loss(arch)) < 1e-5
    scores = combine(terms, geometry_weight=0.0)
    assert sorted(pool, key=lambda a: scores[a]["score"]) == sorted(pool, key=lambda a: terms[a]["loss"])
    assert abs(sum(s["score"] for s in scores.values())) < 1e-9  # standardised over the pool


def test_short_training_baseline_improves_on_initialisation(tiny_dataset):
    arch = PRESETS["shared_bottom_mlp"]
    assert short_train_ne(arch, tiny_dataset, steps=30) < short_train_ne(arch, tiny_dataset, steps=1)


def test_scoring_in_worker_processes_gives_the_same_scores(tiny_dataset):
    pool = [PRESETS[n] for n in ("shared_bottom_mlp", "dcnv2", "mmoe", "star", "deepfm")]
    cfg = WarmupConfig(fraction=0.3, batch_size=256, finetune_steps=5)
    alone, _, _ = warmup_proxy(tiny_dataset, pool, cfg, workers=1)
    forked, _, _ = warmup_proxy(tiny_dataset, pool, cfg, workers=2)
    for arch in pool:
        for term in ("loss", "zico", "fisher_rao", "score"):
            assert math.isclose(alone[arch][term], forked[arch][term], rel_tol=1e-6, abs_tol=1e-9), term
        assert forked[arch]["step_seconds"] > 0


def test_one_candidate_scored_alone_ranks_among_the_pool_and_the_gate_keeps_the_better_share(tiny_dataset):
    pool = [PRESETS[n] for n in ("shared_bottom_mlp", "dcnv2", "mmoe", "star", "deepfm", "dlrm")]
    scorer = WarmupScorer(tiny_dataset, pool, WarmupConfig(fraction=0.3, batch_size=256, finetune_steps=5))
    scores = scorer.score_pool(workers=1)
    for arch in pool[:2]:  # standardised like the pool: scored alone, a pool member gets its pool score
        assert math.isclose(scorer.score(arch)["score"], scores[arch]["score"], rel_tol=1e-6, abs_tol=1e-9)
    gate = ProxyGate(scorer, [s["score"] for s in scores.values()], share=0.5, seconds_for=lambda s: 1e4 * s)
    ranked = sorted(pool, key=lambda a: scores[a]["score"])
    for arch in ranked[:3]:
        score, reason = gate.check(arch)
        assert reason is None and score["predicted_seconds"] == 1e4 * score["step_seconds"]
    # with a clock: a well-scored candidate predicted to outlast the time left is not trained either
    # (an hour left; seconds_for predicts at least 1e6 × a step's seconds, far longer on any machine)
    gate.seconds_for = lambda s: 1e6 * max(s, 1e-2)
    gate.deadline = time.perf_counter() + 3600
    assert "budget.max_wall_minutes" in gate.check(ranked[0])[1] and not gate.out_of_time()
    gate.deadline = time.perf_counter() + 1  # less than a trial's start-up: the searcher stops asking
    assert gate.out_of_time()
    for arch in ranked[3:]:
        score, reason = gate.check(arch)
        assert score["score"] > gate.threshold and "search.screen.gate" in reason
    assert all(gate.check(arch)[0]["covered"] == 1.0 for arch in pool)
    score, _ = gate.check(PRESETS["autoint"])  # attention: not in the pool, scored on a grown store
    assert score["covered"] == 0.0 and math.isfinite(score["score"]) and scorer.supernet.covers(PRESETS["autoint"])


def _scores_on(dataset, scorer):
    pool = [PRESETS[n] for n in ("shared_bottom_mlp", "dcnv2", "deepfm")]
    cfg = WarmupConfig(fraction=0.3, batch_size=256, finetune_steps=5, scorer=scorer)
    scores, _, _ = warmup_proxy(dataset, pool, cfg, workers=1)
    return [scores[a]["score"] for a in pool], [scores[a]["loss"] for a in pool]


def test_the_proxy_reads_no_validation_or_test_row():
    from unirank.data.dataset import build_dataset
    from tests.conftest import TINY_DATA

    clean = _scores_on(build_dataset(TINY_DATA), "finetuned")
    poisoned = build_dataset(TINY_DATA)
    for name in ("val", "test"):  # every label flipped, every dense value scrambled
        split = poisoned.splits[name]
        split.labels.copy_(1 - split.labels)
        split.dense.copy_(torch.randn_like(split.dense) * 100)
    assert _scores_on(poisoned, "finetuned") == clean
    # the comparison can fail: poisoning the training rows does change the scores
    poisoned_train = build_dataset(TINY_DATA)
    poisoned_train.splits["train"].labels.copy_(1 - poisoned_train.splits["train"].labels)
    assert _scores_on(poisoned_train, "finetuned") != clean


def test_the_three_scorers_are_what_their_names_say(tiny_dataset):
    pool = [PRESETS[n] for n in ("shared_bottom_mlp", "dcnv2", "mmoe")]
    results = {}
    for scorer in ("warmup_loss", "finetuned", "sigeo"):
        cfg = WarmupConfig(fraction=0.3, batch_size=256, finetune_steps=5, scorer=scorer)
        results[scorer], _, _ = warmup_proxy(tiny_dataset, pool, cfg, workers=1)
    for a in pool:
        t = results["sigeo"][a]  # the paper's sum, λ = 1, on the inherited weights
        assert t["score"] == -(t["zico"] + t["fisher_rao_sum"] - t["train_loss"])
        # no per-candidate training for warmup_loss and sigeo: same inherited weights, same loss
        assert results["warmup_loss"][a]["loss"] == t["loss"]
        assert results["finetuned"][a]["loss"] != t["loss"]  # fine-tuned first
    for scorer in ("warmup_loss", "finetuned"):  # the loss alone, standardised over the pool
        ranked = sorted(pool, key=lambda a: results[scorer][a]["score"])
        assert ranked == sorted(pool, key=lambda a: results[scorer][a]["loss"])

"""Samplers from the config are seeded: the same config and seed give the same first candidates."""
import optuna
import pytest

from unirank.config import config_from_dict
from unirank.search.objectives import constraint_values, objective_values
from unirank.search.predictor import PredictorProposer
from unirank.search.study import make_sampler
from unirank.space import SearchSpace


def _config(sampler, seed=0, **extra):
    return config_from_dict({"name": "t", "data": {"source": "synthetic"},
                             "search": {"sampler": sampler, "seed": seed, **extra}})


def _first(sampler, seed, n=10):
    cfg = _config(sampler, seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler(cfg))
    space, archs = SearchSpace(cfg.space), []
    for i in range(n):
        trial = study.ask()
        arch = space.suggest(trial)
        archs.append(arch)
        trial.set_constraint("max_mflops", -0.5 if i % 3 else 0.5)
        study.tell(trial, [1.0 / (i + 2), float(len(arch.layers))])
    return archs


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random", "gp"])
def test_same_config_and_seed_same_first_candidates(sampler):
    assert _first(sampler, 0) == _first(sampler, 0)
    assert _first(sampler, 0) != _first(sampler, 1)


def test_predictor_proposals_are_seeded_and_follow_the_model(tiny_dataset):
    cfg = _config("predictor")
    space = SearchSpace(cfg.space, tiny_dataset.features)

    def proposals(seed):
        study = optuna.create_study(directions=["minimize", "minimize"],
                                    sampler=optuna.samplers.RandomSampler(seed=0))
        for _ in range(30):
            trial = study.ask()
            arch = space.suggest(trial)
            ne = 0.5 + 0.05 * len(arch.layers)  # the truth the forest must learn: fewer layers win
            trial.set_user_attr("metrics", {"mean_ne": ne})
            study.tell(trial, [ne, 1.0])
        proposer = PredictorProposer(space, tiny_dataset.features, seed)
        return [proposer.propose(study) for _ in range(5)]

    first = proposals(7)
    assert first == proposals(7)
    assert sum(p["num_layers"] for p in first) / len(first) <= 2.0  # prior mean over 1..4 is 2.5


def test_scalarized_objective_penalises_cost_above_target():
    from unirank.proxies.cost import Cost

    cfg = _config("tpe", objective="scalarized", penalty_lambda=0.1, target_mflops=1.0)
    cheap = Cost(flops_per_example=0.5e6, dense_params=1, embedding_params=1, lookups_per_example=1,
                 embedding_bytes_per_example=4)
    costly = Cost(flops_per_example=4e6, dense_params=1, embedding_params=1, lookups_per_example=1,
                  embedding_bytes_per_example=4)
    assert objective_values(cfg.search, 0.8, cheap) == [0.8]
    assert objective_values(cfg.search, 0.8, costly) == [pytest.approx(0.8 + 0.1 * 1.3862943611)]
    budget = config_from_dict({"name": "t", "data": {"source": "synthetic"},
                               "budget": {"max_mflops": 2.0}}).budget
    assert constraint_values(budget, costly) == {"max_mflops": pytest.approx(1.0)}
    assert constraint_values(budget, cheap) == {"max_mflops": pytest.approx(-0.75)}


def test_over_target_infeasible_caps_candidates_at_the_target_without_training_them(tiny_dataset):
    """An iso-FLOPs search: with ``over_target: infeasible`` no candidate above the scalarised
    target is handed to Ray; each one the sampler proposed is told infeasible with its constraint."""
    from unirank.search.searcher import OptunaArchSearcher

    cfg = _config("random", objective="scalarized", target_mflops=0.05, over_target="infeasible")
    study = optuna.create_study(directions=["minimize"], sampler=make_sampler(cfg))
    searcher = OptunaArchSearcher(study, SearchSpace(cfg.space, tiny_dataset.features), tiny_dataset.features,
                                  cfg.budget.model_copy(update={"trials": 6}), {}, cfg.search)
    handed = [searcher.suggest(f"t{i}") for i in range(6)]
    assert all(isinstance(h, dict) for h in handed)
    running = [e.cost.mflops for e in searcher.running.values()]
    assert len(running) == 6 and max(running) <= 0.05
    over = [t for t in study.trials if t.user_attrs.get("infeasible")]
    assert over, "the default space proposes candidates above 0.05 MFLOPs; some must have been refused"
    for t in over:
        assert "over the target" in t.user_attrs["infeasible"]
        assert t.constraints["target_mflops"] > 0 and t.user_attrs["cost"]["mflops"] > 0.05


def test_over_target_infeasible_needs_the_scalarised_objective():
    from unirank.errors import UnirankError

    with pytest.raises(UnirankError, match="search: .*over_target: 'infeasible' needs objective: scalarized"):
        _config("tpe", over_target="infeasible")


def test_the_driver_times_a_proposal_only_when_a_latency_budget_needs_it(tiny_dataset):
    """Latency is measured where a candidate trains; the driver times a proposal's inference itself
    only to check ``budget.max_latency_ms`` before training (and then the budget acts on it)."""
    import math

    from unirank.search.searcher import OptunaArchSearcher

    def costs(**budget):
        cfg = _config("random")
        study = optuna.create_study(directions=["minimize", "minimize"], sampler=make_sampler(cfg))
        searcher = OptunaArchSearcher(study, SearchSpace(cfg.space, tiny_dataset.features), tiny_dataset.features,
                                      cfg.budget.model_copy(update={"trials": 3, **budget}), {}, cfg.search)
        for i in range(3):
            searcher.suggest(f"t{i}")
        return [e.cost for e in searcher.running.values()], study

    untimed, _ = costs()
    assert len(untimed) == 3 and all(math.isnan(c.latency_ms) and c.latency_batch == 0 for c in untimed)
    timed, study = costs(max_latency_ms=1e6)
    assert len(timed) == 3 and all(c.latency_ms > 0 and c.latency_batch == 256 for c in timed)
    assert all(t.constraints["max_latency_ms"] < 0 for t in study.trials)  # within the budget, as measured

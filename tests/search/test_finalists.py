"""search.tune: the run's last candidates retrain the best architectures with other training values."""
import json

import optuna
import pytest

from unirank.config import TuneConfig, config_from_dict
from unirank.errors import UnirankError
from unirank.proxies.cost import measure_cost
from unirank.search.finalists import tuning_draws
from unirank.search.searcher import OptunaArchSearcher
from unirank.space import PRESETS
from unirank.space.search_space import SearchSpace

TRAIN = {"lr": [0.0003, 0.001, 0.003], "batch_size": [256, 512]}


def _config(**search):
    return config_from_dict({"name": "t", "data": {"source": "synthetic"}, "space": {"train": TRAIN},
                             "search": {"sampler": "tpe", **search}})


def _presets_study(space):
    """Every flat preset as a finished trial with its parameters (training values lr 0.001, batch
    512) and made-up objective values: this tests which points are proposed, not a search result."""
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    flat = sorted((n, a) for n, a in PRESETS.items() if a.sequence is None)
    for k, (name, arch) in enumerate(flat):
        params, distributions = space.point(arch)
        train = {"lr": 0.001, "batch_size": 512}
        train_params, train_distributions = space.train_point(train)
        study.add_trial(optuna.trial.create_trial(
            params={**params, **train_params}, distributions={**distributions, **train_distributions},
            value=0.40 - 0.01 * k, user_attrs={"arch": arch.to_dict(), "train": train, "preset": name}))
    return study


def _arch(trial) -> str:
    return json.dumps(trial.user_attrs["arch"], sort_keys=True)


def test_the_last_candidates_retrain_the_best_architectures_with_unseen_training_values(tiny_dataset):
    cfg = _config(tune={"top": 2, "trials": 3})
    space = SearchSpace(cfg.space, tiny_dataset.features)
    study = _presets_study(space)
    ranked = sorted(study.trials, key=lambda t: t.values[0])
    best, second = _arch(ranked[0]), _arch(ranked[1])
    searcher = OptunaArchSearcher(study, space, tiny_dataset.features, cfg.budget.model_copy(update={"trials": 5}),
                                  {}, cfg.search)
    for i in range(5):
        assert isinstance(searcher.suggest(f"t{i}"), dict)
    trials = [searcher.running[f"t{i}"].trial for i in range(5)]
    tuned = trials[2:]  # the last 3 of 5
    # the finalist trained least often goes first (running trainings count), rank breaks ties
    assert [_arch(t) for t in tuned] == [best, second, best]
    points = [(_arch(t), json.dumps(t.user_attrs.get("train"), sort_keys=True)) for t in study.trials]
    assert len(set(points)) == len(points)  # no architecture retrained with values it had


def test_tuning_needs_training_values_to_tune():
    with pytest.raises(UnirankError, match="search.tune: needs training values"):
        config_from_dict({"name": "t", "data": {"source": "synthetic"}, "search": {"tune": {"top": 2, "trials": 4}}})


def test_left_out_the_last_third_tunes_two_finalists_where_training_values_are_searched():
    def tune(**extra):
        return config_from_dict({"name": "t", "data": {"source": "synthetic"}, **extra}).search.tune

    assert tune(space={"train": TRAIN}, budget={"trials": 12}) == TuneConfig(top=2, trials=4)
    assert tune(space={"train": TRAIN}, budget={"trials": 8}) is None  # too short a run to spare a third
    assert tune(budget={"trials": 12}) is None  # nothing to tune
    assert tune(space={"train": TRAIN}, search={"sampler": "random"}) is None  # random search stays plain
    assert tune(space={"train": TRAIN}, search={"tune": None}) is None  # null turns it off
    assert tune(space={"train": TRAIN}, search={"tune": {"top": 3, "trials": 5}}) == TuneConfig(top=3, trials=5)


def _add_searched(study, space, arch_and_train=None, seed=3, value=0.45):
    """A searched (not preset) trial: a random point of the space, or ``arch_and_train``'s."""
    if arch_and_train is None:
        draw = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        t = draw.ask()
        arch, train = space.suggest(t), space.suggest_train(t)
        draw.tell(t, 0.0)
        params, distributions = draw.trials[0].params, draw.trials[0].distributions
    else:
        arch, train = arch_and_train
        params, distributions = space.point(arch)
        train_params, train_distributions = space.train_point(train)
        params, distributions = {**params, **train_params}, {**distributions, **train_distributions}
    study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions, value=value,
                                              user_attrs={"arch": arch.to_dict(), "train": train}))
    return arch


def test_without_presets_the_finalists_are_searched_architectures_only(tiny_dataset):
    cfg = _config(tune={"top": 2, "trials": 3, "presets": False})
    space = SearchSpace(cfg.space, tiny_dataset.features)
    study = _presets_study(space)
    best_preset = min(study.trials, key=lambda t: t.values[0])
    # the best preset's architecture proposed by the sampler (other training values) is still a
    # preset's; a worse random architecture is the one searched finalist
    _add_searched(study, space, (PRESETS[best_preset.user_attrs["preset"]], {"lr": 0.003, "batch_size": 256}), value=0.30)
    searched = json.dumps(_add_searched(study, space).to_dict(), sort_keys=True)
    assert searched not in {json.dumps(a.to_dict(), sort_keys=True) for a in PRESETS.values()}
    searcher = OptunaArchSearcher(study, space, tiny_dataset.features, cfg.budget.model_copy(update={"trials": 3}),
                                  {}, cfg.search)
    for i in range(3):
        assert isinstance(searcher.suggest(f"t{i}"), dict)
    tuned = [searcher.running[f"t{i}"].trial for i in range(3)]
    assert [_arch(t) for t in tuned] == [searched] * 3
    assert len({json.dumps(t.user_attrs["train"], sort_keys=True) for t in tuned}) == 3


def test_a_weight_decay_that_does_nothing_is_the_same_training(tiny_dataset):
    """At lr 0.001 a weight decay of 1e-5 leaves float32 weights as they are (unirank.train.optim
    .decays): the searcher answers it from the trial trained without decay, and the finalists'
    tuning never proposes it as new."""
    cfg = config_from_dict({"name": "t", "data": {"source": "synthetic"},
                            "space": {"train": {"lr": [0.001], "weight_decay": [0.0, 1e-5, 1e-4]}},
                            "search": {"sampler": "tpe", "tune": {"top": 1, "trials": 2}}})
    space = SearchSpace(cfg.space, tiny_dataset.features)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    arch = _add_searched(optuna.create_study(), space)  # a random point of the space
    _add_searched(study, space, (arch, {"lr": 0.001, "weight_decay": 0.0}), value=0.40)
    first = study.trials[0]
    study.enqueue_trial({**first.params, "train_weight_decay": 1e-5})
    searcher = OptunaArchSearcher(study, space, tiny_dataset.features, cfg.budget.model_copy(update={"trials": 2}),
                                  {}, cfg.search)
    assert isinstance(searcher.suggest("t0"), dict)
    twin = study.trials[1]
    assert twin.params["train_weight_decay"] == 1e-5 and twin.user_attrs["same_as_trial"] == first.number
    # the finalist (the one architecture) is retrained with the one weight decay that differs
    tuned = searcher.running["t0"].trial
    assert _arch(tuned) == json.dumps(arch.to_dict(), sort_keys=True)
    assert tuned.user_attrs["train"] == {"lr": 0.001, "weight_decay": 1e-4}


def _finish(searcher, trial_id: str, mean_ne: float) -> None:
    """What Ray Tune hands the searcher when a training ends (made-up NE: which training comes next
    is under test, not a training result)."""
    searcher.on_trial_complete(trial_id, {"final": True, "mean_ne": mean_ne, "weights": "w",
                                          "metrics": json.dumps({"mean_ne": mean_ne})})


TUNED = ("dcnv2", "deepfm", "star")
OWN = {"lr": 0.001, "batch_size": 512}  # the study's training values: what presets train with


def _tuning_searcher(study, space, features, **search):
    cfg = _config(tune=None, tune_presets={"top": 1, "trainings": 3}, **search)
    return OptunaArchSearcher(study, space, features, cfg.budget.model_copy(update={"trials": 2}),
                              {n: PRESETS[n] for n in TUNED}, cfg.search, train_defaults=OWN)


def test_the_best_preset_is_tuned_before_the_first_proposal_and_its_best_training_is_the_target(tiny_dataset):
    space = SearchSpace(_config().space, tiny_dataset.features)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    searcher = _tuning_searcher(study, space, tiny_dataset.features, objective="scalarized", over_target="infeasible")
    presets = {f"p{i}": searcher.suggest(f"p{i}") for i in range(3)}
    assert searcher.suggest("x") is None  # the sampler waits for the presets
    for trial_id, config in presets.items():
        _finish(searcher, trial_id, {"dcnv2": 0.50, "deepfm": 0.45, "star": 0.48}[config["preset"]])
    tunings = [searcher.suggest(f"t{i}") for i in range(2)]
    assert [c["preset"] for c in tunings] == ["deepfm", "deepfm"]  # the best one only (top 1)
    draws = tuning_draws(PRESETS["deepfm"].to_dict(), OWN, space.config.train.searched(), 3, "deepfm-0")
    assert [c["train"] for c in tunings] == draws[1:] and OWN not in draws[1:]
    assert searcher.suggest("x") is None and "target_mflops" not in study.user_attrs  # waits for the tuning too
    _finish(searcher, "t0", 0.46)
    _finish(searcher, "t1", 0.44)
    assert study.user_attrs["target_mflops"] == pytest.approx(measure_cost(PRESETS["deepfm"], tiny_dataset.features).mflops)
    assert study.user_attrs["target_mflops_source"] == "preset deepfm (tuning 2) (best validation NE 0.4400)"
    tuned = sorted((t for t in study.trials if t.user_attrs.get("preset_tuning")), key=lambda t: t.user_attrs["preset_tuning"])
    assert [t.user_attrs["train"] for t in tuned] == draws[1:]
    for t in tuned:  # observations the sampler learns from: the preset's point with the tuning's values
        assert t.user_attrs["preset"] == "deepfm" and t.params["train_lr"] == t.user_attrs["train"]["lr"]
        assert {k: v for k, v in t.params.items() if not k.startswith("train_")} == space.point(PRESETS["deepfm"])[0]
    searched = searcher.suggest("s0")
    assert "preset" not in searched and max(t.number for t in study.trials if "preset" in t.user_attrs) < \
        searcher.running["s0"].trial.number


def test_a_resumed_study_runs_only_the_tunings_it_lacks(tiny_dataset):
    space = SearchSpace(_config().space, tiny_dataset.features)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=optuna.samplers.NSGAIISampler(seed=0))
    first = _tuning_searcher(study, space, tiny_dataset.features, objective="pareto")
    presets = {f"p{i}": first.suggest(f"p{i}") for i in range(3)}
    for trial_id, config in presets.items():
        _finish(first, trial_id, {"dcnv2": 0.40, "deepfm": 0.45, "star": 0.48}[config["preset"]])
    tuning = first.suggest("t0")
    assert tuning["preset"] == "dcnv2"
    _finish(first, "t0", 0.41)  # then the process dies before the second tuning ends
    again = _tuning_searcher(study, space, tiny_dataset.features, objective="pareto")
    rest = again.suggest("r0")
    assert rest["preset"] == "dcnv2" and rest["train"] != tuning["train"] and rest["key"] == "preset-dcnv2-tuning2"
    _finish(again, "r0", 0.39)
    assert "preset" not in again.suggest("s0")
    assert sorted(t.user_attrs.get("preset_tuning", 0) for t in study.trials if "preset" in t.user_attrs) == [0, 0, 0, 1, 2]


def test_tuning_presets_needs_training_values_to_tune():
    with pytest.raises(UnirankError, match="search.tune_presets: needs training values"):
        config_from_dict({"name": "t", "data": {"source": "synthetic"},
                          "search": {"tune_presets": {"top": 2, "trainings": 4}}})

"""search.tune: the run's last candidates retrain the best architectures with other training values."""
import json

import optuna
import pytest

from unirank.config import TuneConfig, config_from_dict
from unirank.errors import UnirankError
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

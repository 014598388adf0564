"""SearchSpace.point, the inverse of suggest: presets and sampled architectures as parameters."""
import optuna
import pytest

from unirank.config import SpaceConfig
from unirank.space import PRESETS
from unirank.space.search_space import OutsideSpace, SearchSpace


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_point_of_the_default_space(name, tiny_dataset, tiny_sequence_dataset):
    data = tiny_sequence_dataset if PRESETS[name].sequence is not None else tiny_dataset
    space = SearchSpace(SpaceConfig(), data.features)
    params, distributions = space.point(PRESETS[name])
    assert set(params) == set(distributions)
    assert space.suggest(optuna.trial.FixedTrial(params)) == PRESETS[name]
    for param, value in params.items():  # every value is a legal choice of its distribution
        distributions[param].to_internal_repr(value)


def test_point_inverts_suggest_on_sampled_architectures(tiny_dataset):
    config = SpaceConfig(feature_selection="groups", group_dims=True)
    space = SearchSpace(config, tiny_dataset.features)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=3))
    for _ in range(200):
        trial = study.ask()
        arch = space.suggest(trial)
        params, _ = space.point(arch)
        # the same architecture (when the space gave dropped features back, by other keep_* values)
        assert space.suggest(optuna.trial.FixedTrial(params)) == arch
        study.tell(trial, 0.0)


def test_point_inverts_suggest_on_sampled_sequence_architectures(tiny_sequence_dataset):
    """Every encoder and readout, the target readout's attention width among them."""
    config = SpaceConfig(sequence={"encoder": ["none", "mean", "target_attention", "transformer", "interformer"],
                                   "max_len": [4, 8], "readout": ["tokens", "pooled", "target"]})
    space = SearchSpace(config, tiny_sequence_dataset.features)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=5))
    readouts = set()
    for _ in range(120):
        trial = study.ask()
        arch = space.suggest(trial)
        q = arch.sequence
        if q is not None and q.encoder == "transformer":
            readouts.add(q.readout)
            assert (q.attention_width is not None) == (q.readout == "target")
        params, _ = space.point(arch)
        assert space.suggest(optuna.trial.FixedTrial(params)) == arch
        study.tell(trial, 0.0)
    assert readouts == {"tokens", "pooled", "target"}


def test_a_preset_outside_the_space_names_the_decision(tiny_dataset):
    space = SearchSpace(SpaceConfig(expert_width=(32, 64)), tiny_dataset.features)
    with pytest.raises(OutsideSpace, match="expert_width = 128"):
        space.point(PRESETS["mmoe"])
    narrow = SearchSpace(SpaceConfig(num_layers={"low": 1, "high": 2}), tiny_dataset.features)
    with pytest.raises(OutsideSpace, match="num_layers"):
        narrow.point(PRESETS["dcnv2"])


def test_a_teachers_representation_is_its_own_feature_group(tiny_dataset):
    """With a teacher's features (LoopFM) feature selection keeps or drops them as one group."""
    features = tiny_dataset.features.model_copy(update={"dense": (*tiny_dataset.features.dense, "teacher_0", "teacher_1"),
                                                        "teacher": ("teacher_0", "teacher_1")})
    space = SearchSpace(SpaceConfig(feature_selection="groups"), features)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(12):
        trial = study.ask()
        dropped = set(space.suggest(trial).embedding.dropped)
        kept = trial.params["keep_group_teacher"]
        # (no column given back to keep two rows: the dense row and a sparse group's)
        if trial.params["keep_group_dense"] and any(trial.params[f"keep_group_{g}"] for g in features.groups):
            assert {"teacher_0", "teacher_1"}.isdisjoint(dropped) if kept else {"teacher_0", "teacher_1"} <= dropped
            assert dropped.isdisjoint(tiny_dataset.features.dense)
            seen.add(kept)
        study.tell(trial, 0.0)
    assert seen == {True, False}

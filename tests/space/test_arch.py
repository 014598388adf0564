import json

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unirank.config import SpaceConfig
from unirank.errors import UnirankError
from unirank.space import PRESETS, ArchSpec, SearchSpace


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name):
    arch = PRESETS[name]
    again = ArchSpec.from_json(arch.to_json())
    assert again == arch
    assert hash(again) == hash(arch)
    assert json.loads(arch.to_json())["schema_version"] == 1


def test_space_suggestions_are_valid_and_round_trip():
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    space = SearchSpace(SpaceConfig())
    seen = set()
    for _ in range(40):
        trial = study.ask()
        arch = space.suggest(trial)
        assert ArchSpec.from_json(arch.to_json()) == arch
        if arch.sharing.pattern == "mmoe":
            assert "num_experts" in trial.params
        else:
            assert "num_experts" not in trial.params  # conditional parameter
        seen.add(arch.sharing.pattern)
        study.tell(trial, 0.0)
    assert seen == {"shared_bottom", "mmoe"}


def test_same_seed_same_candidates():
    def first(n, seed):
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
        out = []
        for _ in range(n):
            trial = study.ask()
            out.append(SearchSpace().suggest(trial))
            study.tell(trial, 0.0)
        return out
    assert first(5, 3) == first(5, 3)
    assert first(5, 3) != first(5, 4)


@pytest.mark.parametrize("data, message", [
    ({"embedding_dim": 0, "sharing": {"pattern": "shared_bottom", "tower_width": 8}}, "embedding_dim"),
    ({"embedding_dim": 8, "sharing": {"pattern": "mmoe", "tower_width": 8}}, "num_experts"),
    ({"embedding_dim": 8, "sharing": {"pattern": "mmoe", "num_experts": 0, "expert_width": 4,
                                      "tower_width": 8}}, "sharing.num_experts"),
    ({"embedding_dim": 8, "layers": [{"block": "mlp"}],
      "sharing": {"pattern": "shared_bottom", "tower_width": 8}}, "layers.0"),
    ({"embedding_dim": 8, "layers": [{"block": "attention"}],
      "sharing": {"pattern": "shared_bottom", "tower_width": 8}}, "layers.0.block"),
    ({"embedding_dim": 8, "sharing": {"pattern": "shared_bottom", "tower_width": 8}, "schema_version": 9},
     "schema_version"),
    ({"embedding_dim": 8, "sharing": {"pattern": "shared_bottom", "tower_width": 8}, "extra": 1}, "extra"),
])
def test_invalid_specs_name_the_field(data, message):
    with pytest.raises(UnirankError) as err:
        ArchSpec.from_dict(data, source="arch.json")
    text = str(err.value)
    assert text.startswith("arch.json: ") and message in text and "\n" not in text


def test_invalid_json_names_the_line():
    with pytest.raises(UnirankError, match=r"arch.json: line 2"):
        ArchSpec.from_json('{"embedding_dim": 8,\n oops}')


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=12))
def test_arbitrary_json_is_accepted_or_rejected_with_one_line(data):
    try:
        ArchSpec.from_dict(data, source="arch.json")
    except UnirankError as err:
        assert "\n" not in str(err) and str(err).startswith("arch.json")


def test_summary_reads_the_stack():
    assert PRESETS["dcnv2"].summary() == "emb16 | cross×2 → mlp256-128 | shared_bottom | tower32"

import json

import optuna
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unirank.config import SpaceConfig
from unirank.errors import UnirankError
from unirank.models import build_model
from unirank.proxies.cost import example_inputs
from unirank.space import PRESETS, ArchSpec, SearchSpace

REQUIRED_PRESETS = {"dlrm", "dcnv2", "deepfm", "autoint", "shared_bottom_mlp", "mmoe", "ple", "star"}
SB = {"pattern": "shared_bottom", "tower_width": 8}


def test_all_named_presets_exist():
    assert REQUIRED_PRESETS <= set(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_round_trips_through_json(name):
    arch = PRESETS[name]
    again = ArchSpec.from_json(arch.to_json())
    assert again == arch
    assert hash(again) == hash(arch)
    assert json.loads(arch.to_json())["schema_version"] == 2


def _sampled(n, seed, config=SpaceConfig(), features=None):
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    space = SearchSpace(config, features)
    for _ in range(n):
        trial = study.ask()
        arch = space.suggest(trial)
        study.tell(trial, 0.0)
        yield trial, arch


def test_thousand_random_suggestions_build_and_run(tiny_dataset):
    """Property test over the widest space: every suggestion is a valid ArchSpec that builds,
    round-trips and runs a forward pass."""
    features = tiny_dataset.features
    wide = SpaceConfig(group_dims=True, hash_buckets=(None, 16), feature_selection="groups",
                       towers=("portfolio", "domain", "objective"), num_layers={"low": 0, "high": 3},
                       parallel={"low": 1, "high": 3}, mlp_width=(8, 16), expert_width=(8,),
                       embedding_dim=(2, 4), star_width=(8,), tower_width=(4,), cross_rank=(None, 2))
    inputs = example_inputs(features, 4)
    seen_kinds, seen_patterns = set(), set()
    for trial, arch in _sampled(1000, seed=0, config=wide, features=features):
        assert ArchSpec.from_json(arch.to_json()) == arch
        logits = build_model(arch, features)(*inputs)
        assert logits.shape == (4, features.num_objectives)
        seen_kinds |= {m.kind for layer in arch.layers for m in layer.modules}
        seen_patterns.add(arch.sharing.pattern)
        if arch.sharing.pattern not in ("mmoe", "ple"):
            assert "num_experts" not in trial.params  # conditional parameters
    assert seen_kinds == {"mlp", "cross", "dot", "fm", "attention", "wukong"}
    assert seen_patterns == {"shared_bottom", "mmoe", "ple", "star"}


def test_same_seed_same_candidates():
    first = lambda seed: [a for _, a in _sampled(5, seed)]  # noqa: E731
    assert first(3) == first(3)
    assert first(3) != first(4)


def test_space_size_counts_a_fixed_space_as_one():
    fixed = SpaceConfig(embedding_dim=(8,), domain_embedding=(False,), num_layers={"low": 1, "high": 1},
                        modules=("mlp",), parallel={"low": 1, "high": 1}, skip=("none",), mlp_width=(64,),
                        sharing=("shared_bottom",), tower_width=(16,), dense_bottom=((),), dense_encoding=("linear",),
                        wide=("none",))
    assert SearchSpace(fixed).size() == 1
    wider = fixed.model_copy(update={"mlp_width": (64, 128)})
    assert SearchSpace(wider).size() == 2


@pytest.mark.parametrize("data, message", [
    ({"embedding": {"dim": 0}, "sharing": SB}, "embedding.dim"),
    ({"embedding": {"dim": 8}, "sharing": {"pattern": "mmoe", "tower_width": 8}}, "mmoe needs num_experts"),
    ({"embedding": {"dim": 8}, "sharing": {**SB, "num_experts": 2}}, "shared_bottom takes no num_experts"),
    ({"embedding": {"dim": 8}, "layers": [{"modules": [{"kind": "mlp"}]}], "sharing": SB}, "needs width"),
    ({"embedding": {"dim": 8}, "layers": [{"modules": [{"kind": "conv"}]}], "sharing": SB}, "layers.0.modules.0.kind"),
    ({"embedding": {"dim": 8}, "layers": [{"modules": [{"kind": "cross", "experts": 3}]}], "sharing": SB},
     "needs rank"),
    ({"embedding": {"dim": 8}, "layers": [{"modules": []}], "sharing": SB}, "layers.0.modules"),
    ({"embedding": {"dim": 8}, "layers": [{"modules": [{"kind": "dot", "width": 3}]}], "sharing": SB},
     "takes no width"),
    ({"embedding": {"dim": 8}, "sharing": {"pattern": "ple", "num_experts": 1, "num_specific_experts": 1,
                                           "expert_width": 4, "levels": 1, "specific_to": "objective",
                                           "towers": "domain", "tower_width": 4}}, "needs specific_to domain"),
    ({"embedding": {"dim": 8}, "sharing": {"pattern": "star", "star_widths": [], "tower_width": 4}},
     "star_widths"),
    ({"embedding": {"dim": 8}, "sharing": SB, "schema_version": 1}, "schema_version"),
    ({"embedding": {"dim": 8, "dense_bottom": [8], "dense_encoding": "periodic"}, "sharing": SB}, "use one of them"),
    ({"embedding": {"dim": 8, "dense_encoding": "log"}, "sharing": SB}, "embedding.dense_encoding"),
    ({"embedding": {"dim": 8}, "sharing": SB, "extra": 1}, "extra"),
])
def test_invalid_specs_name_the_field(data, message):
    with pytest.raises(UnirankError) as err:
        ArchSpec.from_dict(data, source="arch.json")
    text = str(err.value)
    assert text.startswith("arch.json: ") and message in text and "\n" not in text


def test_a_dot_module_over_a_single_row_is_a_clear_error(tiny_dataset):
    names = [n for n in tiny_dataset.features.feature_names if n != "c1"]
    arch = ArchSpec.from_dict({"embedding": {"dim": 4, "dropped": names},
                               "layers": [{"modules": [{"kind": "dot"}]}], "sharing": SB})
    with pytest.raises(UnirankError, match="layers.0: produces no features"):
        build_model(arch, tiny_dataset.features)


def test_spec_naming_unknown_features_fails_at_build(tiny_dataset):
    arch = ArchSpec.from_dict({"embedding": {"dim": 4, "dropped": ["nope"]}, "sharing": SB})
    with pytest.raises(UnirankError, match="embedding.dropped: 'nope' is not a feature"):
        build_model(arch, tiny_dataset.features)


def test_invalid_json_names_the_line():
    with pytest.raises(UnirankError, match=r"arch.json: line 2"):
        ArchSpec.from_json('{"embedding": {"dim": 8},\n oops}')


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
    assert PRESETS["dcnv2"].summary() == "emb16 | cross → cross → mlp256 → mlp128 | shared_bottom | tower32"

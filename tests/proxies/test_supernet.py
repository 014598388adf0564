"""The supernet: every path is exactly a build_model(arch) with inherited weights."""
import optuna
import pytest
import torch

from tests.conftest import TINY_DATA, TINY_SEQUENCE_DATA
from unirank.config import StudyConfig
from unirank.models.ranker import build_model
from unirank.proxies.supernet import Supernet
from unirank.proxies.warmup import WarmupConfig, warm_up
from unirank.space import PRESETS
from unirank.space.arch import ArchSpec
from unirank.space.search_space import SearchSpace

WIDE = {"embedding_dim": [4, 8, 16], "group_dims": True, "hash_buckets": [None, 20],
        "domain_embedding": [False, True], "feature_selection": "features",
        "num_layers": {"low": 1, "high": 3}, "parallel": {"low": 1, "high": 2},
        "modules": ["mlp", "cross", "dot", "fm", "attention"], "skip": ["none", "concat", "residual"],
        "mlp_width": [16, 32], "cross_rank": [None, 4], "cross_experts": [1, 2], "attention_heads": [1, 2],
        "sharing": ["shared_bottom", "mmoe", "ple", "star"], "num_experts": {"low": 2, "high": 3},
        "expert_width": [8, 16], "star_width": [8, 16], "towers": ["portfolio", "domain", "objective"],
        "tower_width": [8]}


def _pool(data, features):
    """The presets that fit the data and 60 random candidates of the wide space (with every
    sequence encoder and option when the data has a history)."""
    space = {**WIDE, "sequence": {"encoder": ["none", "sum", "mean", "target_attention", "transformer", "interformer"],
                                  "max_len": [3, 8], "heads": [1, 2], "ffn": [8, 16]}}
    cfg = StudyConfig.model_validate({"name": "s", "data": data.model_dump(mode="json"), "space": space})
    space = SearchSpace(cfg.space, features)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    archs = [a for a in PRESETS.values() if (a.sequence is not None) == bool(features.sequences) or a.sequence is None]
    for _ in range(60):
        trial = study.ask()
        archs.append(space.suggest(trial))
        study.tell(trial, 0.0)
    return list(dict.fromkeys(archs))


@pytest.fixture(scope="module")
def pool(tiny_dataset):
    return _pool(TINY_DATA, tiny_dataset.features)


def _shapes(model):
    return [(name, tuple(p.shape)) for name, p in model.named_parameters()]


def _check_paths(supernet, pool, batch):
    for arch in pool:
        sub = supernet.extract(arch)
        assert _shapes(sub) == _shapes(build_model(arch, supernet.features)), arch.summary()
        with torch.no_grad():
            assert torch.equal(supernet(arch, *batch.inputs), sub(*batch.inputs)), arch.summary()


def test_every_path_has_the_shapes_of_build_model_and_reproduces_the_supernet(tiny_dataset, pool):
    supernet = Supernet(tiny_dataset.features, pool)
    batch = next(iter(tiny_dataset.splits["val"].batches(64)))
    _check_paths(supernet, pool, batch)
    warm_up(supernet, tiny_dataset, WarmupConfig(fraction=0.2, batch_size=256))  # weights move
    _check_paths(supernet, pool, batch)


def test_sequence_blocks_share_weights_across_lengths_widths_and_layers(tiny_sequence_dataset):
    """Every sequence encoder in the supernet: each path is its build_model, before and after warm-up."""
    pool = _pool(TINY_SEQUENCE_DATA, tiny_sequence_dataset.features)
    assert {a.sequence.encoder for a in pool if a.sequence} == {"sum", "mean", "target_attention", "transformer",
                                                                "interformer"}
    supernet = Supernet(tiny_sequence_dataset.features, pool)
    batch = next(iter(tiny_sequence_dataset.splits["val"].batches(64)))
    _check_paths(supernet, pool, batch)
    warm_up(supernet, tiny_sequence_dataset, WarmupConfig(fraction=0.2, batch_size=256))
    _check_paths(supernet, pool, batch)


def test_a_fresh_path_is_a_fresh_model_and_blocks_are_shared(tiny_dataset):
    small = ArchSpec.from_dict({"embedding": {"dim": 4}, "layers": [{"modules": [{"kind": "mlp", "width": 16}]}],
                                "sharing": {"pattern": "shared_bottom", "tower_width": 8}})
    wide = ArchSpec.from_dict({"embedding": {"dim": 8}, "layers": [{"modules": [{"kind": "mlp", "width": 32}]}],
                               "sharing": {"pattern": "shared_bottom", "tower_width": 8}})
    torch.manual_seed(0)
    reference = build_model(small, tiny_dataset.features)
    torch.manual_seed(0)
    supernet = Supernet(tiny_dataset.features, [small, wide])
    for name, param in reference.named_parameters():  # the first arch initialises its blocks
        assert torch.equal(supernet.weights(small)[name], param.detach()), name
    w_small, w_wide = supernet.weights(small), supernet.weights(wide)
    for name, tensor in w_small.items():  # narrower = the leading block of the wider one
        block = w_wide[name][tuple(slice(0, n) for n in tensor.shape)]
        assert torch.equal(block, tensor), name


def test_dropping_a_feature_does_not_shift_the_others_rows(tiny_dataset):
    features = tiny_dataset.features
    keep_all = PRESETS["shared_bottom_mlp"]
    dropped_name = features.sparse[1].name
    dropped = ArchSpec.from_dict({**keep_all.to_dict(), "embedding": {**keep_all.to_dict()["embedding"],
                                                                       "dropped": [dropped_name]}})
    supernet = Supernet(features, [keep_all, dropped])
    with torch.no_grad():
        for name, p in supernet.store.items():
            p.normal_()
    for arch in (keep_all, dropped):
        model, _ = supernet._path(arch)
        weights = supernet.weights(arch)
        seen = []
        for g, group in enumerate(model.inputs.groups):
            members = [i for _, i in model.inputs.members[model.inputs.group_names[g]]]
            table = weights[f"inputs.groups.{g}.table.weight"]
            for i, offset, rows in zip(members, group.offsets.tolist(), group.rows.tolist()):
                own = supernet.store[f"inputs:feature:{features.sparse[i].name}"]
                assert torch.equal(table[offset:offset + rows], own[:rows, : table.shape[1]])
                seen.append(features.sparse[i].name)
        assert (dropped_name in seen) == (arch is keep_all)


def test_a_row_per_dense_feature_reads_that_features_own_block(tiny_dataset):
    features = tiny_dataset.features
    def periodic(dim, dropped=()):
        return ArchSpec.from_dict({"embedding": {"dim": dim, "dense_encoding": "periodic", "dropped": list(dropped)},
                                   "layers": [], "sharing": {"pattern": "shared_bottom", "tower_width": 8}})
    archs = [periodic(8), periodic(4, [features.dense[0]])]
    supernet = Supernet(features, archs)
    with torch.no_grad():
        for p in supernet.store.values():
            p.normal_()
    for arch in archs:
        weights = supernet.weights(arch)
        kept = [n for n in features.dense if n not in arch.embedding.dropped]
        for k, name in enumerate(kept):
            own = supernet.store[f"inputs:dense:{name}:periodic:weight"]
            assert torch.equal(weights["inputs.dense_rows.weight"][k], own[0, :, : arch.embedding.dim])


def _widths(arch, first, second):
    data = arch.to_dict()
    data["layers"][0]["modules"][0]["width"], data["layers"][1]["modules"][0]["width"] = first, second
    return ArchSpec.from_dict(data)


def test_covers_means_every_block_is_in_the_store_and_checking_grows_nothing(tiny_dataset):
    base = PRESETS["shared_bottom_mlp"]  # MLP widths 256, 128
    supernet = Supernet(tiny_dataset.features, [base])
    before = {k: tuple(v.shape) for k, v in supernet.store.items()}
    assert supernet.covers(base) and supernet.covers(_widths(base, 64, 128))  # narrower: leading blocks
    assert not supernet.covers(_widths(base, 512, 128))  # wider than any trained block
    assert not supernet.covers(PRESETS["dcnv2"])  # a cross layer: keys the store does not have
    assert {k: tuple(v.shape) for k, v in supernet.store.items()} == before and supernet.paths == [base]
    assert Supernet(tiny_dataset.features, [base, PRESETS["dcnv2"]]).covers(PRESETS["dcnv2"])

"""Every module and sharing pattern: shapes, gradients to every parameter, equations."""
import pytest
import torch

from unirank.models import build_model
from unirank.models.attention import AttentionModule
from unirank.models.crossnet import CrossModule
from unirank.models.dot import DotModule
from unirank.models.embedding import hashed_ids
from unirank.models.fm import FMModule
from unirank.models.mlp import MLPModule
from unirank.models.towers import Towers
from unirank.proxies.cost import example_inputs
from unirank.space import PRESETS, ArchSpec

SB = {"pattern": "shared_bottom", "tower_width": 8}
EXTRA = {
    "every_module_parallel": {"embedding": {"dim": 4}, "layers": [
        {"modules": [{"kind": "attention", "heads": 2}, {"kind": "dot"}, {"kind": "fm"}], "skip": "residual"},
        {"modules": [{"kind": "cross", "rank": 3, "experts": 2}, {"kind": "cross", "rank": 2}, {"kind": "cross"}],
         "skip": "concat"},
        {"modules": [{"kind": "mlp", "width": 8}, {"kind": "attention", "heads": 1}]}], "sharing": SB},
    "ple_domain_towers": {"embedding": {"dim": 4, "hash_buckets": 7, "domain_embedding": True}, "layers": [],
                          "sharing": {"pattern": "ple", "num_experts": 2, "num_specific_experts": 2,
                                      "expert_width": 8, "levels": 3, "specific_to": "domain",
                                      "towers": "domain", "tower_width": 4}},
    "mmoe_objective_towers": {"embedding": {"dim": 4, "group_dims": {"medium": 6, "small": 2}}, "layers": [],
                              "sharing": {"pattern": "mmoe", "num_experts": 3, "expert_width": 8,
                                          "towers": "objective", "tower_width": 4}},
    "wukong_then_mlp": {"embedding": {"dim": 4}, "layers": [
        {"modules": [{"kind": "wukong", "rank": 3, "width": 8}], "skip": "residual"},
        {"modules": [{"kind": "wukong", "rank": 2, "width": 6}, {"kind": "mlp", "width": 8}]}], "sharing": SB},
    "periodic_dense_rows_into_dot": {"embedding": {"dim": 4, "dense_encoding": "periodic", "dropped": ["x1"]},
                                     "layers": [{"modules": [{"kind": "dot"}, {"kind": "cross", "rank": 2}]}],
                                     "sharing": SB},
    "each_dense_rows_into_attention": {"embedding": {"dim": 4, "dense_encoding": "each"},
                                       "layers": [{"modules": [{"kind": "attention", "heads": 1}]}], "sharing": SB},
    "star_dropped_dense": {"embedding": {"dim": 4, "dropped": ["x0", "x1", "x2", "x3", "c1"]}, "layers": [],
                           "sharing": {"pattern": "star", "star_widths": [8, 6], "tower_width": 4}},
}
# every sequence encoder and option, on the data with a history
SEQUENCE = {
    "seq_sum": {"encoder": "sum", "max_len": 8},
    "seq_mean_shorter": {"encoder": "mean", "max_len": 3},
    "seq_target_attention": {"encoder": "target_attention", "max_len": 8, "attention_width": 6},
    "seq_transformer_tokens_rope_qknorm": {"encoder": "transformer", "max_len": 5, "layers": 2, "heads": 2,
                                           "ffn": 8, "readout": "tokens", "rope": True, "qk_norm": True},
    "seq_transformer_pooled": {"encoder": "transformer", "max_len": 8, "layers": 1, "heads": 1, "ffn": 8,
                               "readout": "pooled"},
    "seq_transformer_target": {"encoder": "transformer", "max_len": 8, "layers": 1, "heads": 2, "ffn": 8,
                               "readout": "target", "attention_width": 6},
    "seq_interformer": {"encoder": "interformer", "max_len": 8, "layers": 2, "heads": 2, "ffn": 8,
                        "summary_tokens": 2, "rope": True},
}
SEQUENCE_SPECS = {**{f"preset:{k}": v for k, v in PRESETS.items() if v.sequence is not None},
                  **{k: ArchSpec.from_dict({"embedding": {"dim": 4}, "layers": [{"modules": [{"kind": "mlp", "width": 8}]}],
                                            "sharing": SB, "sequence": v}) for k, v in SEQUENCE.items()}}
SPECS = {**{f"preset:{k}": v for k, v in PRESETS.items() if v.sequence is None},
         **{k: ArchSpec.from_dict(v) for k, v in EXTRA.items()}}


def _forward_and_backward(arch, features):
    torch.manual_seed(0)
    model = build_model(arch, features)
    logits = model(*example_inputs(features, 64))
    assert logits.shape == (64, features.num_objectives)
    logits.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, pname


@pytest.mark.parametrize("name", sorted(SEQUENCE_SPECS))
def test_sequence_models_forward_and_every_parameter_gets_gradient(name, tiny_sequence_dataset):
    _forward_and_backward(SEQUENCE_SPECS[name], tiny_sequence_dataset.features)


def test_padding_never_reaches_a_result(tiny_sequence_dataset):
    """Changing the ids in padded slots (before a history's first event) changes no prediction."""
    features = tiny_sequence_dataset.features
    inputs = example_inputs(features, 32, full=False)
    lists = inputs[3].clone()
    (history,) = features.lists
    real = (torch.arange(history.max_len) >= history.max_len - lists[:, :1]).repeat(1, len(history.fields))
    lists[:, 1:] = torch.where(real, lists[:, 1:], torch.randint(1, 20, lists[:, 1:].shape))
    assert not torch.equal(lists, inputs[3])
    for name, arch in SEQUENCE_SPECS.items():
        torch.manual_seed(0)
        model = build_model(arch, features).eval()
        with torch.no_grad():
            assert torch.allclose(model(*inputs), model(*inputs[:3], lists), atol=1e-6), name


@pytest.mark.parametrize("name", sorted(SPECS))
def test_forward_shape_and_every_parameter_gets_gradient(name, tiny_dataset):
    features = tiny_dataset.features
    torch.manual_seed(0)
    model = build_model(SPECS[name], features)
    dense, sparse, domain = example_inputs(features, 64)
    logits = model(dense, sparse, domain)
    assert logits.shape == (64, features.num_objectives)
    logits.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, pname


@pytest.mark.parametrize("encoding", ["each", "periodic"])
def test_a_row_per_kept_dense_feature_computed_from_that_feature_alone(encoding, tiny_dataset):
    features = tiny_dataset.features
    arch = ArchSpec.from_dict({"embedding": {"dim": 4, "dense_encoding": encoding, "dropped": [features.dense[1]]},
                               "layers": [], "sharing": SB})
    inputs = build_model(arch, features).inputs
    kept = len(features.dense) - 1
    assert inputs.num_rows == kept + len(features.sparse) and not inputs.has_dense_row
    dense, sparse, domain = example_inputs(features, 8)
    matrix, flat = inputs(dense, sparse, domain)
    assert matrix.shape == (8, inputs.num_rows, 4) and flat.shape == (8, kept + inputs.num_rows * 4)
    changed = dense.clone()
    changed[:, 2] += 1.0  # the second kept feature: only its row moves
    moved = (inputs(changed, sparse, domain)[0] - matrix).abs().sum(dim=(0, 2)) > 0
    assert moved.tolist() == [i == 1 for i in range(inputs.num_rows)]
    if encoding == "each":  # x_i · v_i + b_i
        rows = inputs.dense_rows
        assert torch.allclose(matrix[:, 0], dense[:, :1] * rows.weight[0] + rows.bias[0])


def test_build_is_a_pure_function_of_the_spec(tiny_dataset):
    arch = PRESETS["ple"]
    torch.manual_seed(0)
    a = build_model(arch, tiny_dataset.features)
    torch.manual_seed(0)
    b = build_model(ArchSpec.from_json(arch.to_json()), tiny_dataset.features)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_cross_full_rank_equation():
    module = CrossModule(3)
    x0, h = torch.randn(2, 3), torch.randn(2, 3)
    expected = x0 * (h @ module.full.weight.T + module.full.bias) + h
    assert torch.allclose(module(h, None, x0)[0], expected)


def test_cross_low_rank_mixture_equation():
    module = CrossModule(4, rank=2, experts=3)
    x0, h = torch.randn(5, 4), torch.randn(5, 4)
    gates = torch.softmax(module.gate(h), dim=-1)
    expected = h.clone()
    for k in range(3):
        expected = expected + gates[:, k:k + 1] * x0 * (h @ module.v[k] @ module.u[k] + module.bias[k])
    assert torch.allclose(module(h, None, x0)[0], expected, atol=1e-6)


def test_cross_uses_h_as_x0_after_a_width_change():
    module = CrossModule(3)
    h = torch.randn(2, 3)
    assert torch.allclose(module(h, None, torch.randn(2, 7))[0], module(h, None, h)[0])


def test_dot_gives_pairwise_products_and_fm_their_sum():
    E = torch.randn(2, 4, 3)
    dots = DotModule(4)(None, E, None)[0]
    expected = torch.stack([(E[:, i] * E[:, j]).sum(-1) for i in range(4) for j in range(i + 1, 4)], 1)
    assert torch.allclose(dots, expected, atol=1e-6)
    fm = FMModule(3)(None, E, None)[0]
    assert fm.shape == (2, 3) and torch.allclose(fm.sum(1), expected.sum(1), atol=1e-5)


def test_attention_keeps_matrix_shape_and_hands_it_on():
    module = AttentionModule(num_rows=5, dim=4, heads=2)
    E = torch.randn(3, 5, 4)
    out, new = module(None, E, None)
    assert new.shape == (3, 5, 4) and out.shape == (3, 20) and torch.equal(out, new.flatten(1))


def test_mlp_module():
    out, matrix = MLPModule(3, 5)(torch.randn(2, 3), None, None)
    assert out.shape == (2, 5) and matrix is None and (out >= 0).all()


@pytest.mark.parametrize("mode", ["portfolio", "domain", "objective"])
def test_towers_route_each_example_to_its_own_unit(mode):
    towers = Towers(in_features=4, tower_width=3, num_domains=2, num_objectives=2, mode=mode)
    h, domain = torch.randn(5, 4), torch.tensor([0, 1, 1, 0, 1])
    out = towers(h, domain)
    for i in range(5):
        for t in range(2):
            unit, o = {"portfolio": (domain[i] * 2 + t, 0), "domain": (domain[i], t), "objective": (t, 0)}[mode]
            hidden = torch.relu(h[i] @ towers.w1[unit] + towers.b1[unit])
            assert torch.allclose(out[i, t], hidden @ towers.w2[unit][:, o] + towers.b2[unit][o], atol=1e-6)


def test_hashing_keeps_small_ids_and_folds_large_ones():
    ids = torch.tensor([[0, 3, 4, 9]])
    assert hashed_ids(ids, torch.tensor([5, 5, 5, 5])).tolist() == [[0, 3, 4, 1 + 8 % 4]]


def test_dropout_acts_in_training_only(tiny_dataset):
    arch = ArchSpec.from_dict({**PRESETS["shared_bottom_mlp"].to_dict(), "dropout": 0.5})
    model = build_model(arch, tiny_dataset.features)
    inputs = example_inputs(tiny_dataset.features, 32)
    assert sum(isinstance(m, torch.nn.Dropout) for m in model.modules()) == 3  # 2 MLP modules + stack output
    model.train()
    assert not torch.equal(model(*inputs), model(*inputs))
    model.eval()
    assert torch.equal(model(*inputs), model(*inputs))
    assert ArchSpec.from_json(arch.to_json()).dropout == 0.5


def test_tables_keep_the_datas_group_order_whatever_is_dropped():
    """Table i is the i-th group of the data that keeps a feature, so weights written by earlier
    versions load into the same tables (a dropped first feature once reordered them)."""
    from unirank.data.features import FeatureSpec, SparseFeature

    features = FeatureSpec(dense=("x",), sparse=(SparseFeature(name="a", vocab_size=5), SparseFeature(name="b", vocab_size=500),
                                                 SparseFeature(name="c", vocab_size=6)),
                           domain="d", domains=("d0",), objectives=("y",))
    assert features.groups == ["small", "medium"]
    arch = ArchSpec.from_dict({**PRESETS["shared_bottom_mlp"].to_dict(), "embedding": {"dim": 4, "dropped": ["a"]}})
    model = build_model(arch, features)
    assert model.inputs.group_names == ["small", "medium"]
    assert model.inputs.groups[0].table.weight.shape[0] == 6 and model.inputs.groups[1].table.weight.shape[0] == 500


def test_feature_rows_are_group_major_as_bundles_expect():
    """E0 holds the sparse rows group by group (a, c of group small, then b), the order every
    trained bundle's first layer was fitted to."""
    from unirank.data.features import FeatureSpec, SparseFeature

    features = FeatureSpec(dense=("x",), sparse=(SparseFeature(name="a", vocab_size=5), SparseFeature(name="b", vocab_size=500),
                                                 SparseFeature(name="c", vocab_size=6)),
                           domain="d", domains=("d0",), objectives=("y",))
    model = build_model(ArchSpec.from_dict({**PRESETS["shared_bottom_mlp"].to_dict(), "embedding": {"dim": 4}}), features)
    sparse = torch.tensor([[1, 2, 3]])
    matrix, _ = model.inputs(torch.zeros(1, 1), sparse, torch.zeros(1, dtype=torch.int64))
    small, medium = model.inputs.groups[0].table.weight, model.inputs.groups[1].table.weight
    expected = torch.stack([small[1], small[5 + 3], medium[2]])  # a (offset 0), c (offset 5), b
    assert torch.allclose(matrix[0, 1:], expected)


def test_wukong_fm_block_is_e_et_y_then_mlp_beside_the_linear_compression(tiny_dataset):
    from unirank.models.wukong import WukongModule

    torch.manual_seed(0)
    module = WukongModule(num_rows=5, dim=4, rank=3, width=8).eval()
    E = torch.randn(2, 5, 4)
    Y = module.project.weight.T                                              # [N, k]
    fm = torch.einsum("bnd,bmd->bnm", E, E) @ Y                               # E Eᵀ Y, formed directly
    rows = module.mlp(module.fm_norm(fm.flatten(1))).view(2, 3, 4)
    lcb = torch.einsum("mn,bnd->bmd", module.compress.weight, E)              # W E: 2 rows
    expected = module.norm(E + torch.cat([rows, lcb], dim=1))
    out, new = module(None, E, None)
    assert torch.allclose(new, expected, atol=1e-6) and torch.equal(out, new.flatten(1))


@pytest.mark.parametrize("spec", [
    {"encoder": "target_attention", "max_len": 5, "attention_width": 8},
    {"encoder": "transformer", "max_len": 5, "layers": 1, "heads": 1, "ffn": 8, "readout": "target",
     "attention_width": 8}])
def test_what_attends_from_the_candidate_needs_one_and_says_so(spec):
    """A history none of whose fields shares a table with a kept sparse feature has no candidate:
    DIN's unit (as encoder or as the transformer's readout) is refused in one line naming it."""
    from unirank.errors import UnirankError
    from unirank.models.sequence import build_encoder
    from unirank.space.arch import SequenceSpec

    spec = SequenceSpec.model_validate(spec)
    assert build_encoder(spec, 8, 5, has_query=True, feature="history") is not None
    what = "encoder: target_attention" if spec.encoder == "target_attention" else "readout: target"
    with pytest.raises(UnirankError, match=f"sequence.{what} needs a candidate, .* sequence 'history' shares"):
        build_encoder(spec, 8, 5, has_query=False, feature="history")

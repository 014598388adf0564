"""FLOPs reported by proxies.cost against hand counts.

The matmul part (2 FLOPs per multiply-add) is checked on whole models through
``matmul_flops_per_example``; every other op's arithmetic (element-wise 1 per output, reductions 1
per input, softmax 5 per element, bias adds) through full counts of modules and models.
"""
import pytest
import torch
from torch import nn

from unirank.data.features import FeatureSpec, SparseFeature
from unirank.models.attention import AttentionModule
from unirank.models.crossnet import CrossModule
from unirank.models.dot import DotModule
from unirank.models.fm import FMModule
from unirank.proxies.cost import count_flops, measure_cost
from unirank.proxies.cost import count_flops as _count
from unirank.models.mlp import MLPModule
from unirank.models.sharing import MMoE
from unirank.space.arch import SharingSpec
from unirank.space import ArchSpec

# 2 dense features, sparse a (10 ids, group small) and b (5 ids, small); 2 domains, 1 objective.
FEATURES = FeatureSpec(dense=("x0", "x1"), sparse=(SparseFeature(name="a", vocab_size=10),
                       SparseFeature(name="b", vocab_size=5)), domain="d", domains=("d0", "d1"),
                       objectives=("click",))
D_DENSE, DIM = 2, 4
ROWS = 3                      # dense row + a + b
W0 = D_DENSE + ROWS * DIM     # h0 width = 14
INPUT_FLOPS = 2 * D_DENSE * DIM  # the dense projection


def _cost(layers, sharing=None, embedding=None):
    arch = ArchSpec.from_dict({"embedding": embedding or {"dim": DIM}, "layers": layers,
                               "sharing": sharing or {"pattern": "shared_bottom", "tower_width": 3}})
    return measure_cost(arch, FEATURES)


def towers(width_in, hidden=3, units=2, outputs=1):
    """The towers' matmul FLOPs: the hidden layer of each unit. Its output layer (1..T logits from
    H values) runs as a multiply-and-sum, counted in the total FLOPs, not as a matmul."""
    return units * 2 * width_in * hidden


def test_linear_flops_are_two_in_out_per_example_plus_the_bias():
    assert count_flops(nn.Linear(7, 5), (torch.randn(3, 7),), matmul_only=True) == 2 * 7 * 5 * 3
    assert count_flops(nn.Linear(7, 5), (torch.randn(3, 7),)) == (2 * 7 * 5 + 5) * 3
    assert count_flops(nn.Linear(7, 5, bias=False), (torch.randn(3, 7),)) == 2 * 7 * 5 * 3


def test_module_flops_match_hand_counts():
    W, r, K, N, d = 6, 2, 3, 4, 8
    h, E = torch.randn(1, W), torch.randn(1, N, d)
    def count_flops(module, inputs):
        return _count(module, inputs, matmul_only=True)
    assert count_flops(CrossModule(W), (h, E, h)) == 2 * W * W
    assert count_flops(CrossModule(W, rank=r), (h, E, h)) == 2 * W * r + 2 * r * W
    assert count_flops(CrossModule(W, rank=r, experts=K), (h, E, h)) == K * (4 * W * r) + 2 * W * K + 2 * K * W
    assert count_flops(DotModule(N), (h, E, h)) == 2 * N * N * d
    assert count_flops(FMModule(d), (h, E, h)) == 0  # element-wise only
    H, dh = 2, d // 2
    attention = 2 * N * d * 3 * H * dh + 2 * 2 * H * N * N * dh + 2 * N * H * dh * d + 2 * N * d * d
    assert count_flops(AttentionModule(N, d, heads=H), (h, E, h)) == attention


def test_what_the_matmul_counter_misses_is_counted_by_hand_formulas():
    N, d, W, w = 4, 8, 6, 5
    h, E = torch.randn(2, W), torch.randn(2, N, d)
    # FM: E.sum (N·d), its square (d), E² (N·d), sum of E² (N·d), subtract (d), × ½ (d)
    assert count_flops(FMModule(d), (h, E, h)) == 2 * (3 * N * d + 3 * d)
    # MLP: matmul, bias add, ReLU
    assert count_flops(MLPModule(W, w), (h, E, h)) == 2 * (2 * W * w + w + w)
    # DLRM dot: the batched matmul only (selecting the upper triangle is a move)
    assert count_flops(DotModule(N), (h, E, h)) == 2 * (2 * N * N * d)
    # MMoE: experts (matmul, bias, ReLU), gates (matmul, bias, softmax 5/element), the mixing
    # einsum, then towers (matmul, bias, ReLU; matmul, bias) and routing (a move)
    e, we, units, t = 3, 4, 2, 3
    spec = SharingSpec(pattern="mmoe", num_experts=e, expert_width=we, tower_width=t)
    hand = ((2 * W * e * we + 2 * e * we) + (2 * W * units * e + units * e) + 5 * units * e
            + 2 * units * e * we + units * (2 * we * t + 2 * t + 2 * t * 1 + 1))
    assert count_flops(MMoE(W, spec, 2, 1), (h, torch.tensor([0, 1]))) == 2 * hand


def test_fm_is_not_free_on_the_cost_axis():
    plain = _cost([])
    fm = _cost([{"modules": [{"kind": "fm"}], "skip": "concat"}])
    assert fm.flops_per_example > plain.flops_per_example
    assert fm.flops_per_example - fm.matmul_flops_per_example >= 3 * ROWS * DIM + 3 * DIM


def test_stack_flops_and_params_match_a_hand_count():
    cost = _cost([{"modules": [{"kind": "cross"}]}, {"modules": [{"kind": "mlp", "width": 8}]}])
    assert cost.matmul_flops_per_example == INPUT_FLOPS + 2 * W0 * W0 + 2 * W0 * 8 + towers(8)
    assert cost.embedding_params == (10 + 5) * DIM
    assert cost.lookups_per_example == 2 and cost.embedding_bytes_per_example == 2 * DIM * 4
    dense = (D_DENSE * DIM + DIM) + (W0 * W0 + W0) + (W0 * 8 + 8) + 2 * (8 * 3 + 3 + 3 + 1)
    assert cost.dense_params == dense


def test_parallel_layer_with_skips():
    cost = _cost([{"modules": [{"kind": "dot"}, {"kind": "mlp", "width": 5}], "skip": "residual"},
                  {"modules": [{"kind": "fm"}], "skip": "concat"}])
    pairs = ROWS * (ROWS - 1) // 2
    layer1 = 2 * ROWS * ROWS * DIM + 2 * W0 * 5 + 2 * W0 * (pairs + 5)  # dot + mlp + residual projection
    width = pairs + 5 + DIM  # concat skip keeps the input and appends the FM vector
    assert cost.matmul_flops_per_example == INPUT_FLOPS + layer1 + towers(width)


def test_feature_selection_and_hashing_reduce_cost():
    full = _cost([])
    dropped = _cost([], embedding={"dim": DIM, "dropped": ["x0", "x1", "b"]})
    assert dropped.matmul_flops_per_example == towers(DIM) < full.matmul_flops_per_example
    assert dropped.flops_per_example < full.flops_per_example
    assert dropped.embedding_params == 10 * DIM and dropped.lookups_per_example == 1
    hashed = _cost([], embedding={"dim": DIM, "hash_buckets": 4})
    assert hashed.embedding_params == (4 + 4) * DIM


def test_group_dims_project_to_the_common_dim():
    cost = _cost([], embedding={"dim": DIM, "group_dims": {"small": 2}})
    assert cost.embedding_params == (10 + 5) * 2
    assert cost.matmul_flops_per_example == INPUT_FLOPS + 2 * 2 * 2 * DIM + towers(W0)


def test_mmoe_flops():
    e, we, units = 3, 4, 2
    cost = _cost([], {"pattern": "mmoe", "num_experts": e, "expert_width": we, "tower_width": 2})
    hand = 2 * W0 * e * we + 2 * W0 * units * e + 2 * units * e * we + towers(we, hidden=2)
    assert cost.matmul_flops_per_example == INPUT_FLOPS + hand


@pytest.mark.parametrize("levels", [1, 2])
def test_ple_flops(levels):
    S, K, G, we = 2, 1, 2, 4  # groups = domains
    cost = _cost([], {"pattern": "ple", "num_experts": S, "num_specific_experts": K, "expert_width": we,
                      "levels": levels, "specific_to": "domain", "tower_width": 2})

    def level(f, last):
        flops = 2 * f * S * we + 2 * G * f * K * we + 2 * G * f * (K + S) + 2 * G * (K + S) * we
        if not last:
            flops += 2 * f * (G * K + S) + 2 * (G * K + S) * we
        return flops
    hand = sum(level(W0 if i == 0 else we, i == levels - 1) for i in range(levels))
    assert cost.matmul_flops_per_example == INPUT_FLOPS + hand + towers(we, hidden=2)


def test_star_flops():
    cost = _cost([], {"pattern": "star", "star_widths": [5], "tower_width": 2})
    assert cost.matmul_flops_per_example == INPUT_FLOPS + 2 * 2 * W0 * 5 + towers(5, hidden=2)


def test_domain_and_objective_tower_units():
    domain = _cost([], {"pattern": "shared_bottom", "towers": "domain", "tower_width": 3})
    assert domain.matmul_flops_per_example == INPUT_FLOPS + towers(W0, units=2, outputs=1)
    objective = _cost([], {"pattern": "shared_bottom", "towers": "objective", "tower_width": 3})
    assert objective.matmul_flops_per_example == INPUT_FLOPS + towers(W0, units=1)


def test_latency_is_measured_and_grows_with_work():
    small = _cost([])
    big = _cost([{"modules": [{"kind": "mlp", "width": 2048}]}, {"modules": [{"kind": "mlp", "width": 2048}]}])
    assert small.latency_ms > 0 and small.latency_batch == 256
    assert big.latency_ms > small.latency_ms

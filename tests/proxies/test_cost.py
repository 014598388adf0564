import torch
from torch import nn

from unirank.data.features import FeatureSpec, SparseFeature
from unirank.proxies.cost import count_flops, measure_cost
from unirank.space import ArchSpec

FEATURES = FeatureSpec(dense=("x0", "x1"), sparse=(SparseFeature(name="a", vocab_size=10),
                       SparseFeature(name="b", vocab_size=5)), domain="d", domains=("d0", "d1"),
                       objectives=("click",))


def test_linear_flops_are_two_in_out_per_example():
    assert count_flops(nn.Linear(7, 5), (torch.randn(3, 7),)) == 2 * 7 * 5 * 3


def test_model_flops_match_a_hand_count():
    arch = ArchSpec.from_dict({"embedding_dim": 4, "layers": [{"block": "cross"}, {"block": "mlp", "width": 8}],
                               "sharing": {"pattern": "shared_bottom", "tower_width": 3}})
    cost = measure_cost(arch, FEATURES)
    width = 2 + 2 * 4  # dense + 2 sparse features × dim 4
    portfolios = 2 * 1
    hand = 2 * width * width + 2 * width * 8 + portfolios * (2 * 8 * 3 + 2 * 3)
    assert cost.flops_per_example == hand
    assert cost.embedding_params == (10 + 5) * 4
    assert cost.lookups_per_example == 2 and cost.embedding_bytes_per_example == 2 * 4 * 4
    dense = width * width + width + width * 8 + 8 + portfolios * (8 * 3 + 3 + 3 + 1)
    assert cost.dense_params == dense


def test_mmoe_flops_match_a_hand_count():
    arch = ArchSpec.from_dict({"embedding_dim": 2, "layers": [],
                               "sharing": {"pattern": "mmoe", "num_experts": 3, "expert_width": 4, "tower_width": 2}})
    width, p, e, we, tw = 2 + 2 * 2, 2, 3, 4, 2
    hand = 2 * width * e * we + 2 * width * p * e + 2 * p * e * we + p * (2 * we * tw + 2 * tw)
    assert measure_cost(arch, FEATURES).flops_per_example == hand

import pytest
import torch

from unirank.models import build_model
from unirank.models.crossnet import CrossLayer
from unirank.models.sharing import PortfolioTowers
from unirank.proxies.cost import example_inputs
from unirank.space import PRESETS, ArchSpec


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_forward_shape_and_every_parameter_gets_gradient(name, tiny_dataset):
    features = tiny_dataset.features
    model = build_model(PRESETS[name], features)
    dense, sparse, domain = example_inputs(features, 32)
    logits = model(dense, sparse, domain)
    assert logits.shape == (32, features.num_objectives)
    logits.sum().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.count_nonzero(p.grad) > 0, pname


def test_build_is_a_pure_function_of_the_spec(tiny_dataset):
    arch = PRESETS["mmoe"]
    torch.manual_seed(0)
    a = build_model(arch, tiny_dataset.features)
    torch.manual_seed(0)
    b = build_model(ArchSpec.from_json(arch.to_json()), tiny_dataset.features)
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)


def test_cross_layer_computes_its_equation():
    layer = CrossLayer(3)
    x0 = torch.tensor([[1.0, 2.0, 3.0]])
    xl = torch.tensor([[0.5, -1.0, 2.0]])
    expected = x0 * (xl @ layer.linear.weight.T + layer.linear.bias) + xl
    assert torch.allclose(layer(xl, x0), expected)


def test_towers_route_each_example_to_its_domain_head():
    towers = PortfolioTowers(in_features=4, tower_width=3, num_domains=2, num_objectives=2)
    h = torch.randn(5, 4)
    domain = torch.tensor([0, 1, 1, 0, 1])
    out = towers(h, domain)
    for i in range(5):
        for t in range(2):
            p = domain[i] * 2 + t
            hidden = torch.relu(h[i] @ towers.w1[p] + towers.b1[p])
            assert torch.allclose(out[i, t], hidden @ towers.w2[p] + towers.b2[p], atol=1e-6)

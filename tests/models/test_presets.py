"""Each preset is the model its name promises: one test of each defining property."""
import itertools

import torch

from unirank.models import build_model
from unirank.models.sharing import MMoE
from unirank.models.star import Star
from unirank.proxies.cost import example_inputs
from unirank.space import PRESETS


def _inputs(features, n=64):
    return example_inputs(features, n, seed=5)


def test_deepfm_logit_is_linear_plus_fm_plus_dnn_on_shared_embeddings(tiny_dataset):
    torch.manual_seed(0)
    features = tiny_dataset.features
    model = build_model(PRESETS["deepfm"], features).eval()
    with torch.no_grad():
        for p in model.first_order.parameters():  # zero-initialised; give them values
            p.normal_()
        dense, sparse, domain = _inputs(features)
        parts = model.parts(dense, sparse, domain)
        assert set(parts) == {"deep", "linear", "fm"}
        assert torch.allclose(model(dense, sparse, domain), parts["deep"] + parts["linear"] + parts["fm"])
        # the FM term is Σ_{i<j} <e_i, e_j> over the very rows the DNN reads (shared embeddings)
        E, h0 = model.inputs(dense, sparse, domain)
        pairs = sum((E[:, i] * E[:, j]).sum(1) for i, j in itertools.combinations(range(E.shape[1]), 2))
        assert torch.allclose(parts["fm"][:, 0], pairs, atol=1e-5)
        assert model.stack.layers[0].parts[0].linear.in_features == h0.shape[1]
        # the linear term is first order: one weight per (feature id, objective), plus dense weights
        assert model.first_order.table.embedding_dim == features.num_objectives


def test_dlrm_top_mlp_sees_the_bottom_output_and_the_dots_only(tiny_dataset):
    features = tiny_dataset.features
    model = build_model(PRESETS["dlrm"], features).eval()
    d = PRESETS["dlrm"].embedding.dim
    rows = model.inputs.num_rows
    pairs = rows * (rows - 1) // 2
    top = model.stack.layers[1].parts[0].linear
    assert top.in_features == d + pairs
    bottom = [m for m in model.inputs.dense_bottom if isinstance(m, torch.nn.Linear)]
    assert len(bottom) >= 2 and bottom[-1].out_features == d  # several ReLU layers down to d
    assert sum(isinstance(m, torch.nn.ReLU) for m in model.inputs.dense_bottom) == len(bottom)
    with torch.no_grad():
        dense, sparse, domain = _inputs(features)
        E, h0 = model.inputs(dense, sparse, domain)
        out, _ = model.stack.layers[0](h0, E, h0)
        bottom_out = model.inputs.dense_bottom(dense.index_select(1, model.inputs.dense_index))
        assert torch.allclose(out[:, :d], bottom_out)
        assert torch.allclose(out[:, d + 0], (bottom_out * E[:, 1]).sum(1), atol=1e-6)


def test_star_normalises_per_domain_and_adds_the_auxiliary_logit(tiny_dataset):
    features = tiny_dataset.features
    torch.manual_seed(0)
    model = build_model(PRESETS["star"], features)
    star = model.sharing
    assert isinstance(star, Star) and star.norm is not None and star.auxiliary is not None
    dense, sparse, domain = _inputs(features, 512)
    _, h = model.inputs(dense, sparse, domain)
    h = h + domain[:, None].float() * 3.0  # domains with different statistics
    star.train()
    normed = star.norm(h, domain)
    for p in domain.unique():  # each domain's examples by their own statistics
        rows = h[domain == p]
        expected = (rows - rows.mean(0)) / torch.sqrt(rows.var(0, unbiased=False) + star.norm.eps)
        assert torch.allclose(normed[domain == p], expected, atol=5e-3)  # fp32, tiny variances
    assert star.norm.running_mean.shape[0] == features.num_domains
    star.eval()
    with torch.no_grad():
        full = star(h, domain)
        x = star.norm(h, domain)
        main = x
        for layer in star.layers:
            main = layer(main, domain)
        aux = star.auxiliary(torch.cat([x, star.domain_indicator(domain)], 1))
        assert torch.allclose(full, star.towers(main, domain) + aux, atol=1e-6)
        # the auxiliary network reads the domain indicator: same features, other domain → other logit
        other = (domain + 1) % features.num_domains
        aux_other = star.auxiliary(torch.cat([x, star.domain_indicator(other)], 1))
        assert not torch.allclose(aux, aux_other)


def test_mmoe_experts_are_mlps_mixed_by_one_softmax_gate_per_task(tiny_dataset):
    features = tiny_dataset.features
    model = build_model(PRESETS["mmoe"], features)
    mmoe = model.sharing
    spec = PRESETS["mmoe"].sharing
    assert isinstance(mmoe, MMoE) and len(mmoe.deeper_w) == len(spec.expert_hidden)
    assert mmoe.experts.out_features == spec.num_experts * spec.expert_hidden[0]
    assert mmoe.gates.out_features == mmoe.units * spec.num_experts
    assert mmoe.units == features.num_domains * features.num_objectives


def test_autoint_and_ple_keep_their_papers_structure(tiny_dataset):
    features = tiny_dataset.features
    autoint = build_model(PRESETS["autoint"], features)
    assert len(autoint.stack.layers) == 3
    assert all(layer.parts[0].heads == 2 and layer.parts[0].residual is not None for layer in autoint.stack.layers)
    ple = build_model(PRESETS["ple"], features)
    assert len(ple.sharing.levels) == 2
    assert ple.sharing.levels[0].shared_gate is not None and ple.sharing.levels[1].shared_gate is None

"""Zero-cost proxies: scores of a candidate at initialisation, from one or a few mini-batches.

Every function takes a freshly built model (``build_model(arch, features)``, seeded) and batches
of the training split, and returns a float where **lower means predicted better** (the same
direction as NE), so all proxies — zero-cost, warm-up, short training — rank the same way. The
papers' scores are "higher is better", hence the minus signs. ``L`` is the masked BCE over
objectives (the training loss); ``g = ∂L/∂θ``.

- ``grad_norm`` — −Σ_θ ‖g_θ‖₂ (Abdelfattah et al., "Zero-Cost Proxies for Lightweight NAS", 2021).
- ``snip``      — −Σ |θ ⊙ g| (Lee et al., SNIP, 2019; as a NAS proxy: Abdelfattah et al.).
- ``synflow``   — −Σ θ ⊙ ∂R/∂θ with R = Σ f(1) on |θ|, all-ones dense input and id 1 for every
                  sparse feature, in float64 (Tanaka et al., SynFlow, 2020).
- ``naswot``    — −log|K| with K_ij = #units where examples i and j are both active or both
                  inactive, over the pre-activations of every Linear (≈ ReLU codes), plus I so that
                  duplicate rows keep K invertible (Mellor et al., "NAS without training", 2021).
- ``zico``      — −Σ_layers log(Σ_θ∈layer mean_b|g| / std_b(g)) over ≥ 2 batches (Li et al., ZiCo,
                  ICLR 2023).
- ``fisher``    — −Σ_θ mean_b(g²): the empirical Fisher information trace (the Fisher proxy of
                  Turner et al. / Abdelfattah et al. in its parameter form).
- ``params``    — −#parameters (the baseline ZiCo shows most proxies fail to beat).
"""
from __future__ import annotations

import math

import torch
from torch import nn

from unirank.data.batches import Batch
from unirank.train.fit import masked_bce


def _loss(model: nn.Module, b: Batch) -> torch.Tensor:
    return masked_bce(model(*b.inputs), b.labels, b.mask)


def loss_and_grads(model: nn.Module, b: Batch) -> tuple[float, list[tuple[str, torch.Tensor, torch.Tensor]]]:
    """The training loss on ``b`` and (name, θ, g) for every parameter that got a gradient."""
    model.zero_grad(set_to_none=True)
    loss = _loss(model, b)
    loss.backward()
    return float(loss.detach()), [(n, p.detach(), p.grad.detach().clone())
                                  for n, p in model.named_parameters() if p.grad is not None]


def _grads(model: nn.Module, b: Batch) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    return loss_and_grads(model, b)[1]


def grad_norm(model: nn.Module, batches: list[Batch]) -> float:
    return -sum(float(g.norm()) for _, _, g in _grads(model, batches[0]))


def snip(model: nn.Module, batches: list[Batch]) -> float:
    return -sum(float((p * g).abs().sum()) for _, p, g in _grads(model, batches[0]))


def synflow(model: nn.Module, batches: list[Batch]) -> float:
    model = model.double()
    signs = {}
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if p.is_floating_point():
                signs[name] = torch.sign(p)
                p.abs_()
    b = batches[0]
    n = min(len(b.domain), 8)
    dense = torch.ones(n, b.dense.shape[1], dtype=torch.float64)
    sparse = torch.ones(n, b.sparse.shape[1], dtype=torch.int64)
    model.zero_grad(set_to_none=True)
    # lists keep the batch's own (a valid layout: lengths, then right-aligned ids)
    lists = (b.lists[:n],) if getattr(b, "lists", None) is not None else ()
    model(dense, sparse, b.domain[:n], *lists).sum().backward()
    score = sum(float((p.detach() * p.grad).sum()) for p in model.parameters() if p.grad is not None)
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if name in signs:
                p.mul_(signs[name])
    model.float()
    return -score if math.isfinite(score) else float("inf")


def naswot(model: nn.Module, batches: list[Batch]) -> float:
    b = batches[0]
    codes = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: codes.append((out.detach().flatten(1) > 0).double()))
             for m in model.modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            model(*b.inputs)
    finally:
        for h in hooks:
            h.remove()
    if not codes:
        return 0.0
    c = torch.cat(codes, dim=1)
    # + I: identical rows (common in tabular batches) would make K singular; the ridge keeps
    # the ranking of distinct-code kernels and a finite score.
    kernel = c @ c.T + (1 - c) @ (1 - c).T + torch.eye(len(c), dtype=c.dtype)
    sign, logdet = torch.linalg.slogdet(kernel)
    return -float(logdet) if sign > 0 else float("inf")


def zico_sum(per_batch: list[list[tuple[str, torch.Tensor, torch.Tensor]]]) -> float:
    """Σ_layers log(Σ_θ∈layer mean_b|g| / std_b(g)) from per-batch ``loss_and_grads`` lists (a
    layer = the module owning the parameter); higher is better."""
    layers: dict[str, float] = {}
    for k, (name, _, _) in enumerate(per_batch[0]):
        stacked = torch.stack([grads[k][2] for grads in per_batch])
        mean, std = stacked.abs().mean(0), stacked.std(0)
        layer = name.rsplit(".", 1)[0]
        layers[layer] = layers.get(layer, 0.0) + float((mean[std > 0] / std[std > 0]).sum())
    return sum(math.log(v) for v in layers.values() if v > 0)


def zico(model: nn.Module, batches: list[Batch]) -> float:
    return -zico_sum([_grads(model, b) for b in batches[:max(2, len(batches))]])


def fisher(model: nn.Module, batches: list[Batch]) -> float:
    total = 0.0
    for b in batches:
        total += sum(float((g * g).sum()) for _, _, g in _grads(model, b))
    return -total / len(batches)


def params(model: nn.Module, batches: list[Batch]) -> float:
    return -float(sum(p.numel() for p in model.parameters()))


ZERO_COST = {"grad_norm": grad_norm, "snip": snip, "synflow": synflow, "naswot": naswot, "zico": zico,
             "fisher": fisher, "params": params}

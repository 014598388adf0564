"""Weights averaged over training (``train.ema_decay``): an exponential moving average of the
parameters, updated after each step, is what validation measures, early stopping judges and the
trained model keeps.

Small ranking data overfits within an epoch or two (MovieLens stops at its second), and the
weights at any one step carry that step's noise: one training's test NE moves with its seed by
0.001–0.007 (``benchmarks/winners_retrained.py``). The average over the last ~1/(1 − decay) steps
(Polyak averaging; PyTorch's ``AveragedModel`` with ``get_ema_multi_avg_fn``) is a smoother point
of the same trajectory. The copy doubles the model's memory, tables included. Parameters are
averaged at each step; buffers are the model's own, copied when the average is read (the models'
integer index buffers must not be averaged, and running statistics are the current ones).
"""
from __future__ import annotations

from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn


class WeightAverage:
    """The moving average of ``model``'s weights: ``update()`` after each optimizer step;
    ``current()`` the averaged copy (same class and state-dict keys as ``model``)."""

    def __init__(self, model: nn.Module, decay: float):
        self.model = model
        self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=False)

    def update(self) -> None:
        self.averaged.update_parameters(self.model)

    def current(self) -> nn.Module:
        """The averaged copy, its buffers the model's as they are now."""
        for mine, theirs in zip(self.averaged.module.buffers(), self.model.buffers()):
            mine.copy_(theirs)
        return self.averaged.module

    def state_dict(self) -> dict:
        return self.averaged.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.averaged.load_state_dict(state)


def weight_average_for(model: nn.Module, decay: float) -> WeightAverage | None:
    """The average of ``model``'s weights with ``decay`` per step; None when 0 (off)."""
    return WeightAverage(model, decay) if decay else None

"""A whole training step as one CUDA graph: batch gather, forward, backward, every update.

At batch 65,536 a DCNv2-sized step launches a few hundred kernels; issuing them from Python
takes about as long as the GPU takes to run them, so the GPU idles between kernels. Captured once
and replayed, the step costs one launch from the host. This is PyTorch's documented whole-network
capture: the first ``warmup`` steps run eagerly on a side stream (they are real training steps:
they compile, autotune, create optimizer state and cuBLAS handles), then the step is captured
(capture records kernels without running them) and every later full batch copies its row
indices into the graph's static index buffer and replays. The gather of the batch from the
device-resident split is inside the graph, so no batch tensor is made on the host.

Requirements: CUDA, one process (no gradient exchange between ranks), static shapes
(``drop_last``), and optimizers that are capturable (checked by ``can_capture``) — fused AdamW with
``capturable=True``; embedding tables updated densely or by the fused row-wise Adagrad, not by a
sparse-gradient optimizer (building a sparse gradient syncs with the host).
"""
from __future__ import annotations

from typing import Callable

import torch

from unirank.data.batches import Batch, TensorSplit
from unirank.train.fused_adagrad import FusedRowWiseAdagrad


def can_capture(optimizers: list[torch.optim.Optimizer]) -> bool:
    """Whether every optimizer's update can be captured (the caller checks CUDA and one process)."""
    return all(isinstance(o, FusedRowWiseAdagrad) or group.get("capturable", False)
               for o in optimizers for group in o.param_groups)


class GraphedSteps:
    """``graphed(index)`` trains on the rows ``index`` [B] of ``split`` and returns the loss (a
    device scalar, valid until the next call). ``step(batch)`` is the eager step (loss,
    zero_grad, backward, optimizer updates) that is captured."""

    def __init__(self, step: Callable[[Batch], torch.Tensor], split: TensorSplit, batch_size: int,
                 warmup: int = 3):
        self.step, self.split, self.warmup_left = step, split, warmup
        self.index = torch.zeros(batch_size, dtype=torch.int64, device=split.domain.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.loss: torch.Tensor | None = None
        self.side = torch.cuda.Stream(device=split.domain.device)

    def __call__(self, index: torch.Tensor) -> torch.Tensor:
        if len(index) != len(self.index):  # a short batch: not the captured shape
            return self.step(self.split.take(index))
        if self.graph is None and self.warmup_left > 0:
            self.warmup_left -= 1
            self.side.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(self.side):
                loss = self.step(self.split.take(index))
            torch.cuda.current_stream().wait_stream(self.side)
            return loss
        if self.graph is None:
            self.graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(self.graph):
                self.loss = self.step(self.split.take(self.index))
        self.index.copy_(index)
        self.graph.replay()
        return self.loss

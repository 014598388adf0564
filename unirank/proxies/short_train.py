"""The plain low-fidelity baseline: train the candidate alone for ``steps`` mini-batches from
its initialisation (Adam, the study's learning rate), then take its validation NE.
Lower is better; its cost is ``steps × batch_size`` training examples plus one validation pass."""
from __future__ import annotations

import torch

from unirank.data.dataset import Dataset
from unirank.models.ranker import build_model
from unirank.space.arch import ArchSpec
from unirank.train.fit import evaluate, masked_bce


def short_train_ne(arch: ArchSpec, dataset: Dataset, steps: int, batch_size: int = 512, lr: float = 1e-3,
                   seed: int = 0) -> float:
    torch.manual_seed(seed)
    model = build_model(arch, dataset.features)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    done = 0
    while done < steps:
        for b in dataset.splits["train"].batches(batch_size, generator):
            optimizer.zero_grad(set_to_none=True)
            masked_bce(model(b.dense, b.sparse, b.domain), b.labels, b.mask).backward()
            optimizer.step()
            done += 1
            if done >= steps:
                break
    return evaluate(model, dataset.splits["val"], dataset.features).mean_ne

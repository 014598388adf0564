"""The plain low-fidelity baseline: train the candidate alone for ``steps`` mini-batches from
its initialisation (Adam, the study's learning rate), then take its NE on the proxy's held-out
training rows (``proxies/rows.py``: carved from the training split, never trained on; like every
proxy it reads no validation or test row). Lower is better; its cost is ``steps × batch_size``
training examples plus one pass over the held-out rows."""
from __future__ import annotations

import torch

from unirank.data.dataset import Dataset
from unirank.models.ranker import build_model
from unirank.proxies.rows import proxy_rows
from unirank.space.arch import ArchSpec
from unirank.train.fit import evaluate, masked_bce


def short_train_ne(arch: ArchSpec, dataset: Dataset, steps: int, batch_size: int = 512, lr: float = 1e-3,
                   seed: int = 0, holdout_rows: int = 16384) -> float:
    rows = proxy_rows(dataset, seed, holdout_rows=holdout_rows)
    torch.manual_seed(seed)
    model = build_model(arch, dataset.features)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    done = 0
    while done < steps:
        for b in rows.warm.batches(batch_size, generator):
            optimizer.zero_grad(set_to_none=True)
            masked_bce(model(*b.inputs), b.labels, b.mask).backward()
            optimizer.step()
            done += 1
            if done >= steps:
                break
    return evaluate(model, rows.holdout, dataset.features).mean_ne

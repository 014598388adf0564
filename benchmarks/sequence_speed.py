"""CPU training speed with a behaviour sequence: `fit` on the DIN preset against a hand-written loop.

    python benchmarks/sequence_speed.py [--repeats 3] [--threads 2] [--batch 512]

Data: the quickstart data with a 20-event history (``history_length: 20``, 127,500 training rows).
Both train the same DIN model (embedding dim 16, one row per sparse feature and a dense row, DIN's
activation unit 64→36→1 over the history's item+category embeddings, MLP 196→200→80, a 32-wide
tower per portfolio, each example reading its domain's heads) for one epoch with AdamW (lr 1e-3,
weight decay 1e-5; dense embedding gradients, as ``fit`` chooses on CPU for tables this size),
batch ``--batch``, the same shuffled order; the hand-written model is plain PyTorch as an expert
would write it (one fused embedding table with per-feature offsets). Examples per second of the
training epoch (no evaluation), median of ``--repeats`` alternating runs.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402


class HandDIN(nn.Module):
    """DIN written by hand: ``dense`` [B, D], ``sparse`` [B, S], ``domain`` [B], history item and
    category ids [B, L] with lengths [B] → logits [B, T]."""

    def __init__(self, vocab: list[int], item: int, cat: int, dense: int, domains: int, objectives: int):
        super().__init__()
        self.register_buffer("offsets", torch.tensor([0, *vocab[:-1]]).cumsum(0))
        self.item, self.cat, self.d, self.t = item, cat, 16, objectives
        self.table = nn.Embedding(sum(vocab), 16)
        nn.init.normal_(self.table.weight, std=0.01)
        self.dense = nn.Linear(dense, 16)
        self.unit = nn.Sequential(nn.Linear(64, 36), nn.PReLU(), nn.Linear(36, 1))
        width = dense + (len(vocab) + 2) * 16
        self.mlp = nn.Sequential(nn.Linear(width, 200), nn.ReLU(), nn.Linear(200, 80), nn.ReLU())
        self.tower = nn.Linear(80, domains * objectives * 32)
        self.head = nn.Parameter(torch.randn(domains * objectives, 32) * 0.1)
        self.head_bias = nn.Parameter(torch.zeros(domains * objectives))

    def forward(self, dense, sparse, domain, items, cats, lengths):
        rows = self.table(sparse + self.offsets)                                      # [B, S, d]
        events = self.table(items + self.offsets[self.item]) + self.table(cats + self.offsets[self.cat])
        query = rows[:, self.item] + rows[:, self.cat]
        k = items.shape[1]
        mask = torch.arange(k) >= (k - lengths).unsqueeze(1)                            # right-aligned
        q = query.unsqueeze(1).expand_as(events)
        w = self.unit(torch.cat([events, q, events - q, events * q], -1)) * mask.unsqueeze(-1)
        din = (w.transpose(1, 2) @ events)                                               # [B, 1, d]
        matrix = torch.cat([self.dense(dense).unsqueeze(1), rows, din], 1)
        h = self.mlp(torch.cat([dense, matrix.flatten(1)], 1))
        towers = torch.relu(self.tower(h)).view(-1, self.head.shape[0], 32)             # [B, P, 32]
        logits = (towers * self.head).sum(-1) + self.head_bias                          # [B, P]
        return logits.view(-1, logits.shape[1] // self.t, self.t)[torch.arange(len(domain)), domain]


def _hand_epoch(dataset, batch: int, seed: int) -> float:
    from unirank.train import seed_everything

    f = dataset.features
    names = [s.name for s in f.sparse]
    (history,) = f.lists
    seed_everything(seed)
    model = HandDIN([s.vocab_size for s in f.sparse], names.index("c1"), names.index("c1_cat"), len(f.dense),
                    f.num_domains, f.num_objectives)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-5)
    train, L, start = dataset.train, history.max_len, f.list_offset("history")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    began, seen = time.perf_counter(), 0
    for i in range(0, len(train), batch):
        index = order[i:i + batch]
        lists = train.lists[index]
        logits = model(train.dense[index], train.sparse[index], train.domain[index],
                       lists[:, start + 1:start + 1 + L], lists[:, start + 1 + L:start + 1 + 2 * L], lists[:, start])
        loss = nn.functional.binary_cross_entropy_with_logits(logits, train.labels[index], weight=train.mask[index].float(),
                                                              reduction="sum") / train.mask[index].sum().clamp_min(1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        seen += len(index)
    return seen / (time.perf_counter() - began)


def _fit_epoch(dataset, cfg, batch: int, seed: int) -> float:
    from unirank.models import build_model
    from unirank.space import PRESETS
    from unirank.train import fit, seed_everything

    seed_everything(seed)
    model = build_model(PRESETS["din"], dataset.features)
    result = fit(model, dataset, cfg.train.model_copy(update={"max_epochs": 1, "batch_size": batch, "seed": seed,
                                                              "lr": 1e-3, "weight_decay": 1e-5}))
    return result.examples_per_second


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=512)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from unirank.config import load_config
    from unirank.data.dataset import build_dataset

    cfg = load_config(REPO / "studies" / "quickstart.yaml", ["data.history_length=20"])
    dataset = build_dataset(cfg.data)
    ours, hand = [], []
    for r in range(args.repeats):
        ours.append(_fit_epoch(dataset, cfg, args.batch, r))
        hand.append(_hand_epoch(dataset, args.batch, r))
        print(f"run {r}: unirank fit {ours[-1]:,.0f} ex/s, hand-written {hand[-1]:,.0f} ex/s", flush=True)
    a, b = statistics.median(ours), statistics.median(hand)
    body = ("## Training speed with a behaviour sequence (CPU): `fit` against a hand-written loop\n\n"
            "`python benchmarks/sequence_speed.py` (protocol in its docstring): the DIN preset on the quickstart "
            f"data with a 20-event history, batch {args.batch}, {args.threads} threads, one epoch per run.\n\n"
            "| | examples/s (median of " + str(args.repeats) + ") | runs |\n|---|---|---|\n"
            f"| unirank `fit` | {a:,.0f} | {', '.join(f'{x:,.0f}' for x in ours)} |\n"
            f"| hand-written loop | {b:,.0f} | {', '.join(f'{x:,.0f}' for x in hand)} |\n\n"
            f"- `fit` runs at **{a / b:.0%}** of the hand-written loop's speed")
    print(body)
    write_section("sequence_speed", body)


if __name__ == "__main__":
    main()

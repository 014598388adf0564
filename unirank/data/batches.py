"""Pre-tensorised splits and their mini-batches (index slicing, no per-row Python)."""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Iterator, NamedTuple

import torch


class Batch(NamedTuple):
    dense: torch.Tensor   # [B, D] float32, normalised
    sparse: torch.Tensor  # [B, S] int64, 0 = OOV
    domain: torch.Tensor  # [B] int64 domain index
    labels: torch.Tensor  # [B, T] float32 (0 where missing)
    mask: torch.Tensor    # [B, T] bool, True where the label exists
    lists: torch.Tensor | None = None  # [B, L] int64 multi-hot and sequence ids (data.features)
    teacher: torch.Tensor | None = None  # [B, T] float32 a teacher's logits (NaN: no head), distillation

    @property
    def inputs(self) -> tuple[torch.Tensor, ...]:
        """The model's inputs: (dense, sparse, domain) and ``lists`` when the data has any."""
        base = (self.dense, self.sparse, self.domain)
        return base if self.lists is None else (*base, self.lists)


@dataclass
class TensorSplit:
    dense: torch.Tensor
    sparse: torch.Tensor
    domain: torch.Tensor
    labels: torch.Tensor
    mask: torch.Tensor
    lists: torch.Tensor | None = None
    teacher: torch.Tensor | None = None  # [N, T] a teacher's logits for these rows (``unirank.train.distill``)

    def __len__(self) -> int:
        return int(self.domain.shape[0])

    def tensors(self) -> dict[str, torch.Tensor]:
        """The split's tensors by field (``lists`` only when the data has list features)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def to(self, device: torch.device | str) -> "TensorSplit":
        return TensorSplit(**{k: v.to(device) for k, v in self.tensors().items()})

    def batches(self, batch_size: int, generator: torch.Generator | None = None,
                drop_last: bool = False, skip: int = 0) -> Iterator[Batch]:
        """Shuffled when a generator is given, in order otherwise; the last batch may be short
        unless ``drop_last`` (compiled training: one static shape, no recompilation). ``skip``
        leaves out the first batches of the same order (resuming mid-epoch)."""
        n = len(self)
        if drop_last and n >= batch_size:
            n -= n % batch_size
        if generator is None:
            for start in range(0, n, batch_size):
                end = start + batch_size
                yield Batch(self.dense[start:end], self.sparse[start:end], self.domain[start:end],
                            self.labels[start:end], self.mask[start:end],
                            self.lists[start:end] if self.lists is not None else None,
                            self.teacher[start:end] if self.teacher is not None else None)
            return
        for index in self.shuffled_indices(batch_size, generator, drop_last, skip):
            yield self.take(index)

    def shuffled_indices(self, batch_size: int, generator: torch.Generator, drop_last: bool = False,
                         skip: int = 0) -> Iterator[torch.Tensor]:
        """The row indices [≤ batch_size] int64 of each shuffled batch (on the split's device),
        in the order ``batches`` uses."""
        n = len(self)
        if drop_last and n >= batch_size:
            n -= n % batch_size
        device = self.domain.device
        if device.type == "cuda":  # a 4M-row permutation takes ~40 ms on the host: draw it on the GPU,
            # seeded from ``generator`` (so the order still follows its state, e.g. on resume)
            seed = int(torch.randint(1 << 62, (1,), generator=generator))
            order = torch.randperm(len(self), device=device,
                                   generator=torch.Generator(device=device).manual_seed(seed))[:n]
        else:
            order = torch.randperm(len(self), generator=generator)[:n]
        for start in range(skip * batch_size, n, batch_size):
            yield order[start:start + batch_size]

    def take(self, index: torch.Tensor) -> Batch:
        """The rows ``index`` [B] of every tensor, as a Batch."""
        return Batch(self.dense[index], self.sparse[index], self.domain[index],
                     self.labels[index], self.mask[index], self.lists[index] if self.lists is not None else None,
                     self.teacher[index] if self.teacher is not None else None)

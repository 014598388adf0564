"""Fault injection for reliability tests and drills (chaos testing), off unless asked for.

``UNIRANK_FAULT=<kind>@<trial key>`` (several separated by commas) makes the trial whose key
matches (``00003`` for trial 3, ``preset-mmoe`` for a preset) fail inside its first interaction
block on the first forward pass, with the real exception a real fault raises:

- ``oom``: ``torch.OutOfMemoryError`` (what CUDA raises when an allocation fails);
- ``exception``: ``RuntimeError`` from inside the block.

NaN losses need no injection: a learning rate of 1e6 produces them for real.
"""
from __future__ import annotations

import os

import torch

KINDS = ("oom", "exception")


def faults_for(key: str) -> list[str]:
    spec = os.environ.get("UNIRANK_FAULT", "")
    return [kind for kind, _, target in (item.strip().partition("@") for item in spec.split(",") if item.strip())
            if target == key and kind in KINDS]


def install_faults(model: torch.nn.Module, key: str) -> None:
    """Arm the faults configured for ``key`` on the model's first interaction block (or the model)."""
    for kind in faults_for(key):
        block = dict(model.named_modules()).get("stack.layers.0.parts.0", model)

        def explode(module, inputs, kind=kind):
            if kind == "oom":
                raise torch.OutOfMemoryError(
                    f"CUDA out of memory. Tried to allocate 20.00 GiB (injected by UNIRANK_FAULT in {key})")
            raise RuntimeError(f"block {type(module).__name__} failed (injected by UNIRANK_FAULT in {key})")

        block.register_forward_pre_hook(explode)

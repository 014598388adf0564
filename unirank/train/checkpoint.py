"""Weights on disk: safetensors (tensors only, no pickled code), written atomically."""
from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def save_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Write to a temporary name and rename, so a crash never leaves a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path) + ".tmp")
    os.replace(str(path) + ".tmp", path)


def load_weights(model: torch.nn.Module, path: str | Path) -> torch.nn.Module:
    model.load_state_dict(load_file(str(path)))
    return model

"""Distillation: a teacher's logits for the training rows, computed once, and the student's loss.

A *teacher* is any trained model of the same data: an export bundle, or a finished trial of the
study (``search.distill.teacher``: ``best`` | ``trial N`` | a bundle's path). Its logits [N, T] for
every training row are computed in one pass and cached beside the prepared data
(``<cache>/teacher.<key>.npy``; the key hashes the teacher's architecture and
weights and the data's cache folder), so no trial runs the teacher (Lattice's precomputed teacher
outputs). The student's loss is ``label BCE + distill_alpha · BCE(student, sigmoid(teacher))`` over
every (row, objective) the teacher predicts — labelled or not. With ``distill_aux_head`` the
teacher term is read from a separate per-portfolio affine head on the student's logit (after
ExFM's auxiliary head, lighter than its separate tower), so the served logit answers to the
labels alone; the head is dropped after training.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

from unirank.data.dataset import Dataset
from unirank.data.preprocess import PreprocessState
from unirank.errors import UnirankError
from unirank.space.arch import ArchSpec


@dataclass
class Teacher:
    """A trained model to learn from: its architecture, weights, and the data config and
    preprocessing it was trained with (None when the same study trained it)."""

    name: str                       # "trial 7 of study x" | a bundle's path: recorded with every student
    arch: ArchSpec
    weights: Path
    state: PreprocessState
    data: dict | None = None        # the teacher's data config (a bundle's), checked against the student's


def teacher_from_bundle(path: str | Path) -> Teacher:
    from unirank.export.bundle import load_bundle

    if not Path(path).exists():
        raise UnirankError(f"teacher: bundle folder not found: {path}")
    bundle = load_bundle(path)
    return Teacher(name=str(Path(path).resolve()), arch=bundle.arch, weights=bundle.path / "model.safetensors",
                   state=bundle.state, data=bundle.data.model_dump(mode="json"))


def check_teacher(teacher: Teacher, state: PreprocessState, data: dict) -> None:
    """The teacher must read the student's features and have been trained on the same split: a
    teacher trained on other rows may have seen the student's validation or test rows (a leak)."""
    if teacher.data is not None and teacher.data != data:
        changed = sorted(k for k in {*teacher.data, *data} if teacher.data.get(k) != data.get(k))
        raise UnirankError(f"teacher {teacher.name}: trained on other data or another split (data.{changed[0]} "
                           f"differs: {teacher.data.get(changed[0])!r} vs {data.get(changed[0])!r}); its training rows "
                           "may be this study's validation or test rows")
    if teacher.state.teacher_features is not None:
        raise UnirankError(f"teacher {teacher.name}: it reads its own teacher's representation "
                           f"({teacher.state.teacher_features.teacher}); distil from a model of the data's own features")
    state = state.without_teacher()
    mine, theirs = state.feature_spec(), teacher.state.feature_spec()
    if mine != theirs or teacher.state != state:
        names = lambda f: [*f.dense, *(s.name for s in f.sparse), *(x.name for x in f.lists)]  # noqa: E731
        detail = (f"features {names(theirs)} vs {names(mine)}" if names(mine) != names(theirs)
                  else "the same features with other vocabularies or statistics")
        raise UnirankError(f"teacher {teacher.name}: its features do not match the data ({detail})")




@torch.no_grad()
def teacher_logits(teacher: Teacher, dataset: Dataset, cache_folder: Path, device: str = "cpu",
                   batch_size: int = 8192) -> np.ndarray:
    """The teacher's logits [N_train, T] float32 for the training rows in order, computed once per
    (teacher, data) and cached (memory-mapped when read again)."""
    from unirank.train.fit import predict

    path = teacher_file(teacher, cache_folder)
    if path.is_file():
        return np.load(path, mmap_mode="r")
    out = predict(teacher_model(teacher, dataset, device), dataset.train, batch_size, logits=True)  # bf16 on CUDA, as in training
    staging = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(staging, "wb") as handle:
        np.save(handle, out)
    path.with_suffix(".json").write_text(json.dumps({"teacher": teacher.name, "rows": len(out)}))
    os.replace(staging, path)
    return out


def teacher_model(teacher: Teacher, dataset: Dataset, device: str = "cpu") -> nn.Module:
    """The teacher with its weights, in eval mode on ``device`` (``dataset``: the data's own features)."""
    from unirank.models.ranker import build_model
    from unirank.train.checkpoint import load_weights

    return load_weights(build_model(teacher.arch, dataset.features), teacher.weights).to(device).eval()


def teacher_file(teacher: Teacher, cache_folder: Path) -> Path:
    """Where the teacher's logits for this data are cached."""
    key = hashlib.sha256(f"{teacher_key(teacher)}:{Path(cache_folder).name}".encode()).hexdigest()[:16]
    return Path(cache_folder) / f"teacher.{key}.npy"


def teacher_key(teacher: Teacher) -> str:
    """16 hex digits naming the teacher's architecture and weights."""
    weights = Path(teacher.weights)
    return _digest(json.dumps(teacher.arch.to_dict(), sort_keys=True), str(weights.resolve()),
                   weights.stat().st_mtime_ns)[:16]


@lru_cache(maxsize=8)
def _digest(arch: str, weights: str, modified_ns: int) -> str:
    """A hash of an architecture and its weights file (read once per file version)."""
    digest = hashlib.sha256(arch.encode())
    with open(weights, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def with_teacher(dataset: Dataset, logits: np.ndarray) -> Dataset:
    """The dataset with ``train.teacher`` set (the rows' teacher logits [N, T])."""
    if len(logits) != len(dataset.train):
        raise UnirankError(f"teacher outputs: {len(logits)} rows cached for {len(dataset.train)} training rows; "
                           "delete the data cache's teacher.*.npy files to recompute them")
    train = dataset.train
    tensors = {**train.tensors(), "teacher": torch.from_numpy(np.asarray(logits))}
    splits = {**dataset.splits, "train": type(train)(**tensors)}
    return Dataset(features=dataset.features, state=dataset.state, splits=splits)


class AuxHead(nn.Module):
    """The teacher's head: per portfolio an affine map of the student's logit.
    Call: ``logits`` [B, T], ``domain`` [B] int64 → [B, T]."""

    def __init__(self, num_domains: int, num_objectives: int):
        super().__init__()
        self.scale = nn.Parameter(torch.ones(num_domains, num_objectives))
        self.shift = nn.Parameter(torch.zeros(num_domains, num_objectives))

    def forward(self, logits: torch.Tensor, domain: torch.Tensor) -> torch.Tensor:
        return logits * self.scale[domain] + self.shift[domain]


def distill_loss(logits: torch.Tensor, teacher: torch.Tensor, domain: torch.Tensor,
                 head: AuxHead | None = None) -> torch.Tensor:
    """Mean BCE of the student's logits [B, T] (through ``head``) against the teacher's
    probabilities, over the entries the teacher predicts (finite logits)."""
    predicted = torch.isfinite(teacher)
    target = torch.sigmoid(torch.nan_to_num(teacher.float(), nan=0.0))
    student = head(logits, domain) if head is not None else logits
    losses = nn.functional.binary_cross_entropy_with_logits(student.float(), target, reduction="none")
    return (losses * predicted).sum() / predicted.sum().clamp_min(1)

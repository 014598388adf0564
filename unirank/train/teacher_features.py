"""LoopFM: a teacher's representation as the student's input features.

With ``search.distill.embedding: K`` every candidate reads, besides the data's columns, K dense
features ``teacher_0 … teacher_{K-1}``: the output of the teacher's interaction stack h [W] (the
representation all its heads share), centred and projected on its K principal directions of the
*training* rows, each scaled to unit variance — ``z = ((h − mean) @ components.T) / scale`` (the
fitted projection is ``PreprocessState.teacher_features``).

They are computed once per (teacher, data, K) into a *derived prepared-data folder*
``<cache>+teacher.<key>.k<K>`` beside the data's own: the dense column files widened by K, every
other column file a link to the data's, and the state with the projection. Trials, screening,
export and the report read that folder like any prepared data. Every split gets the features (a
served model needs them for every request); the projection is fitted on training rows only.

Serving: the folder — and every bundle exported from it — holds ``teacher_features.pt2``, the
teacher's inputs → z as a ``torch.export`` program, so a caller computes z (or reads it from a
feature store, as LoopFM serves them with a lifetime) and appends it to ``dense``. The student's
MFLOPs count reading z, not producing it: producing it per request costs the teacher's stack.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from unirank.data.column_files import FileSink, column_files
from unirank.data.dataset import Dataset, load_prepared
from unirank.data.preprocess import PreprocessState, TeacherFeatures
from unirank.errors import UnirankError
from unirank.train.distill import Teacher, teacher_key, teacher_model

PROGRAM = "teacher_features.pt2"


class TeacherRepresentation(nn.Module):
    """A teacher ranker's shared representation, projected when ``projection`` is given.
    Call: the teacher's ``dense`` [B, D], ``sparse`` [B, S], ``domain`` [B], ``lists`` [B, L] | None
    → h [B, W] (no projection) | z [B, K]."""

    def __init__(self, model: nn.Module, projection: TeacherFeatures | None = None):
        super().__init__()
        self.model = model
        self.projected = projection is not None
        if projection is not None:
            self.register_buffer("mean", torch.tensor(projection.mean, dtype=torch.float32))
            self.register_buffer("components", torch.tensor(projection.components, dtype=torch.float32))
            self.register_buffer("scale", torch.tensor(projection.scale, dtype=torch.float32))

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor, domain: torch.Tensor,
                lists: torch.Tensor | None = None) -> torch.Tensor:
        matrix, flat = self.model.inputs(dense, sparse, domain, lists)
        h = self.model.stack(matrix, flat)
        if not self.projected:
            return h
        return ((h - self.mean) @ self.components.T) / self.scale


@torch.no_grad()
def fit_projection(model: nn.Module, split, k: int, teacher: Teacher, batch_size: int = 8192) -> TeacherFeatures:
    """The K leading principal directions of the teacher's representations h [W] of ``split``'s
    rows (the training rows), from their first two moments accumulated batch by batch in float64
    (memory O(W²), not O(N·W))."""
    rep = TeacherRepresentation(model).eval()
    device = next(model.parameters()).device
    total, outer, n = None, None, 0
    for b in split.batches(batch_size):
        h = rep(*(x.to(device) for x in b.inputs)).double()
        total = h.sum(0) if total is None else total + h.sum(0)
        outer = h.T @ h if outer is None else outer + h.T @ h
        n += len(h)
    mean = (total / max(n, 1)).cpu().numpy()
    covariance = (outer / max(n, 1)).cpu().numpy() - np.outer(mean, mean)
    values, vectors = np.linalg.eigh(covariance)
    order = np.argsort(values)[::-1][:min(k, len(mean))]
    components = vectors[:, order].T                                   # [K, W]
    signs = np.sign(components[np.arange(len(order)), np.abs(components).argmax(axis=1)])
    components *= np.where(signs == 0, 1.0, signs)[:, None]             # one sign per direction
    scale = np.sqrt(np.maximum(values[order], 1e-12))
    return TeacherFeatures(teacher=teacher.name, key=teacher_key(teacher),
                           columns=[f"teacher_{i}" for i in range(len(order))], mean=mean.tolist(),
                           components=components.tolist(), scale=scale.tolist())


def features_of(model: nn.Module, dataset: Dataset, projection: TeacherFeatures) -> dict[str, np.ndarray]:
    """z [N, K] float32 for every split (fp32, as the exported program computes it)."""
    from unirank.train.fit import predict

    rep = TeacherRepresentation(model, projection).to(next(model.parameters()).device)
    return {name: predict(rep, split, precision="fp32", logits=True) for name, split in dataset.splits.items()}


def with_teacher_features(dataset: Dataset, z: dict[str, np.ndarray], projection: TeacherFeatures) -> Dataset:
    """The dataset with z appended to every split's dense columns (in memory)."""
    splits = {}
    for name, split in dataset.splits.items():
        dense = torch.cat([split.dense, torch.from_numpy(np.ascontiguousarray(z[name], dtype=np.float32))], dim=1)
        splits[name] = type(split)(**{**split.tensors(), "dense": dense})
    state = dataset.state.model_copy(update={"teacher_features": projection})
    return Dataset(features=state.feature_spec(), state=state, splits=splits)


def features_folder(base: Path, teacher: Teacher, k: int, device: str = "cpu") -> Path:
    """The derived prepared-data folder (``<base>+teacher.<key>.k<K>``), built once."""
    base = Path(base)
    folder = base.parent / f"{base.name}+teacher.{teacher_key(teacher)}.k{k}"
    if (folder / "preprocess.json").is_file():
        return folder
    dataset = load_prepared(base)
    model = teacher_model(teacher, dataset, device)
    projection = fit_projection(model, dataset.train, k, teacher)
    z = features_of(model, dataset, projection)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=base.parent))
    os.chmod(staging, 0o755)  # as readable as the data's own folder
    try:
        for name in column_files(base):
            split, tensor = name.split(".")[:2]
            if tensor == "dense":
                _write_widened(staging, split, dataset.splits[split].dense.numpy(), z[split])
            else:
                os.symlink(os.path.join("..", base.name, name), staging / name)
        export_representation(model.cpu(), dataset, projection, staging / PROGRAM)
        state = dataset.state.model_copy(update={"teacher_features": projection})
        (staging / "preprocess.json").write_text(state.model_dump_json())  # last: the folder's "done" mark
        os.replace(staging, folder)
    except OSError:
        if not (folder / "preprocess.json").is_file():  # another process finished it first: use that one
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return folder


def _write_widened(folder: Path, split: str, dense: np.ndarray, z: np.ndarray, rows: int = 1 << 18) -> None:
    """``{split}.dense.npy`` = [dense ‖ z], appended in blocks of rows (as the data's own writer)."""
    sink = FileSink(folder)
    sink.open(split, "dense", np.float32, (len(dense), dense.shape[1] + z.shape[1]))
    for start in range(0, len(dense), rows):
        sink.append(split, "dense", np.concatenate([dense[start:start + rows], z[start:start + rows]], axis=1))
    sink.close()


def export_representation(model: nn.Module, dataset: Dataset, projection: TeacherFeatures, path: Path) -> Path:
    """``teacher_features.pt2``: the teacher's inputs → z [B, K], checked against eager."""
    from unirank.export.serving import export_program, verify_program

    module = TeacherRepresentation(model.eval().cpu(), projection).eval()
    export_program(module, dataset.features, path, probabilities=False)
    verify_program(module, dataset.features, path, tolerance=1e-4, probabilities=False)  # z has unit variance
    return path


def teacher_dataset(dataset: Dataset, teacher: Teacher, projection: TeacherFeatures, device: str = "cpu") -> Dataset:
    """A dataset of the data's own columns, with the features of the teacher a model was trained
    with (``projection`` from its state; the teacher must be that one)."""
    if teacher_key(teacher) != projection.key:
        raise UnirankError(f"--teacher {teacher.name}: not the teacher whose representation this model reads "
                           f"({projection.teacher}); its architecture or weights differ")
    return with_teacher_features(dataset, features_of(teacher_model(teacher, dataset, device), dataset, projection),
                                 projection)

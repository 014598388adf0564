"""Prepared splits as column files: one ``{split}.{tensor}.npy`` per TensorSplit tensor.

Written once per study by a streaming writer that appends rows (never a whole split in memory,
never a memory map while writing, so the writer's resident memory does not grow with the data) and
read by every trial on a node as read-only memory maps: concurrent trials share the page cache
instead of each holding a copy. Any ``np.load`` reads them.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from unirank.data.batches import TensorSplit

SPLITS = ("train", "val", "test")
_FIELDS = ("dense", "sparse", "domain", "labels", "mask", "lists")


class ColumnSink:
    """Where prepared rows go: ``open`` each tensor with its final shape, then ``append`` rows in
    order. The in-memory sink fills arrays; ``FileSink`` appends to ``.npy`` files."""

    def __init__(self) -> None:
        self.arrays: dict[tuple[str, str], np.ndarray] = {}
        self.filled: dict[tuple[str, str], int] = {}

    def open(self, split: str, name: str, dtype, shape: tuple[int, ...]) -> None:
        self.arrays[split, name] = np.empty(shape, dtype=dtype)
        self.filled[split, name] = 0

    def append(self, split: str, name: str, rows: np.ndarray) -> None:
        start = self.filled[split, name]
        self.arrays[split, name][start:start + len(rows)] = rows
        self.filled[split, name] = start + len(rows)

    def close(self) -> None:
        for key, array in self.arrays.items():
            assert self.filled[key] == len(array), f"{key}: {self.filled[key]} of {len(array)} rows written"

    def splits(self) -> dict[str, TensorSplit]:
        return {split: TensorSplit(**{name: torch.from_numpy(a) for (s, name), a in self.arrays.items()
                                      if s == split}) for split in SPLITS}


class FileSink(ColumnSink):
    """Appends each tensor's rows to ``folder/{split}.{name}.npy`` (header first, shape known)."""

    def __init__(self, folder: Path) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.files: dict[tuple[str, str], object] = {}
        self.shapes: dict[tuple[str, str], tuple[tuple[int, ...], np.dtype]] = {}

    def open(self, split: str, name: str, dtype, shape: tuple[int, ...]) -> None:
        handle = open(self.folder / f"{split}.{name}.npy", "wb")
        np.lib.format.write_array_header_1_0(handle, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                      "fortran_order": False, "shape": tuple(shape)})
        self.files[split, name], self.shapes[split, name], self.filled[split, name] = handle, (shape, np.dtype(dtype)), 0

    def append(self, split: str, name: str, rows: np.ndarray) -> None:
        shape, dtype = self.shapes[split, name]
        np.ascontiguousarray(rows, dtype=dtype).tofile(self.files[split, name])
        self.filled[split, name] += len(rows)

    def close(self) -> None:
        for key, handle in self.files.items():
            handle.close()
            assert self.filled[key] == self.shapes[key][0][0], f"{key}: {self.filled[key]} rows written"


def write_splits(folder: Path, splits: dict[str, TensorSplit]) -> None:
    """Tensors already in memory (the built-in sources) → column files."""
    sink = FileSink(folder)
    for split, part in splits.items():
        for name, tensor in part.tensors().items():
            array = tensor.numpy()
            sink.open(split, name, array.dtype, array.shape)
            sink.append(split, name, array)
    sink.close()


def read_splits(folder: Path) -> dict[str, TensorSplit]:
    """Column files → TensorSplits over read-only memory maps (pages shared between processes)."""
    out = {}
    for split in SPLITS:
        tensors = {}
        for name in _FIELDS:
            path = Path(folder) / f"{split}.{name}.npy"
            if path.is_file():
                with warnings.catch_warnings():  # read-only by design: nothing writes into prepared data
                    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
                    tensors[name] = torch.from_numpy(np.load(path, mmap_mode="r"))
        out[split] = TensorSplit(**tensors)
    return out


def column_files(folder: Path) -> list[str]:
    """The split column files' names in ``folder`` (what a node without the driver's disk is sent,
    with the teacher's logits of the invocation, if any; not other teachers' cached outputs)."""
    return sorted(p.name for p in Path(folder).glob("*.npy") if p.name.split(".")[0] in SPLITS)

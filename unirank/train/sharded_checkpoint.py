"""The sharded checkpoint of ``unirank train --sharded`` (``unirank.train.sharded``).

A folder written with ``torch.distributed.checkpoint`` — every rank its shards of the tables,
their optimizer state and the dense part — plus rank 0's ``progress.json`` (epoch, step, each
rank's data-order generator, history, the plan). It is written to a temporary folder and renamed,
so a kill never leaves a half-written one.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch.distributed as dist


class ShardedCheckpoint:
    """The sharded checkpoint folder: DCP shards + rank 0's ``progress.json``; written to a
    temporary folder and renamed, so a kill never leaves a half-written one."""

    def __init__(self, folder: Path):
        self.folder = folder

    def exists(self) -> bool:
        return (self.folder / "progress.json").is_file()

    def save(self, dmp, optimizer, progress: dict) -> None:
        import torch.distributed.checkpoint as dcp

        staging = self.folder.with_name(self.folder.name + ".tmp")
        if dist.get_rank() == 0 and staging.exists():
            shutil.rmtree(staging)
        dist.barrier()
        dcp.save({"model": dmp.state_dict(), "optimizer": optimizer.state_dict()}, checkpoint_id=str(staging))
        dist.barrier()
        if dist.get_rank() == 0:
            (staging / "progress.json").write_text(json.dumps(progress))
            old = self.folder.with_name(self.folder.name + ".old")
            if self.folder.exists():
                self.folder.rename(old)
            staging.rename(self.folder)
            shutil.rmtree(old, ignore_errors=True)
        dist.barrier()

    def load(self, dmp, optimizer) -> dict:
        import torch.distributed.checkpoint as dcp

        state = {"model": dmp.state_dict(), "optimizer": optimizer.state_dict()}
        dcp.load(state, checkpoint_id=str(self.folder))
        dmp.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        return json.loads((self.folder / "progress.json").read_text())

    def remove(self) -> None:
        if dist.get_rank() == 0:
            shutil.rmtree(self.folder, ignore_errors=True)

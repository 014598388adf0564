"""Sharded training of a bundle: ``torchrun … -m unirank train BUNDLE --sharded`` (torchrec).

The bundle's model is built with the torchrec engine (``unirank.models.torchrec_tables``) and
wrapped in ``DistributedModelParallel``: ``EmbeddingShardingPlanner`` places the feature tables
on the ranks (topology: the world size and each rank's memory, ``train.sharding`` for the budget
and the allowed sharding types per feature group; table-wise, row-wise, column-wise as it
decides), the tables train with torchrec's fused row-wise Adagrad (applied inside backward, the
optimizer state sharded with them), the dense part is data-parallel (DDP) with AdamW. Each rank
reads its own equal shard of the training rows; global batch = world × ``batch_size``.

Checkpoints (``retrained/sharded-checkpoint/``, ``unirank.train.sharded_checkpoint``) are sharded:
every rank writes its shards of the tables, their optimizer state and the dense part, rank 0 the
progress (epoch, step, the data order's generator, history) and the plan; a rerun resumes from
there and ends where an uninterrupted run ends. The plan chosen is printed and saved beside the
weights (``retrained/plan.txt``). At the end the shards are gathered on rank 0 into the ordinary
bundle files — ``retrained/model.safetensors`` (plain-engine names, so serving is unchanged) and
``retrained/model.pt2`` checked against eager — and the gathered model's predictions are checked
against the sharded model's on one batch (``metrics.json`` → ``gathered_vs_sharded``).

Differences from the single-process protocol (``unirank.train.fit``): every epoch runs (no early
stopping, the last epoch's weights are kept), fp32, no compile; validation NE is computed after
each epoch from every rank's predictions on its part of the validation rows.
"""
from __future__ import annotations

import os
import socket
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from unirank.config import TrainConfig
from unirank.data.batches import TensorSplit
from unirank.errors import UnirankError
from unirank.train.distributed import World
from unirank.train.fit import masked_bce, seed_everything
from unirank.train.metrics import EvalResult, portfolio_metrics
from unirank.train.sharded_checkpoint import ShardedCheckpoint

CPU_SHARDING_TYPES = ("table_wise", "column_wise", "table_column_wise", "data_parallel")


def _join(device: str) -> tuple[int, int, torch.device]:
    """Join torchrun's process group (or make a group of one) → (rank, world size, device)."""
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if "WORLD_SIZE" not in os.environ:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            dist.init_process_group(backend, init_method=f"tcp://127.0.0.1:{port}", rank=0, world_size=1)
        else:
            dist.init_process_group(backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local_rank)
        return dist.get_rank(), dist.get_world_size(), torch.device("cuda", local_rank)
    return dist.get_rank(), dist.get_world_size(), torch.device("cpu")


def _plan(model, world: int, device: torch.device, cfg: TrainConfig, group_names: list[str]):
    """torchrec's sharding plan for the model's tables under ``train.sharding``."""
    from torchrec.distributed.planner import EmbeddingShardingPlanner, Topology
    from torchrec.distributed.planner.storage_reservations import FixedPercentageStorageReservation
    from torchrec.distributed.planner.types import ParameterConstraints

    budget = cfg.sharding.memory_per_rank_mb
    if budget is None:
        budget = (torch.cuda.get_device_properties(device).total_memory / 2**20 if device.type == "cuda"
                  else 0.8 * os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**20 / world)
    caps = {"hbm_cap": int(budget * 2**20), "ddr_cap": 0} if device.type == "cuda" else {
        "hbm_cap": 0, "ddr_cap": int(budget * 2**20)}
    constraints = {}
    for group, types in cfg.sharding.types.items():
        if group not in group_names:
            raise UnirankError(f"train.sharding.types: {group!r} is not a feature group with a table "
                               f"(groups: {', '.join(group_names)})")
        if device.type == "cpu" and not set(types) & set(CPU_SHARDING_TYPES):
            raise UnirankError(f"train.sharding.types.{group}: {list(types)} cannot run on CPU (torchrec offers "
                               f"{', '.join(CPU_SHARDING_TYPES)} there)")
        constraints[f"group{group_names.index(group)}"] = ParameterConstraints(sharding_types=list(types))
    topology = Topology(world_size=world, compute_device=device.type, **caps)
    # a fixed 10% of the budget kept for everything but the tables (the heuristic default guesses
    # the dense part's size and can leave small budgets nothing)
    planner = EmbeddingShardingPlanner(topology=topology, constraints=constraints or None, batch_size=cfg.batch_size,
                                       storage_reservation=FixedPercentageStorageReservation(0.1))
    try:
        return planner.collective_plan(model, None, dist.GroupMember.WORLD)
    except Exception as err:  # the planner's own message (rank 0 plans, the others wait for it)
        if dist.get_rank() != 0:
            raise UnirankError("train.sharding: no plan (rank 0 says why)") from None
        raise UnirankError(f"train.sharding: torchrec's planner found no plan "
                           f"({str(err).strip().splitlines()[0][:300]})") from None


def _local_state(dmp, full: dict[str, torch.Tensor]) -> None:
    """Fill the sharded model from an unsharded state dict (plain-engine or torchrec names)."""
    with torch.no_grad():
        for key, value in dmp.state_dict().items():
            source = full[key.removeprefix("module.")]
            if hasattr(value, "local_shards"):  # ShardedTensor: this rank's pieces
                for shard in value.local_shards():
                    (r, c), (h, w) = shard.metadata.shard_offsets, shard.metadata.shard_sizes
                    shard.tensor.copy_(source[r:r + h, c:c + w])
            else:
                value.copy_(source)


def gathered_state(dmp) -> dict[str, torch.Tensor] | None:
    """The full (unsharded) state dict on rank 0, torchrec names; None on the other ranks."""
    out = {}
    for key, value in dmp.state_dict().items():
        if hasattr(value, "local_shards"):
            shards = value.local_shards()
            device = shards[0].tensor.device if shards else torch.device("cpu")  # nccl gathers on the GPU
            full = torch.zeros(value.size(), dtype=value.dtype, device=device) if dist.get_rank() == 0 else None
            value.gather(0, full)
            value = full
        if dist.get_rank() == 0:
            out[key.removeprefix("module.")] = value.detach().cpu().clone()
    return out if dist.get_rank() == 0 else None


def _rank_part(split: TensorSplit, rank: int, world: int) -> tuple[TensorSplit, int]:
    """This rank's part of an evaluation split, padded (by repeating its last row) so that every
    rank runs the same number of batches → (the part, how many of its rows are real)."""
    per_rank = -(-len(split) // world)
    rows = torch.arange(rank * per_rank, (rank + 1) * per_rank).clamp_max(len(split) - 1)
    real = max(0, min(per_rank, len(split) - rank * per_rank))
    return TensorSplit(**{k: v[rows] for k, v in split.tensors().items()}), real


@torch.no_grad()
def _evaluate(dmp, split: TensorSplit, features, rank: int, world: int, device, batch_size: int) -> EvalResult:
    part, real = _rank_part(split, rank, world)
    dmp.eval()
    probs = torch.cat([torch.sigmoid(dmp(*(x.to(device) for x in b.inputs))).cpu()
                       for b in part.batches(batch_size)])[:real]
    dmp.train()
    pieces = [None] * world
    dist.all_gather_object(pieces, probs.numpy())
    result = [None]
    if rank == 0:
        result[0] = portfolio_metrics(np.concatenate(pieces), split.labels.numpy(), split.mask.numpy(),
                                      split.domain.numpy(), features.domains, features.objectives)
    dist.broadcast_object_list(result, src=0)
    return result[0]


def train_sharded(bundle, dataset, cfg: TrainConfig, output: Path, from_weights: bool,
                  checkpoint_every: int, restart: bool) -> dict:
    """Train ``bundle``'s architecture sharded across the process group → rank 0's metrics
    (``validation``, ``history``, ``examples_per_second``, …; an empty dict on other ranks)."""
    from unirank.models.torchrec_tables import _torchrec

    if cfg.embedding_l2:
        raise UnirankError("train.embedding_l2: not supported with --sharded (the tables update inside backward, "
                           "row by row); set it to 0")
    if cfg.id_dropout:
        raise UnirankError("train.id_dropout: not supported with --sharded yet; set it to 0")
    if cfg.ema_decay:
        raise UnirankError("train.ema_decay: not supported with --sharded (the tables update inside backward); "
                           "set it to 0")
    if cfg.calibrate or cfg.evals_per_epoch != 1:
        raise UnirankError(f"train.{'calibrate' if cfg.calibrate else 'evals_per_epoch'}: not supported with --sharded "
                           "yet (validation is measured once an epoch, uncalibrated); leave it out")

    _torchrec()  # not installed: one line saying how, not an ImportError
    from torchrec.distributed.model_parallel import DistributedModelParallel
    from torchrec.optim import RowWiseAdagrad
    from torchrec.optim.apply_optimizer_in_backward import apply_optimizer_in_backward
    from torchrec.optim.keyed import CombinedOptimizer, KeyedOptimizerWrapper
    from torchrec.optim.optimizers import in_backward_optimizer_filter

    from unirank.models.ranker import build_model
    from unirank.models.torchrec_tables import convert_state

    rank, world, device = _join(cfg.device)
    seed_everything(cfg.seed)
    model = build_model(bundle.arch, dataset.features, engine="torchrec")
    if from_weights:
        from safetensors.torch import load_file

        model.load_state_dict(convert_state(load_file(str(bundle.path / "model.safetensors")), model))
    full = {k: v.detach().clone() for k, v in model.state_dict().items()}
    apply_optimizer_in_backward(RowWiseAdagrad, model.inputs.tables.parameters(), {"lr": cfg.embedding_lr or 0.05})
    plan = _plan(model, world, device, cfg, model.inputs.group_names)
    dmp = DistributedModelParallel(model, device=device, plan=plan)
    _local_state(dmp, full)
    dense = KeyedOptimizerWrapper(dict(in_backward_optimizer_filter(dmp.named_parameters())),
                                  lambda params: torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay))
    optimizer = CombinedOptimizer([("tables", dmp.fused_optimizer), ("dense", dense)])
    if rank == 0:
        output.mkdir(parents=True, exist_ok=True)
        (output / "plan.txt").write_text(str(plan) + "\n")
        print(f"sharding plan ({world} ranks, {device.type}):\n{plan}", flush=True)
    checkpoint = ShardedCheckpoint(output / "sharded-checkpoint")
    if restart:
        checkpoint.remove()
    dist.barrier()
    train = World(rank, world, device).shard(dataset.train).to(device)
    generator = torch.Generator().manual_seed(cfg.seed + rank)
    progress = {"epoch": 1, "step": 0, "history": [], "seconds": 0.0, "examples": 0}
    resumed = checkpoint.exists()
    if resumed:
        dense.init_state()  # AdamW's state is lazy: make it, so the checkpoint loads into it in place
        progress = checkpoint.load(dmp, optimizer)
        generator.set_state(torch.tensor(progress["generator"][rank], dtype=torch.uint8))

    def save(epoch: int, step: int, order: torch.Tensor) -> None:
        states = [None] * world
        dist.all_gather_object(states, order.tolist())
        checkpoint.save(dmp, optimizer, {**progress, "epoch": epoch, "step": step, "generator": states,
                                          "plan": str(plan)})

    dmp.train()
    for epoch in range(progress["epoch"], cfg.max_epochs + 1):
        skip, progress["step"] = progress["step"], 0
        order = generator.get_state()
        started, seen, losses = time.perf_counter(), 0, []
        for step, index in enumerate(train.shuffled_indices(cfg.batch_size, generator, drop_last=True, skip=skip),
                                     start=skip + 1):
            batch = train.take(index)
            loss = masked_bce(dmp(*batch.inputs), batch.labels, batch.mask)
            dense.zero_grad(set_to_none=True)
            loss.backward()  # the tables update inside backward (fused row-wise Adagrad)
            dense.step()
            seen += len(index)
            losses.append(float(loss))
            if step % checkpoint_every == 0:
                save(epoch, step, order)
        seconds = time.perf_counter() - started
        val = _evaluate(dmp, dataset.val, dataset.features, rank, world, device, 8192)
        progress["history"].append({"epoch": epoch, "val_mean_ne": val.mean_ne, "val_mean_auc": val.mean_auc,
                                    "train_loss": statistics.mean(losses) if losses else None,
                                    "seconds": seconds, "examples_per_second": seen * world / max(seconds, 1e-9)})
        progress["seconds"] += seconds
        progress["examples"] += seen * world
        if rank == 0:
            print(f"epoch {epoch}: validation mean NE {val.mean_ne:.4f}, {seen * world / max(seconds, 1e-9):,.0f} "
                  "examples/s", flush=True)
        save(epoch + 1, 0, generator.get_state())
    state = gathered_state(dmp)
    check = _gathered_vs_sharded(dmp, state, bundle, dataset, device)
    checkpoint.remove()
    if rank != 0:
        return {}
    history = progress["history"]
    return {"state": state, "validation": history[-1] if history else None, "history": history,
            "resumed": resumed, "world_size": world, "plan": str(plan), "gathered_vs_sharded": check,
            "examples_per_second": statistics.median(h["examples_per_second"] for h in history) if history else 0.0}


@torch.no_grad()
def _gathered_vs_sharded(dmp, state, bundle, dataset, device) -> float | None:
    """Max |p_sharded − p_gathered| on the first 512 validation rows (every rank feeds the same
    batch; rank 0 compares with the plain-engine model built from the gathered weights)."""
    from unirank.models.ranker import build_model
    from unirank.models.torchrec_tables import convert_state

    batch = next(iter(dataset.val.batches(512)))
    dmp.eval()
    sharded = torch.sigmoid(dmp(*(x.to(device) for x in batch.inputs))).cpu()
    dmp.train()
    if dist.get_rank() != 0:
        return None
    plain = build_model(bundle.arch, dataset.features)
    plain.load_state_dict(convert_state(state, plain))
    return float((torch.sigmoid(plain.eval()(*batch.inputs)) - sharded).abs().max())

"""`unirank train <bundle>`: train the bundle's architecture on its data (torch + data stack only)."""
from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError

from unirank.config import TrainConfig

from unirank.data.dataset import build_dataset
from unirank.errors import UnirankError, describe_validation_error
from unirank.export.bundle import load_bundle
from unirank.models.ranker import build_model
from unirank.proxies.cost import model_cost
from unirank.train.checkpoint import save_weights
from unirank.train.distill import check_teacher, teacher_from_bundle, teacher_logits, with_teacher
from unirank.train.teacher_features import teacher_dataset
from unirank.train.distributed import init_from_env
from unirank.train.fit import Checkpointing, fit, seed_everything


@dataclass
class RetrainResult:
    bundle: Path
    output: Path
    mean_ne: float
    mean_auc: float
    exported_mean_ne: float | None
    epochs_run: int
    examples_per_second: float
    device: str
    train_tflops: float
    resumed: bool = False
    world_size: int = 1
    is_main: bool = True

    def describe(self) -> str:
        exported = f"{self.exported_mean_ne:.4f}" if self.exported_mean_ne is not None else "untrained bundle"
        where = self.device + (f" × {self.world_size} processes" if self.world_size > 1 else "")
        resumed = " (resumed from checkpoint)" if self.resumed else ""
        return (f"trained {self.bundle} on {where}{resumed}: validation mean NE {self.mean_ne:.4f} "
                f"(exported: {exported}), mean grouped AUC {self.mean_auc:.4f}, {self.epochs_run} epochs, "
                f"{self.examples_per_second:,.0f} examples/s (median epoch), "
                f"{self.train_tflops:.1f} TFLOP/s achieved (3 × forward matmul FLOPs); "
                f"weights: {self.output / 'model.safetensors'}")


def train_bundle(path: str | Path, device: str = "cpu", max_epochs: int | None = None,
                 from_weights: bool = False, overrides: dict | None = None,
                 checkpoint_every: int = 1000, restart: bool = False, sharded: bool = False,
                 teacher: str | Path | None = None) -> RetrainResult:
    """``overrides``: TrainConfig fields to change (batch_size, compile, embedding_optimizer, …).

    Checkpoints go to ``<bundle>/retrained/checkpoint.pt`` every ``checkpoint_every`` steps and
    at each epoch end; a rerun resumes from there (unless ``restart``), and the checkpoint is
    removed once training has finished. Under ``torchrun`` (WORLD_SIZE > 1) training is
    data-parallel (``unirank.train.distributed``); rank 0 writes the outputs. ``sharded``: the
    tables sharded by torchrec instead (``unirank.train.sharded``), gathered into one bundle at the end.
    ``teacher``: an export bundle of the same data and split to distil from (``unirank.train.distill``;
    its logits for the training rows computed once, on ``device``, and cached in ``retrained/``).
    """
    bundle = load_bundle(path)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnirankError(f"--device {device}: CUDA is not available on this machine")
    dataset = build_dataset(bundle.data, state=bundle.state.without_teacher())
    reads_teacher = bundle.state.teacher_features
    if reads_teacher is not None and teacher is None:
        raise UnirankError(f"{bundle.path}: the model reads its teacher's representation ({reads_teacher.teacher}); "
                           "pass --teacher with that teacher's export bundle")
    update = {"device": device, **({"max_epochs": max_epochs} if max_epochs else {}), **(overrides or {})}
    try:
        train_cfg = TrainConfig.model_validate(_merged(bundle.train.model_dump(), update))
    except ValidationError as err:
        raise UnirankError(describe_validation_error(err, "train option")) from None
    taught_by = None
    if teacher is not None:
        if sharded:
            raise UnirankError("--teacher: distillation is not available with --sharded")
        taught_by = teacher_from_bundle(teacher)
        check_teacher(taught_by, bundle.state, bundle.data.model_dump(mode="json"))
        logits = teacher_logits(taught_by, dataset, bundle.path / "retrained", device)
        if reads_teacher is not None:  # its features, with the projection the model was trained with
            dataset = teacher_dataset(dataset, taught_by, reads_teacher, device)
        dataset = with_teacher(dataset, logits)
    if sharded:
        return _train_sharded(bundle, dataset, train_cfg, from_weights, checkpoint_every, restart)
    world = init_from_env(device)
    seed_everything(train_cfg.seed)
    model = bundle.model() if from_weights else build_model(bundle.arch, dataset.features)
    # achieved TFLOP/s counts matmul FLOPs (3 × forward), as MFU figures and FlopCounterMode do
    forward_flops = model_cost(model, dataset.features, latency_batch=0).matmul_flops_per_example
    output = bundle.path / "retrained"
    checkpointing = Checkpointing(output / "checkpoint.pt", checkpoint_every)
    if restart and checkpointing.path.is_file():
        checkpointing.path.unlink()
    resumed = checkpointing.path.is_file()
    result = fit(model, dataset, train_cfg, checkpointing=checkpointing, world=world)
    speeds = [h["examples_per_second"] for h in result.history]
    speed = statistics.median(speeds[1:] if train_cfg.compile and len(speeds) > 1 else speeds)
    tflops = speed * 3 * forward_flops / 1e12
    ranks = world.size if world else 1
    is_main = world is None or world.is_main
    if is_main:
        save_weights(model, output / "model.safetensors")
        checkpointing.path.unlink(missing_ok=True)
        (output / "metrics.json").write_text(json.dumps(
            {"validation": result.val.to_dict(), "best_epoch": result.best_epoch, "device": device,
             "examples_per_second": speed, "train_tflops": tflops, "train": train_cfg.model_dump(mode="json"),
             "world_size": ranks, "resumed_from_checkpoint": resumed, "history": result.history,
             **({"teacher": taught_by.name} if taught_by else {})}, indent=2))
    if world is not None:
        torch.distributed.destroy_process_group()
    exported = bundle.metrics.get("validation")
    return RetrainResult(bundle=bundle.path, output=output, mean_ne=result.val.mean_ne,
                         mean_auc=result.val.mean_auc,
                         exported_mean_ne=exported["mean_ne"] if exported else None,
                         epochs_run=result.epochs_run, examples_per_second=speed, device=device,
                         train_tflops=tflops, resumed=resumed, world_size=ranks, is_main=is_main)


def _merged(base: dict, update: dict) -> dict:
    """``update`` over ``base``, section by section (``{"sharding": {"types": …}}`` keeps the rest)."""
    out = dict(base)
    for key, value in update.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def _train_sharded(bundle, dataset, train_cfg: TrainConfig, from_weights: bool, checkpoint_every: int,
                   restart: bool) -> RetrainResult:
    """``unirank train --sharded``: torchrec shards the tables; rank 0 writes one ordinary bundle."""
    from unirank.export.serving import export_program, verify_program
    from unirank.models.torchrec_tables import convert_state
    from unirank.train.sharded import train_sharded

    output = bundle.path / "retrained"
    out = train_sharded(bundle, dataset, train_cfg, output, from_weights, checkpoint_every, restart)
    is_main = torch.distributed.get_rank() == 0
    world = torch.distributed.get_world_size()
    mean_ne = mean_auc = float("nan")
    model = build_model(bundle.arch, dataset.features)  # the plain engine: the bundle's weights and FLOPs
    if is_main:
        model.load_state_dict(convert_state(out.pop("state"), model))
        save_weights(model, output / "model.safetensors")
        export_program(model, dataset.features, output / "model.pt2")
        serving = verify_program(model, dataset.features, output / "model.pt2")
        last = out["validation"]
        mean_ne, mean_auc = last["val_mean_ne"], last["val_mean_auc"]
        (output / "metrics.json").write_text(json.dumps(
            {"validation": {"mean_ne": mean_ne, "mean_auc": mean_auc}, "device": train_cfg.device,
             "examples_per_second": out["examples_per_second"], "train": train_cfg.model_dump(mode="json"),
             "world_size": world, "sharded": True, "plan": out["plan"], "resumed_from_checkpoint": out["resumed"],
             "gathered_vs_sharded": {"max_abs_diff_probability": out["gathered_vs_sharded"]},
             "serving_check": {"max_abs_diff_eager_vs_pt2": serving}, "history": out["history"]}, indent=2))
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
    exported = bundle.metrics.get("validation")
    forward_flops = model_cost(model, dataset.features, latency_batch=0).matmul_flops_per_example
    speed = out.get("examples_per_second", 0.0)
    return RetrainResult(bundle=bundle.path, output=output, mean_ne=mean_ne, mean_auc=mean_auc,
                         exported_mean_ne=exported["mean_ne"] if exported else None,
                         epochs_run=len(out.get("history", [])), examples_per_second=speed,
                         device=train_cfg.device + " (tables sharded)", train_tflops=speed * 3 * forward_flops / 1e12,
                         resumed=out.get("resumed", False), world_size=world, is_main=is_main)

"""The function every Ray Tune trial runs: train one ArchSpec with the study's protocol.

It reports validation NE after every epoch (what a Ray Tune scheduler such as ASHA acts on) and a
final result with ``final=True``, the per-portfolio metrics and the path of the saved weights.
Imports stay light (torch, the data cache) so a worker starts fast.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from unirank.config import TrainConfig
from unirank.data.dataset import Dataset, load_prepared
from unirank.models.ranker import build_model
from unirank.space.arch import ArchSpec
from unirank.train.checkpoint import save_weights
from unirank.train.fit import TrainingDiverged, fit, seed_everything

_DATASETS: dict[str, Dataset] = {}


@dataclass(frozen=True)
class TrialSetup:
    cache_dir: str
    trials_dir: str
    train: dict
    threads: int



def run_trial(config: dict, setup: TrialSetup) -> None:
    import ray
    from ray import tune

    torch.set_num_threads(setup.threads)
    if setup.cache_dir not in _DATASETS:
        _DATASETS[setup.cache_dir] = load_prepared(Path(setup.cache_dir))
    dataset = _DATASETS[setup.cache_dir]
    train_cfg = TrainConfig.model_validate(setup.train)
    arch = ArchSpec.model_validate(config["arch"])
    seed_everything(train_cfg.seed)
    model = build_model(arch, dataset.features)

    def report_epoch(epoch: int, val) -> None:
        tune.report({"mean_ne": val.mean_ne, "mean_auc": val.mean_auc, "epoch": epoch})

    try:
        result = fit(model, dataset, train_cfg, on_epoch=report_epoch)
    except TrainingDiverged as err:
        # A failed candidate, not a crash: the searcher records the reason and the study goes on.
        tune.report({"mean_ne": float("nan"), "final": True, "fail_reason": str(err)})
        return
    weights = Path(setup.trials_dir) / config["key"] / "model.safetensors"
    save_weights(model, weights)
    tune.report({
        "mean_ne": result.val.mean_ne, "mean_auc": result.val.mean_auc, "final": True,
        "metrics": json.dumps(result.val.to_dict()), "weights": str(weights),
        "best_epoch": result.best_epoch, "train_seconds": result.train_seconds,
        "examples_per_second": result.examples_per_second,
        "node": ray.get_runtime_context().get_node_id(),
    })

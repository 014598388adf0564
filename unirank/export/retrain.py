"""`unirank train <bundle>`: train the bundle's architecture on its data (torch + data stack only)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch

from unirank.data.dataset import build_dataset
from unirank.errors import UnirankError
from unirank.export.bundle import load_bundle
from unirank.models.ranker import build_model
from unirank.train.checkpoint import save_weights
from unirank.train.fit import fit, seed_everything


@dataclass
class RetrainResult:
    bundle: Path
    output: Path
    mean_ne: float
    mean_auc: float
    exported_mean_ne: float
    epochs_run: int
    examples_per_second: float
    device: str

    def describe(self) -> str:
        return (f"trained {self.bundle} on {self.device}: validation mean NE {self.mean_ne:.4f} "
                f"(exported trial: {self.exported_mean_ne:.4f}), mean AUC {self.mean_auc:.4f}, "
                f"{self.epochs_run} epochs, {self.examples_per_second:,.0f} examples/s; "
                f"weights: {self.output / 'model.safetensors'}")


def train_bundle(path: str | Path, device: str = "cpu", max_epochs: int | None = None,
                 from_weights: bool = False) -> RetrainResult:
    bundle = load_bundle(path)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UnirankError(f"--device {device}: CUDA is not available on this machine")
    dataset = build_dataset(bundle.data, state=bundle.state)
    train_cfg = bundle.train.model_copy(update={"device": device, **({"max_epochs": max_epochs} if max_epochs else {})})
    seed_everything(train_cfg.seed)
    model = bundle.model() if from_weights else build_model(bundle.arch, dataset.features)
    result = fit(model, dataset, train_cfg)
    output = bundle.path / "retrained"
    save_weights(model, output / "model.safetensors")
    (output / "metrics.json").write_text(json.dumps(
        {"validation": result.val.to_dict(), "best_epoch": result.best_epoch, "device": device,
         "examples_per_second": result.examples_per_second, "history": result.history}, indent=2))
    return RetrainResult(bundle=bundle.path, output=output, mean_ne=result.val.mean_ne,
                         mean_auc=result.val.mean_auc,
                         exported_mean_ne=bundle.metrics["validation"]["mean_ne"],
                         epochs_run=result.epochs_run, examples_per_second=result.examples_per_second,
                         device=device)

"""The function every Ray Tune trial runs: train one ArchSpec with the study's protocol.

It reports validation NE after every epoch (what a Ray Tune scheduler such as ASHA acts on) and a
final result with ``final=True``, the per-portfolio metrics (with the NE of validation's two
halves, ``unirank.search.agreement``) and the path of the saved weights (on
another node than the driver's without a shared disk: the weights themselves, through Ray's
object store, for the driver to write there; the prepared data likewise comes from the object
store, see ``TrialSetup.local_data``).

Two rules keep a scheduler from losing finished work:
- the epoch ``train.max_epochs`` is not reported on its own but inside the final result. ASHA stops
  every trial whose time reaches its ``max_t`` (= ``max_epochs``); had that epoch come alone, a
  trial that survived every rung would be stopped before its weights and metrics were reported.
- presets report their epochs under ``preset_epoch``, a key no scheduler watches, so that every
  preset trains to the end (they are the reference points, not candidates to prune).
Imports stay light (torch, the data cache) so a worker starts fast.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from unirank.config import TrainConfig
from unirank.data.dataset import Dataset, load_prepared
from unirank.models.ranker import build_model
from unirank.proxies.cost import LATENCY_BATCH, example_inputs, measure_latency
from unirank.search.agreement import halves_ne
from unirank.space.arch import ArchSpec
from unirank.train.checkpoint import save_weights
from unirank.train.distill import with_teacher
from unirank.train.faults import install_faults
from unirank.train.fit import TrainingDiverged, fit, seed_everything

_DATASETS: dict[str, Dataset] = {}


@dataclass(frozen=True)
class TrialSetup:
    cache_dir: str
    trials_dir: str
    train: dict
    threads: int
    driver_node: str = ""           # the Ray node id of the process running the search
    shared_disk: str | bool = "auto"  # SearchConfig.shared_disk: False = never read the driver's paths
    data_ref: object = None         # Ray ObjectRef: {file name: bytes} of the prepared data
    teacher_file: str = ""          # search.distill: the teacher's cached logits in the data folder
    teacher: str = ""               # ... and its name, recorded with every student

    def on_driver_node(self) -> bool:
        import ray

        return ray.get_runtime_context().get_node_id() == self.driver_node

    def local_data(self) -> Path:
        """The prepared data's folder on this node: the driver's when it can be read here, else a
        copy fetched once per node from the object store into the node's temporary folder."""
        import tempfile

        import ray

        cache = Path(self.cache_dir)
        if (self.on_driver_node() or self.shared_disk is not False) and (cache / "preprocess.json").is_file():
            return cache
        if self.data_ref is None:
            raise RuntimeError(f"the prepared data {cache} is not readable on this node and was not sent "
                               "(search.shared_disk: false sends it)")
        local = Path(tempfile.gettempdir()) / "unirank-data" / cache.name
        wanted = ["preprocess.json", *([self.teacher_file] if self.teacher_file else [])]  # a later teacher too
        if not all((local / name).is_file() for name in wanted):
            local.mkdir(parents=True, exist_ok=True)
            for name, blob in ray.get(self.data_ref).items():  # preprocess.json last: the "done" mark
                (local / f"{name}.tmp").write_bytes(blob)
                (local / f"{name}.tmp").replace(local / name)
        return local



def failure_reason(err: BaseException) -> str:
    """One line for the study and the dashboard: what failed, in words a user can act on."""
    first = (str(err).strip().splitlines() or [""])[0][:300]
    if isinstance(err, TrainingDiverged):
        return f"diverged: {first}"
    if isinstance(err, torch.OutOfMemoryError) or "out of memory" in first.lower() \
            or "can't allocate memory" in first.lower():
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return f"out of memory: {first} (try a smaller train.batch_size or a budget.max_params)"
    return f"{type(err).__name__} during training: {first}"


def run_trial(config: dict, setup: TrialSetup) -> None:
    import ray
    from ray import tune

    torch.set_num_threads(setup.threads)
    key = f"{setup.cache_dir}:{setup.teacher_file}"
    if key not in _DATASETS:
        folder = setup.local_data()
        _DATASETS[key] = load_prepared(folder)
        if setup.teacher_file:  # every candidate distilled from the study's teacher
            _DATASETS[key] = with_teacher(_DATASETS[key], np.load(folder / setup.teacher_file, mmap_mode="r"))
    dataset = _DATASETS[key]
    train_cfg = TrainConfig.model_validate({**setup.train, **(config.get("train") or {})})  # space.train
    arch = ArchSpec.model_validate(config["arch"])
    seed_everything(train_cfg.seed)
    model = build_model(arch, dataset.features)

    time_key = "preset_epoch" if config.get("preset") else "epoch"
    last: dict = {}

    def report_epoch(epoch: int, val) -> None:
        if epoch >= train_cfg.max_epochs:  # reported with the final result (see the module doc)
            last.update({time_key: epoch, "epoch_mean_ne": val.mean_ne})
            return
        tune.report({"mean_ne": val.mean_ne, "mean_auc": val.mean_auc, time_key: epoch})

    install_faults(model, config["key"])
    try:
        result = fit(model, dataset, train_cfg, on_epoch=report_epoch)
    except Exception as err:  # noqa: BLE001
        # A failed candidate, not a crash: the searcher records the reason and the study goes on.
        del model
        tune.report({"mean_ne": float("nan"), "final": True, "fail_reason": failure_reason(err)})
        return
    # the inference latency on the trial's own device (the driver measured it on its CPU)
    device = next(model.parameters()).device
    inputs = tuple(t.to(device) for t in example_inputs(dataset.features, LATENCY_BATCH, seed=1))
    latency_ms = measure_latency(model.eval(), inputs)
    weights = Path(setup.trials_dir) / config["key"] / "model.safetensors"
    sent = {}
    if setup.on_driver_node() or setup.shared_disk is not False and weights.parent.parent.is_dir():
        save_weights(model, weights)
    else:  # the driver's disk is not ours: the weights go back through the object store
        import tempfile

        with tempfile.TemporaryDirectory() as scratch:
            save_weights(model, Path(scratch) / "model.safetensors")
            sent = {"weights_ref": ray.put((Path(scratch) / "model.safetensors").read_bytes())}
    tune.report({
        **sent,
        **last, "mean_ne": result.val.mean_ne, "mean_auc": result.val.mean_auc, "final": True,
        "metrics": json.dumps({**result.val.to_dict(),  # and validation's two halves (search.agreement)
                               "halves_ne": halves_ne(model, dataset.splits["val"], dataset.features,
                                                      train_cfg.precision)}),
        "weights": str(weights),
        "best_epoch": result.best_epoch, "train_seconds": result.train_seconds,
        "examples_per_second": result.examples_per_second,
        "node": ray.get_runtime_context().get_node_id(), "device": train_cfg.device, "latency_ms": latency_ms,
        **({"teacher": setup.teacher} if setup.teacher and (train_cfg.distill_alpha > 0 or dataset.features.teacher)
           else {}),
        **({"data_folder": Path(setup.cache_dir).name} if dataset.features.teacher else {}),
    })

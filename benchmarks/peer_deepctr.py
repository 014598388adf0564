"""unirank's presets beside a peer library's models, on the very same split (Census-Income).

    pip install deepctr-torch      # the peer (pure Python; keeps the installed torch)
    python benchmarks/peer_deepctr.py [--seeds 3] [--max-epochs 20]

Data: `studies/census.yaml` prepared by unirank (the same random 70/15/15 split, the same
normalised dense columns and vocabularies); both libraries read the same tensors.
The peer, DeepCTR-Torch (Shen 2017–), with the protocol its examples use: embedding dim 16,
Adam lr 1e-3, batch 1024, early stopping on validation AUC (patience 2, best weights restored):
- `MMOE`: 8 experts of 256-128, towers of 64, one task per objective;
- `PLE`: 1 shared + 1 specific expert per task (256-128), 2 levels, towers of 64;
- `SharedBottom`: bottom 256-128, towers of 64;
- `DCN` with matrix cross layers (DCN-M, i.e. DCNv2): 2 cross layers + DNN 256-128, one model
  per objective (it is single-task).
unirank: the presets `shared_bottom_mlp`, `mmoe`, `ple`, `dcnv2` with the study's protocol.
Reported per model: pooled test AUC and test NE per objective (over all examples, as papers and
FuxiCTR/BARS report), mean ± std over training seeds, and the training seconds.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, mean_std, write_section  # noqa: E402

CENSUS = SHARED_DATA / "census_income" / "census-income.test.gz"
UNIRANK_PRESETS = ("shared_bottom_mlp", "mmoe", "ple", "dcnv2")
PEER_MODELS = ("MMOE", "PLE", "SharedBottom", "DCN")


def _dataset():
    from unirank.config import load_config
    from unirank.data.dataset import load_prepared, prepare_dataset

    cfg = load_config(REPO / "studies" / "census.yaml", [f"data.path={CENSUS}"])
    return cfg, load_prepared(prepare_dataset(cfg.data, REPO / "runs" / "benchmarks" / "cache"))


def _pooled(labels: np.ndarray, probs: np.ndarray, objectives) -> dict:
    """Per objective: pooled AUC and NE over all examples (every domain together)."""
    from unirank.train.metrics import auc, normalized_entropy

    return {o: {"auc": auc(labels[:, t], probs[:, t]), "ne": normalized_entropy(labels[:, t], probs[:, t])}
            for t, o in enumerate(objectives)}


def _peer_inputs(split, features) -> dict[str, np.ndarray]:
    x = {f"d_{i}": split.dense[:, i].numpy() for i in range(split.dense.shape[1])}
    x.update({f"s_{f.name}": split.sparse[:, k].numpy() for k, f in enumerate(features.sparse)})
    return x


def train_peer(name: str, seed: int, dataset) -> dict:
    import torch
    from deepctr_torch.inputs import DenseFeat, SparseFeat
    from deepctr_torch.models import DCN
    from deepctr_torch.models.multitask import MMOE, PLE, SharedBottom

    torch.manual_seed(seed)
    features, splits = dataset.features, dataset.splits
    columns = ([DenseFeat(f"d_{i}", 1) for i in range(len(features.dense))]
               + [SparseFeat(f"s_{f.name}", vocabulary_size=f.vocab_size, embedding_dim=16) for f in features.sparse])
    x = {k: _peer_inputs(splits[k], features) for k in ("train", "val", "test")}
    y = {k: splits[k].labels.numpy() for k in ("train", "val", "test")}
    tasks = tuple(features.objectives)
    started = time.perf_counter()
    if name == "DCN":  # single-task: one model per objective
        probs = []
        for t in range(len(tasks)):
            model = DCN(columns, columns, cross_num=2, cross_parameterization="matrix",  # DCNv2 (DCN-M)
                        dnn_hidden_units=(256, 128), seed=seed, device="cpu")
            probs.append(_fit(model, x, y, t))
        probs = np.stack(probs, 1)
    else:
        names = {"task_types": ("binary",) * len(tasks), "task_names": tasks, "seed": seed, "device": "cpu"}
        model = {"MMOE": lambda: MMOE(columns, num_experts=8, expert_dnn_hidden_units=(256, 128),
                                      tower_dnn_hidden_units=(64,), **names),
                 "PLE": lambda: PLE(columns, shared_expert_num=1, specific_expert_num=1, num_levels=2,
                                    expert_dnn_hidden_units=(256, 128), tower_dnn_hidden_units=(64,), **names),
                 "SharedBottom": lambda: SharedBottom(columns, bottom_dnn_hidden_units=(256, 128),
                                                      tower_dnn_hidden_units=(64,), **names)}[name]()
        probs = _fit(model, x, y, None)
    return {"model": name, "seed": seed, "seconds": time.perf_counter() - started,
            "test": _pooled(y["test"], probs, tasks)}


def _fit(model, x, y, task: int | None) -> np.ndarray:
    from deepctr_torch.callbacks import EarlyStopping

    pick = (lambda a: a) if task is None else (lambda a: a[:, task])
    model.compile("adam", "binary_crossentropy", metrics=["auc"])
    model.fit(x["train"], pick(y["train"]), batch_size=1024, epochs=ARGS.max_epochs, verbose=0,
              validation_data=(x["val"], pick(y["val"])),
              callbacks=[EarlyStopping(monitor="val_auc", mode="max", patience=2, restore_best_weights=True)])
    probs = model.predict(x["test"], batch_size=4096)
    return probs if task is None else probs.reshape(-1)


def train_unirank(name: str, seed: int, cfg, dataset) -> dict:
    from unirank.models import build_model
    from unirank.space import PRESETS
    from unirank.train import fit, seed_everything
    from unirank.train.fit import predict

    seed_everything(seed)
    model = build_model(PRESETS[name], dataset.features)
    started = time.perf_counter()
    fit(model, dataset, cfg.train.model_copy(update={"seed": seed}))
    probs = predict(model, dataset.splits["test"])
    return {"model": name, "seed": seed, "seconds": time.perf_counter() - started,
            "test": _pooled(dataset.splits["test"].labels.numpy(), probs, dataset.features.objectives)}


def main() -> None:
    global ARGS
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--max-epochs", type=int, default=20)
    ARGS = parser.parse_args()
    if not CENSUS.is_file():
        sys.exit(f"error: {CENSUS} not found (see ../shared/data/README.md)")
    try:
        import deepctr_torch  # noqa: F401
    except ImportError:
        sys.exit("error: the peer is not installed: pip install deepctr-torch")
    import torch

    torch.set_num_threads(1)
    cfg, dataset = _dataset()
    runs = []
    for seed in range(ARGS.seeds):
        for name in PEER_MODELS:
            runs.append(("DeepCTR-Torch", train_peer(name, seed, dataset)))
            print(f"peer {name} seed {seed}: {runs[-1][1]['test']}", flush=True)
        for name in UNIRANK_PRESETS:
            runs.append(("unirank", train_unirank(name, seed, cfg, dataset)))
            print(f"unirank {name} seed {seed}: {runs[-1][1]['test']}", flush=True)
    objectives = dataset.features.objectives
    head = ("| library | model | " + " | ".join(f"test pooled AUC {o} | test NE {o}" for o in objectives)
            + " | seconds |\n|---|---|" + "---|---|" * len(objectives) + "---|")
    rows = []
    for library, name in [("DeepCTR-Torch", m) for m in PEER_MODELS] + [("unirank", p) for p in UNIRANK_PRESETS]:
        mine = [r for lib, r in runs if lib == library and r["model"] == name]
        cells = " | ".join(f"{mean_std([r['test'][o]['auc'] for r in mine])} | {mean_std([r['test'][o]['ne'] for r in mine])}"
                           for o in objectives)
        rows.append(f"| {library} | {name} | {cells} | {statistics.mean(r['seconds'] for r in mine):.0f} |")
    body = ("## Census-Income: unirank's presets beside DeepCTR-Torch on the same split\n\n"
            "Same prepared tensors for both (studies/census.yaml's split and preprocessing); the peer with its "
            "examples' protocol (dim 16, Adam 1e-3, batch 1024, early stopping on validation AUC, patience 2), "
            f"unirank with the study's; {ARGS.seeds} training seeds, mean ± std; one CPU thread each.\n\n"
            + head + "\n" + "\n".join(rows))
    print(body)
    write_section("peer_deepctr", body)


ARGS: argparse.Namespace


if __name__ == "__main__":
    main()

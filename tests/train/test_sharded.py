"""torchrec: the second embedding engine, and `unirank train --sharded` under torchrun (CPU, gloo)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.conftest import REPO, TINY_SEQUENCE_DATA, TINY_TRAIN, unirank_here

torchrec = pytest.importorskip("torchrec", reason="torchrec is not installed (see the README's install notes)")

from unirank.data.dataset import build_dataset  # noqa: E402
from unirank.models import build_model  # noqa: E402
from unirank.models.torchrec_tables import convert_state  # noqa: E402
from unirank.space import PRESETS  # noqa: E402
from unirank.train import fit, seed_everything  # noqa: E402
from unirank.train.fit import predict  # noqa: E402


@pytest.mark.parametrize("preset", ["dcnv2", "din"])
def test_plain_and_torchrec_engines_train_to_the_same_predictions(tiny_sequence_dataset, preset):
    """Same seed, same data: the same model whichever engine holds the tables (before and after
    training, tolerance 1e-5 in probability); the state dicts load across engines."""
    ds = tiny_sequence_dataset
    cfg = TINY_TRAIN.model_copy(update={"max_epochs": 1, "embedding_optimizer": "adamw"})
    models = {}
    for engine in ("plain", "torchrec"):
        seed_everything(0)
        models[engine] = build_model(PRESETS[preset], ds.features, engine=engine)
        seed_everything(0)
        fit(models[engine], ds, cfg)
    plain, tr = (predict(models[e], ds.splits["test"]) for e in ("plain", "torchrec"))
    assert abs(plain - tr).max() < 1e-5
    if preset == "din":  # the sequence goes through an EmbeddingCollection, jagged
        assert models["torchrec"].inputs.tables.ec is not None
    if preset == "dcnv2":
        assert set(models["torchrec"].inputs.tables.bag_groups)  # single-hot-only groups: an EmbeddingBagCollection
    swapped = build_model(PRESETS[preset], ds.features)
    swapped.load_state_dict(convert_state(models["torchrec"].state_dict(), swapped))
    assert abs(predict(swapped, ds.splits["test"]) - tr).max() < 1e-6


@pytest.mark.parametrize("preset", ["bst", "interformer", "deepfm", "mmoe"])
def test_every_encoder_and_pattern_sees_the_same_rows_from_both_engines(tiny_sequence_dataset, preset):
    ds = tiny_sequence_dataset
    batch = next(iter(ds.splits["val"].batches(128)))
    outputs = []
    for engine in ("plain", "torchrec"):
        seed_everything(0)
        outputs.append(build_model(PRESETS[preset], ds.features, engine=engine).eval()(*batch.inputs))
    assert (outputs[0] - outputs[1]).abs().max() < 1e-6


TINY = """
name: tiny
data: {{source: synthetic, num_rows: 12000, vocab_size: 4000, seed: 1, history_length: 8}}
train: {{batch_size: 64, lr: 0.003, max_epochs: {epochs}, patience: 10, sharding: {{memory_per_rank_mb: {mb}}}}}
"""


def _bundle(root, preset: str, epochs: int, mb: float):
    config = root / f"{preset}.yaml"
    config.write_text(TINY.format(epochs=epochs, mb=mb))
    result = unirank_here("export", "--arch", preset, "--config", str(config), "--dest", str(root / preset))
    assert result.returncode == 0, result.stderr
    return root / preset


def _torchrun(bundle, *args, **popen):
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "-m", "unirank", "train",
               str(bundle), "--sharded", *args]
    if popen:
        return subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=400)


def _shards_by_rank(plan: str) -> dict[str, set[str]]:
    """table → the ranks holding a piece of it, read from torchrec's printed plan."""
    ranks: dict[str, set[str]] = {}
    for line in plan.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 4 and parts[3].startswith("rank:"):
            ranks.setdefault(parts[0], set()).add(parts[3].split("/")[0])
    return ranks


def test_sharded_training_spreads_the_tables_and_gathers_one_bundle(tmp_path):
    """A planner budget smaller than the tables: they end up on both ranks; the loss falls; the
    gathered plain-engine bundle predicts what the sharded model predicts; model.pt2 agrees."""
    budget_mb = 0.8
    bundle = _bundle(tmp_path, "din", epochs=2, mb=budget_mb)
    result = _torchrun(bundle)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "tables sharded) × 2 processes" in result.stdout
    metrics = json.loads((bundle / "retrained" / "metrics.json").read_text())
    state = load_file(str(bundle / "retrained" / "model.safetensors"))
    biggest = max((k for k in state if k.endswith("table.weight")), key=lambda k: state[k].numel())
    assert state[biggest].numel() * 4 > budget_mb * 2**20 * 0.9  # no rank could hold it whole
    table = "group" + biggest.split("groups.")[1].split(".")[0]
    assert _shards_by_rank(metrics["plan"])[table] == {"rank:0", "rank:1"}, metrics["plan"]
    assert (bundle / "retrained" / "plan.txt").read_text().strip() == metrics["plan"].strip()
    losses = [h["train_loss"] for h in metrics["history"]]
    assert losses[1] < losses[0] and metrics["history"][0]["val_mean_ne"] < 1.0  # (epoch 2 overfits 12k rows)
    assert metrics["gathered_vs_sharded"]["max_abs_diff_probability"] < 1e-5
    assert metrics["serving_check"]["max_abs_diff_eager_vs_pt2"] < 1e-5
    assert any(k.endswith("groups.0.table.weight") for k in state)  # plain names: serving unchanged


def test_a_killed_sharded_run_resumes_from_its_sharded_checkpoint_and_ends_the_same(tmp_path):
    """dcnv2's single-hot tables (an EmbeddingBagCollection) placed on both ranks; SIGKILL in the
    middle of epoch 2, rerun: the weights equal an uninterrupted run's."""
    bundle = _bundle(tmp_path, "dcnv2", epochs=2, mb=1.5)
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    shutil.copytree(bundle, reference)
    shutil.copytree(bundle, interrupted)
    done = _torchrun(reference, "--checkpoint-every", "40")
    assert done.returncode == 0, done.stderr[-3000:]
    plan = json.loads((reference / "retrained" / "metrics.json").read_text())["plan"]
    assert set().union(*_shards_by_rank(plan).values()) == {"rank:0", "rank:1"}, plan

    progress = interrupted / "retrained" / "sharded-checkpoint" / "progress.json"
    process = _torchrun(interrupted, "--checkpoint-every", "40", start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if progress.is_file() and json.loads(progress.read_text())["epoch"] == 2:
            break
        time.sleep(0.02)
    time.sleep(0.5)
    _kill_all(str(interrupted))  # torchrun starts its workers in sessions of their own: kill each
    process.wait()
    assert process.returncode == -signal.SIGKILL, "training finished before it could be interrupted"
    assert progress.is_file()

    resumed = _torchrun(interrupted, "--checkpoint-every", "40")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed from checkpoint" in resumed.stdout
    assert not progress.parent.exists()  # removed once finished
    ours, theirs = (load_file(str(b / "retrained" / "model.safetensors")) for b in (interrupted, reference))
    assert ours.keys() == theirs.keys()
    for key in ours:
        torch.testing.assert_close(ours[key], theirs[key], atol=1e-6, rtol=0)


def _kill_all(marker: str) -> None:
    """SIGKILL every process whose command line names ``marker`` (the agent and its workers)."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker in (proc / "cmdline").read_bytes().decode(errors="replace"):
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def test_sharding_config_errors_are_one_line(tmp_path):
    bundle = _bundle(tmp_path, "dcnv2", epochs=1, mb=0.01)
    result = _torchrun(bundle)
    assert result.returncode != 0
    assert "error: train.sharding: torchrec's planner found no plan" in result.stderr
    result = _torchrun(bundle, "--set", "sharding.types={nope: [table_wise]}")
    assert "error: train.sharding.types: 'nope' is not a feature group" in result.stderr


def test_a_multi_hot_bag_pools_in_the_embedding_bag_collection(tmp_path):
    """A bag in a group no sequence reads: torchrec's mean pooling gives the plain engine's row."""
    import numpy as np
    import pandas as pd

    from unirank.config import CsvDataConfig

    rng = np.random.default_rng(0)
    n = 400
    frame = pd.DataFrame({"price": rng.normal(size=n).astype("float32"), "item": rng.choice(list("abcd"), n),
                          "tags": [list(rng.choice(list("xyzw"), size=rng.integers(0, 4))) for _ in range(n)],
                          "click": rng.integers(0, 2, n)})
    frame.to_parquet(tmp_path / "t.parquet")
    ds = build_dataset(CsvDataConfig.model_validate({
        "source": "parquet", "path": tmp_path / "t.parquet", "dense": ["price"], "sparse": ["item"],
        "objectives": ["click"], "multi_hot": {"tags": {"column": "tags", "max_len": 3}}}))
    batch = next(iter(ds.splits["train"].batches(256)))
    for preset in ("dcnv2", "deepfm"):
        torch.manual_seed(0)
        plain = build_model(PRESETS[preset], ds.features).eval()
        torch.manual_seed(0)
        tr = build_model(PRESETS[preset], ds.features, engine="torchrec").eval()
        assert tr.inputs.tables.ec is None and tr.inputs.tables.ebc is not None
        assert (plain(*batch.inputs) - tr(*batch.inputs)).abs().max() < 1e-6


@pytest.mark.parametrize("change", [{"calibrate": True}, {"evals_per_epoch": 4}])
def test_sharded_training_refuses_what_its_loop_does_not_do(change, tmp_path):
    """Its loop measures validation once an epoch, uncalibrated: asked for more, one line, no run."""
    from unirank.errors import UnirankError
    from unirank.train.sharded import train_sharded

    with pytest.raises(UnirankError, match=f"train.{next(iter(change))}: not supported with --sharded"):
        train_sharded(None, None, TINY_TRAIN.model_copy(update=change), tmp_path, False, 0, False)

"""`unirank train`: checkpoints, resume after a kill, and data-parallel training (CPU, gloo)."""
import json
import shutil
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import REPO, run_cli, unirank_here

TINY = """
name: tiny
data: {{source: synthetic, num_rows: 20000, vocab_size: 100, seed: 1}}
train: {{batch_size: 32, lr: 0.003, max_epochs: {epochs}, patience: 10, id_dropout: {id_dropout}}}
"""


def _bundle(root, id_dropout: float):
    root.mkdir(parents=True, exist_ok=True)
    config = root / "tiny.yaml"
    config.write_text(TINY.format(epochs=4, id_dropout=id_dropout))
    result = unirank_here("export", "--arch", "shared_bottom_mlp", "--config", str(config), "--dest", str(root / "b"))
    assert result.returncode == 0, result.stderr
    return root / "b"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return _bundle(tmp_path_factory.mktemp("retrain"), 0.0)


def _ne(bundle_dir):
    return json.loads((bundle_dir / "retrained" / "metrics.json").read_text())["validation"]["mean_ne"]


def test_killed_training_resumes_from_its_checkpoint_and_ends_the_same(bundle, tmp_path):
    _kill_and_resume(bundle, tmp_path)


def test_with_id_dropout_too_the_resumed_run_ends_the_same(tmp_path):
    """The id dropout's own generator is in the checkpoint: the resumed run drops the same ids."""
    bundle = _bundle(tmp_path / "bundle", 0.2)
    assert json.loads((bundle / "train.json").read_text())["id_dropout"] == 0.2
    _kill_and_resume(bundle, tmp_path)


def _kill_and_resume(bundle, tmp_path):
    reference, interrupted = tmp_path / "reference", tmp_path / "interrupted"
    shutil.copytree(bundle, reference)
    shutil.copytree(bundle, interrupted)
    done = run_cli("train", str(reference))
    assert done.returncode == 0, done.stderr

    checkpoint = interrupted / "retrained" / "checkpoint.pt"
    process = subprocess.Popen([sys.executable, "-m", "unirank", "train", str(interrupted), "--checkpoint-every", "50"],
                               cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while not checkpoint.is_file() and time.time() < deadline and process.poll() is None:
        time.sleep(0.01)
    time.sleep(0.3)  # into the middle of an epoch
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "training finished before it could be interrupted"
    assert checkpoint.is_file()

    resumed = run_cli("train", str(interrupted), "--checkpoint-every", "50")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed from checkpoint" in resumed.stdout
    assert not checkpoint.exists()  # removed once finished
    assert _ne(interrupted) == pytest.approx(_ne(reference), abs=1e-9)


def test_data_parallel_training_with_torchrun_on_cpu(bundle, tmp_path):
    copy = tmp_path / "ddp"
    shutil.copytree(bundle, copy)
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                             "-m", "unirank", "train", str(copy), "--epochs", "2"],
                            cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "× 2 processes" in result.stdout
    metrics = json.loads((copy / "retrained" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["validation"]["mean_ne"] < 1.0

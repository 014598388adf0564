"""GPU trials without a GPU: what each trial asks Ray Tune for, and the device it trains on."""
from unirank.config import SearchConfig


def test_fractional_gpus_pack_trials_and_choose_cuda():
    cfg = SearchConfig(gpus_per_trial=0.25, cpus_per_trial=2)
    assert cfg.resources() == {"cpu": 2, "gpu": 0.25}
    assert cfg.concurrency(cpus=16, gpus=1) == 4          # four trials share the one GPU
    assert cfg.concurrency(cpus=4, gpus=1) == 2           # the CPUs limit first
    assert cfg.trial_device("cpu") == "cuda"


def test_cpu_trials_ask_for_no_gpu_and_keep_the_train_device():
    cfg = SearchConfig()
    assert cfg.resources() == {"cpu": 1.0} and cfg.concurrency(cpus=2) == 2
    assert cfg.trial_device("cpu") == "cpu"


def test_a_search_asking_for_gpus_on_a_machine_without_one_fails_in_one_line(tmp_path):
    from tests.conftest import run_cli

    result = run_cli("search", "studies/quickstart.yaml", "--quiet", "--set", "data.num_rows=2000",
                     "--set", f"output.dir={tmp_path}", "--set", "search.gpus_per_trial=0.5",
                     "--set", "budget.trials=1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "search.gpus_per_trial: 0.5 GPU per trial, but the Ray cluster has 0 GPU" in result.stderr

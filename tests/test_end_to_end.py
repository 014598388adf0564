"""A real tiny study through Ray Tune and Optuna storage, then report, export and retrain."""
import json
import re

import optuna
import pytest
import torch

from tests.conftest import run_cli, search_fresh, unirank_here
from unirank.data.batches import TensorSplit
from unirank.data.dataset import build_dataset
from unirank.export.bundle import load_bundle
from unirank.train import evaluate

STUDY = """
name: e2e
data:
  source: synthetic
  num_rows: 8000
  vocab_size: 100
space:
  embedding_dim: [4, 8]
  num_layers: {{low: 1, high: 2}}
  mlp_width: [16, 32]
  cross_rank: [null, 4]
  num_experts: {{low: 2, high: 3}}
  expert_width: [16]
  star_width: [16]
  tower_width: [8]
train:
  batch_size: 256
  lr: 0.005
  max_epochs: 3
search:
  presets: [shared_bottom_mlp]
budget:
  trials: 3
output:
  dir: {out}
"""


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory):
    return search_fresh(tmp_path_factory.mktemp("e2e"), STUDY)


def _trials(out):
    return optuna.load_study(study_name="e2e", storage=f"sqlite:///{out}/study.db").get_trials()


def test_search_runs_trials_through_ray_into_optuna_storage(finished_study):
    _, out, first = finished_study
    trials = _trials(out)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4  # 3 searched + 1 preset
    assert sum("preset" in t.user_attrs for t in complete) == 1
    for t in complete:
        assert 0 < t.values[0] < 1.0 and t.values[1] > 0  # NE beats base rate; FLOPs measured
        assert set(t.user_attrs) >= {"arch", "cost", "metrics", "weights"}
    assert list((out / "ray_results").iterdir())  # Ray Tune ran them
    assert "4 trials finished in this run" in first.stdout


def test_rerun_resumes_the_same_study(finished_study):
    config, out, _ = finished_study
    before = {t.number: t.values for t in _trials(out) if t.state.name == "COMPLETE"}
    again = unirank_here("search", str(config), "--quiet", "--set", "budget.trials=2")
    assert again.returncode == 0, again.stderr[-3000:]
    after = {t.number: t for t in _trials(out) if t.state.name == "COMPLETE"}
    trained = [t for n, t in after.items() if n not in before and "same_as_trial" not in t.user_attrs]
    assert len(trained) == 2 and not any("preset" in t.user_attrs for t in trained)  # budget: 2 new
    assert all(after[n].values == v for n, v in before.items())  # earlier trials untouched


def test_report_is_self_contained_with_front_and_history(finished_study):
    _, out, _ = finished_study
    result = unirank_here("report", str(out))
    assert result.returncode == 0, result.stderr
    html = (out / "report.html").read_text()
    assert "<script src=\"http" not in html  # plotly.js is inlined: works offline
    assert 'id="pareto"' in html and 'id="history"' in html
    assert "shared_bottom_mlp" in html and "Pareto front" in html


def test_export_bundle_reproduces_validation_metrics_and_retrains(finished_study):
    _, out, _ = finished_study
    result = unirank_here("export", str(out))
    assert result.returncode == 0, result.stderr
    bundle_dir = out / "export" / re.search(r"trial-(\d+)", result.stdout).group(0)
    bundle = load_bundle(bundle_dir)
    dataset = build_dataset(bundle.data, state=bundle.state)
    metrics = evaluate(bundle.model(), dataset.val, dataset.features)
    exported = bundle.metrics["validation"]
    assert metrics.mean_ne == pytest.approx(exported["mean_ne"], abs=1e-6)
    for name, values in exported["portfolios"].items():
        assert metrics.portfolios[name]["auc"] == pytest.approx(values["auc"], abs=1e-6)
    assert "mean NE" in (bundle_dir / "MODEL_CARD.md").read_text()
    program = torch.export.load(str(bundle_dir / "model.pt2")).module()  # serving: no unirank needed
    val = dataset.val
    with torch.no_grad():
        served = program(val.dense, val.sparse, val.domain)
        eager = torch.sigmoid(bundle.model()(val.dense, val.sparse, val.domain))
    assert torch.allclose(served, eager, atol=1e-6)
    # the two halves of validation the search's agreement check reads, as the trial measured them
    half = len(val) // 2
    halves = [evaluate(bundle.model(), TensorSplit(**{k: v[rows] for k, v in val.tensors().items()}),
                       dataset.features).mean_ne for rows in (slice(0, half), slice(half, None))]
    assert exported["halves_ne"] == pytest.approx(halves, abs=1e-6)
    assert json.loads((bundle_dir / "arch.json").read_text())["schema_version"] == 2

    retrained = run_cli("train", str(bundle_dir), "--device", "cpu")
    assert retrained.returncode == 0, retrained.stderr
    new = json.loads((bundle_dir / "retrained" / "metrics.json").read_text())["validation"]["mean_ne"]
    assert new == pytest.approx(exported["mean_ne"], rel=0.01)
    assert (bundle_dir / "retrained" / "model.safetensors").is_file()


def test_a_diverging_trial_is_recorded_failed_and_the_study_continues(tmp_path):
    out = tmp_path / "out"
    config = tmp_path / "nan.yaml"
    config.write_text(STUDY.format(out=out).replace("name: e2e", "name: nan"))
    result = unirank_here("search", str(config), "--quiet", "--set", "train.lr=1e6", "--set", "train.max_epochs=1",
                     "--set", "search.presets=[]", "--set", "budget.trials=2")
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(study_name="nan", storage=f"sqlite:///{out}/study.db").get_trials()
    trained = [t for t in trials if "same_as_trial" not in t.user_attrs and "cost" in t.user_attrs]
    assert len(trained) == 2  # the first failure did not stop the study
    for t in trained:
        assert t.state.name == "FAIL"
        assert "non-finite loss" in t.user_attrs["fail_reason"]

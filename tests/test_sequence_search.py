"""A study over data with a behaviour history: sequence encoders searched through Ray Tune, the
winner exported with a serving program that takes the history."""
import re

import optuna
import torch

from tests.conftest import search_fresh, unirank_here
from unirank.data.dataset import build_dataset
from unirank.export.bundle import load_bundle

STUDY = """
name: seq
data:
  source: synthetic
  num_rows: 6000
  vocab_size: 100
  history_length: 8
space:
  embedding_dim: [8]
  num_layers: {{low: 1, high: 1}}
  modules: [mlp, dot]
  mlp_width: [16]
  sharing: [shared_bottom]
  tower_width: [8]
  sequence:
    encoder: [target_attention, transformer, interformer]
    max_len: [4, 8]
    heads: [2]
    ffn: [16]
    summary_tokens: [2]
train:
  batch_size: 256
  lr: 0.005
  max_epochs: 2
search:
  sampler: random
  presets: [din]
budget:
  trials: 3
output:
  dir: {out}
"""


def test_a_sequence_study_searches_encoders_and_exports_a_program_taking_the_history(tmp_path):
    _, out, _ = search_fresh(tmp_path, STUDY)
    trials = optuna.load_study(study_name="seq", storage=f"sqlite:///{out}/study.db").get_trials()
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 4 and sum("preset" in t.user_attrs for t in complete) == 1
    searched = [t for t in complete if "preset" not in t.user_attrs]
    assert all(t.params["seq_encoder"] in {"target_attention", "transformer", "interformer"} for t in searched)
    assert all(t.values[0] > 0 and t.values[1] > 0 for t in complete)  # trained, cost measured
    assert min(t.values[0] for t in complete) < 1.0

    result = unirank_here("export", str(out))
    assert result.returncode == 0, result.stderr
    bundle = load_bundle(out / "export" / re.search(r"trial-(\d+)", result.stdout).group(0))
    assert bundle.arch.sequence is not None
    val = build_dataset(bundle.data, state=bundle.state).val
    program = torch.export.load(str(bundle.path / "model.pt2")).module()
    with torch.no_grad():
        served = program(val.dense, val.sparse, val.domain, val.lists)
        eager = torch.sigmoid(bundle.model()(val.dense, val.sparse, val.domain, val.lists))
    assert torch.allclose(served, eager, atol=1e-5)

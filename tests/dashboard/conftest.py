"""One real finished study shared by the dashboard and report tests: 27 searched trials and 3
presets (30 trials) on tiny synthetic data, through the real `unirank search` (Ray + SQLite)."""
import pytest

from tests.conftest import search_fresh

STUDY = """
name: dash
data:
  source: synthetic
  num_rows: 3000
  vocab_size: 50
space:
  embedding_dim: [4, 8]
  num_layers: {{low: 1, high: 2}}
  modules: [mlp, cross, dot, fm]
  mlp_width: [16, 32]
  cross_rank: [null, 4]
  num_experts: {{low: 2, high: 3}}
  expert_width: [16]
  star_width: [16]
  tower_width: [8]
train:
  batch_size: 256
  lr: 0.005
  max_epochs: 2
search:
  sampler: random
  seed: 3
  presets: [shared_bottom_mlp, mmoe, dcnv2]
budget:
  trials: 27
output:
  dir: {out}
"""


@pytest.fixture(scope="session")
def finished_30_search(tmp_path_factory):
    """(config, output folder, the finished `unirank search` run) of the 30-trial study."""
    return search_fresh(tmp_path_factory.mktemp("dash"), STUDY)


@pytest.fixture(scope="session")
def finished_30(finished_30_search):
    return finished_30_search[1]

import pytest
import torch

from unirank.export.serving import check_program, export_program
from unirank.models import build_model
from unirank.space import PRESETS


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_exports_to_a_program_that_matches_eager(name, tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = build_model(PRESETS[name], tiny_dataset.features)
    path = export_program(model, tiny_dataset.features, tmp_path / "model.pt2")
    assert check_program(model, tiny_dataset.features, path) < 1e-5

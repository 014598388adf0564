import pytest
import torch

from unirank.errors import UnirankError
from unirank.export.serving import SERVING_TOLERANCE, check_program, export_program, verify_program
from unirank.models import build_model
from unirank.space import PRESETS, ArchSpec

# beside the presets: the dense features as a row each (sin/cos and einsum in the program)
PERIODIC = ArchSpec.from_dict({**PRESETS["dcnv2"].to_dict(), "embedding": {"dim": 8, "dense_encoding": "periodic"}})


@pytest.mark.parametrize("name", [*sorted(PRESETS), "dcnv2_periodic_dense"])
def test_every_preset_exports_to_a_program_that_matches_eager(name, tiny_dataset, tiny_sequence_dataset, tmp_path):
    """Sequence presets on the data with a history: the program takes ``lists`` too, and is
    checked on histories of every length (0 to max_len)."""
    arch = PRESETS.get(name, PERIODIC)
    data = tiny_sequence_dataset if arch.sequence is not None else tiny_dataset
    torch.manual_seed(0)
    model = build_model(arch, data.features)
    path = export_program(model, data.features, tmp_path / "model.pt2")
    assert check_program(model, data.features, path) < 1e-5


def test_a_program_that_disagrees_with_the_eager_model_is_refused(tiny_dataset, tmp_path):
    torch.manual_seed(0)
    model = build_model(PRESETS["dcnv2"], tiny_dataset.features)
    path = export_program(model, tiny_dataset.features, tmp_path / "model.pt2")
    assert verify_program(model, tiny_dataset.features, path) <= SERVING_TOLERANCE
    other = build_model(PRESETS["dcnv2"], tiny_dataset.features)  # other weights: a real mismatch
    with pytest.raises(UnirankError) as err:
        verify_program(other, tiny_dataset.features, path)
    message = str(err.value)
    assert "\n" not in message and "model.pt2" in message and "tolerance" in message

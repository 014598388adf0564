"""train.id_dropout: training ids replaced by the OOV id, so that unknown ids are predicted well."""
import pytest
import torch

from tests.conftest import TINY_TRAIN
from unirank.data.batches import TensorSplit
from unirank.errors import UnirankError
from unirank.models import build_model
from unirank.space import PRESETS
from unirank.train import evaluate, fit, seed_everything
from unirank.train.id_dropout import IdDropout


def test_drops_the_chosen_columns_at_the_rate_and_nothing_else(tiny_dataset):
    features = tiny_dataset.features
    names = [f.name for f in features.sparse]
    batch = next(tiny_dataset.train.batches(4096))
    dropout = IdDropout(0.3, features, (names[0], names[2]), seed=1, device=torch.device("cpu"))
    out = dropout.apply(batch)
    changed = out.sparse != batch.sparse
    assert torch.equal(out.sparse[changed], torch.zeros_like(out.sparse[changed]))  # only ever to OOV
    assert not changed[:, [j for j in range(len(names)) if j not in (0, 2)]].any()
    for j in (0, 2):
        dropped = float((out.sparse[:, j] == 0).float().mean() - (batch.sparse[:, j] == 0).float().mean())
        assert 0.25 < dropped < 0.35, (j, dropped)
    assert torch.equal(out.dense, batch.dense) and torch.equal(out.labels, batch.labels)
    again = IdDropout(0.3, features, (names[0], names[2]), seed=1, device=torch.device("cpu")).apply(batch)
    assert torch.equal(again.sparse, out.sparse)  # its own seeded generator


def _cold(split: TensorSplit) -> TensorSplit:
    """The split as if no id were known: every sparse id is the OOV id."""
    return TensorSplit(**{**split.tensors(), "sparse": torch.zeros_like(split.sparse)})


def test_a_model_trained_with_it_predicts_unknown_ids_better(tiny_dataset):
    """Trained without, the OOV rows never train (every training id is known) and rows whose ids
    are all unknown are predicted from untrained vectors; with p = 0.5 they are learnt."""
    cold = {}
    for p in (0.0, 0.5):
        seed_everything(0)
        model = build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features)
        fit(model, tiny_dataset, TINY_TRAIN.model_copy(update={"id_dropout": p}))
        cold[p] = evaluate(model, _cold(tiny_dataset.val), tiny_dataset.features).mean_ne
    assert cold[0.5] < cold[0.0] - 0.005, cold  # 0.9595 against 0.9676 when written


def test_unknown_feature_is_a_one_line_error(tiny_dataset):
    model = build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features)
    cfg = TINY_TRAIN.model_copy(update={"id_dropout": 0.2, "id_dropout_features": ("no_such_feature",)})
    with pytest.raises(UnirankError, match=r"^train\.id_dropout_features: 'no_such_feature' not a sparse feature"):
        fit(model, tiny_dataset, cfg)

"""train.calibrate: Platt scaling per portfolio, fitted on validation, served by the model."""
import torch

from tests.conftest import TINY_TRAIN
from unirank.models import build_model, calibration
from unirank.space import PRESETS
from unirank.train import evaluate, fit, seed_everything


def test_the_fit_recovers_each_portfolios_affine_map():
    g = torch.Generator().manual_seed(0)
    n, truth = 40_000, torch.tensor([[[2.0, -1.0], [0.5, 0.3]], [[1.0, 0.8], [1.5, 0.0]]])  # [D=2, T=2, 2]
    logits = torch.randn(n, 2, generator=g) * 1.5
    domain = torch.randint(0, 2, (n,), generator=g)
    labels = torch.bernoulli(torch.sigmoid(calibration.apply(truth, logits, domain)), generator=g)
    mask = torch.ones(n, 2)
    mask[domain == 1, 1] = 0  # no labels for domain 1, objective 1: it keeps the identity
    table = calibration.fit_table(logits, labels, mask, domain, 2)
    assert torch.allclose(table[0], truth[0], atol=0.08)
    assert torch.allclose(table[1, 0], truth[1, 0], atol=0.08)
    assert table[1, 1].tolist() == [1.0, 0.0]


def test_cross_fitting_never_reads_a_rows_own_label():
    g = torch.Generator().manual_seed(1)
    n = 20_000
    logits, domain = torch.randn(n, 2, generator=g), torch.randint(0, 2, (n,), generator=g)
    labels, mask = torch.bernoulli(torch.sigmoid(2 * logits), generator=g), torch.ones(n, 2)
    scored = calibration.cross_fitted(logits, labels, mask, domain, 2)
    flipped = labels.clone()
    flipped[0::2] = 1 - flipped[0::2]  # every label of fold 0 changed: its own scores must not move
    again = calibration.cross_fitted(logits, flipped, mask, domain, 2)
    assert torch.equal(scored[0::2], again[0::2])
    assert not torch.allclose(scored[1::2], again[1::2])  # fold 1's table was fitted on those labels
    # close to the table fitted on every row, which is what the model serves
    table = calibration.fit_table(logits, labels, mask, domain, 2)
    assert torch.allclose(scored.sigmoid(), calibration.apply(table, logits, domain).sigmoid(), atol=0.05)


def _fit(dataset, calibrate: bool):
    seed_everything(0)
    model = build_model(PRESETS["shared_bottom_mlp"], dataset.features)
    return model, fit(model, dataset, TINY_TRAIN.model_copy(update={"calibrate": calibrate}))


def test_a_calibrated_model_carries_its_table_and_is_no_worse(tiny_dataset):
    raw_model, raw = _fit(tiny_dataset, False)
    model, result = _fit(tiny_dataset, True)
    assert raw_model.calibration.tolist() == calibration.identity(*raw_model.calibration.shape[:2]).tolist()
    assert not torch.equal(model.calibration, calibration.identity(*model.calibration.shape[:2]))
    served = evaluate(model, tiny_dataset.val, tiny_dataset.features)
    # the model itself carries the table, fitted on every validation row; the measure the search
    # judges is cross-fitted, so it is not flattered by the rows the table was fitted on
    assert served.mean_ne < result.val.mean_ne
    # the same weights uncalibrated: calibration can only lower validation NE, and keeps each
    # portfolio's ranking (its AUC)
    plain = build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features)
    plain.load_state_dict({k: v for k, v in model.state_dict().items() if k != "calibration"})  # an old file
    uncalibrated = evaluate(plain, tiny_dataset.val, tiny_dataset.features)
    assert result.val.mean_ne < uncalibrated.mean_ne
    for name, scores in result.val.portfolios.items():
        assert abs(scores["auc"] - uncalibrated.portfolios[name]["auc"]) < 1e-9
    assert "calibration" in model.state_dict()  # saved, exported and retrained with the weights

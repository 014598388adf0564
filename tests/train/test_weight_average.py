"""train.ema_decay: validation measures, early stopping judges and the model keeps the moving
average of the weights (unirank.train.averaging)."""
import pytest
import torch

from tests.conftest import TINY_TRAIN
from unirank.config import TrainConfig, TrainSpaceConfig
from unirank.models import build_model
from unirank.space import PRESETS
from unirank.train import evaluate, fit, seed_everything
from unirank.train.fit import Checkpointing


def _fit(dataset, decay, **update):
    seed_everything(0)
    model = build_model(PRESETS["shared_bottom_mlp"], dataset.features)
    start = {k: v.clone() for k, v in model.state_dict().items()}
    result = fit(model, dataset, TINY_TRAIN.model_copy(update={"ema_decay": decay, **update}))
    return model, result, start


def _distance(model, start) -> float:
    return sum(float((v - start[k]).pow(2).sum()) for k, v in model.state_dict().items()
               if v.is_floating_point()) ** 0.5


def test_the_kept_model_is_the_average_that_validation_measured(tiny_dataset):
    plain, plain_result, start = _fit(tiny_dataset, 0.0)
    model, result, _ = _fit(tiny_dataset, 0.9)
    again = evaluate(model, tiny_dataset.val, tiny_dataset.features)
    assert abs(again.mean_ne - result.val.mean_ne) < 1e-9  # kept = measured
    assert result.val.mean_ne != plain_result.val.mean_ne
    # an average over very many steps barely leaves the first step's weights: the kept model is
    # much nearer its initialisation than the plainly trained one
    slow, _, start_slow = _fit(tiny_dataset, 0.9999, max_epochs=1)
    assert _distance(slow, start_slow) < 0.2 * _distance(plain, start)


def test_the_average_is_deterministic_and_resumes_from_a_checkpoint(tiny_dataset, tmp_path):
    cfg = TINY_TRAIN.model_copy(update={"ema_decay": 0.9, "evals_per_epoch": 2, "patience": 3})

    def run(stop_at=None):
        def on_epoch(epoch, val):
            if epoch == stop_at:
                raise KeyboardInterrupt
        seed_everything(0)
        model = build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features)
        return fit(model, tiny_dataset, cfg, on_epoch=on_epoch, checkpointing=Checkpointing(tmp_path / "ck.pt", 5))

    seed_everything(0)
    reference = fit(build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features), tiny_dataset, cfg)
    assert run().val.mean_ne == pytest.approx(reference.val.mean_ne, abs=1e-12)  # deterministic
    (tmp_path / "ck.pt").unlink()
    with pytest.raises(KeyboardInterrupt):
        run(stop_at=2)
    assert "ema" in torch.load(tmp_path / "ck.pt", weights_only=True)
    resumed = run()  # the average resumes too: the same choice and the same validation
    assert resumed.val.mean_ne == pytest.approx(reference.val.mean_ne, abs=1e-9)
    assert resumed.best_at == reference.best_at


@pytest.mark.parametrize("bad", [1.0, -0.1])
def test_a_decay_outside_zero_to_one_is_refused(bad):
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=bad)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainSpaceConfig(ema_decay=(0.99, bad))

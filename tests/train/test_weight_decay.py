"""AdamW's decoupled weight decay below float32's resolution does nothing; unirank says so."""
import torch

from tests.conftest import TINY_TRAIN, unirank_here
from unirank.models import build_model
from unirank.space import PRESETS
from unirank.train import fit, seed_everything
from unirank.train.optim import decays, effective_train, inert_weight_decays


def _weights(dataset, weight_decay: float, lr: float) -> dict:
    seed_everything(0)
    model = build_model(PRESETS["shared_bottom_mlp"], dataset.features)
    fit(model, dataset, TINY_TRAIN.model_copy(update={"lr": lr, "weight_decay": weight_decay, "max_epochs": 1,
                                                      "embedding_optimizer": "adamw"}))
    return model.state_dict()


def test_a_weight_decay_decays_says_whether_training_changes(tiny_dataset):
    plain = _weights(tiny_dataset, 0.0, 1e-3)
    for weight_decay in (1e-5, 1e-4):
        decayed = _weights(tiny_dataset, weight_decay, 1e-3)
        same = all(torch.equal(plain[k], decayed[k]) for k in plain)
        assert same == (not decays(1e-3, weight_decay))
    assert not decays(1e-3, 1e-5) and decays(1e-3, 1e-4) and decays(1e-2, 1e-5)
    assert effective_train({"lr": 1e-3, "weight_decay": 1e-5, "batch_size": 512}) == {
        "lr": 1e-3, "weight_decay": 0.0, "batch_size": 512}
    assert effective_train({"lr": 1e-3, "weight_decay": 1e-4}) == {"lr": 1e-3, "weight_decay": 1e-4}
    assert effective_train({"weight_decay": 1e-5}) == {"weight_decay": 1e-5}  # its lr unknown here


def test_inert_weight_decays_name_the_field_and_the_learning_rates():
    train = {"lr": 1e-3, "weight_decay": 1e-5}
    notes = inert_weight_decays(train, {"lr": (3e-4, 1e-3, 1e-2), "weight_decay": (0.0, 1e-5, 1e-4)})
    # 1e-4 at lr 3e-4 is 3e-8: just above the threshold, so it decays (rounded to 2⁻²⁴ a step)
    assert [n.split(" trains as")[0] for n in notes] == ["space.train.weight_decay 1e-05 at lr 0.0003, 0.001"]
    [only] = inert_weight_decays(train, {})
    assert only.startswith("train.weight_decay 1e-05 at lr 0.001 trains as weight_decay 0")
    assert inert_weight_decays({"lr": 3e-3, "weight_decay": 1e-4}, {}) == []


def test_unirank_space_warns_of_a_weight_decay_that_does_nothing():
    result = unirank_here("space", "studies/quickstart.yaml", "--samples", "1",
                     "--set", "space.train.lr=[0.001]", "--set", "space.train.weight_decay=[0.0,0.00001]")
    assert result.returncode == 0, result.stderr
    assert "warning: space.train.weight_decay 1e-05 at lr 0.001 trains as weight_decay 0" in result.stdout

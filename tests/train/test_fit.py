import math

import torch

from tests.conftest import TINY_TRAIN
from unirank.models import build_model
from unirank.space import PRESETS
from unirank.train import evaluate, fit, seed_everything
from unirank.train.fit import masked_bce


def _train(dataset, name="shared_bottom_mlp"):
    seed_everything(0)
    model = build_model(PRESETS[name], dataset.features)
    return model, fit(model, dataset, TINY_TRAIN)


def test_trained_model_beats_base_rate(tiny_dataset):
    model, result = _train(tiny_dataset)
    assert result.val.mean_ne < 0.97  # a base-rate predictor has NE 1.0
    assert 1 <= result.best_epoch <= result.epochs_run <= TINY_TRAIN.max_epochs
    # the best epoch's weights are the ones kept
    again = evaluate(model, tiny_dataset.val, tiny_dataset.features)
    assert abs(again.mean_ne - result.val.mean_ne) < 1e-9


def test_training_is_deterministic(tiny_dataset):
    _, a = _train(tiny_dataset, "mmoe")
    _, b = _train(tiny_dataset, "mmoe")
    assert a.val.mean_ne == b.val.mean_ne


def test_nan_loss_is_reported_not_hidden(tiny_dataset):
    import pytest
    from unirank.train import TrainingDiverged

    seed_everything(0)
    model = build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features)
    with torch.no_grad():
        model.inputs.groups[0].table.weight.fill_(float("nan"))
    with pytest.raises(TrainingDiverged, match="non-finite loss"):
        fit(model, tiny_dataset, TINY_TRAIN)


import pytest  # noqa: E402

from unirank.space import PRESETS as ALL_PRESETS  # noqa: E402


@pytest.mark.parametrize("name", sorted(ALL_PRESETS))
def test_every_preset_trains_below_base_rate_ne(name, tiny_dataset, tiny_sequence_dataset):
    data = tiny_sequence_dataset if ALL_PRESETS[name].sequence is not None else tiny_dataset
    seed_everything(0)
    model = build_model(ALL_PRESETS[name], data.features)
    result = fit(model, data, TINY_TRAIN)
    assert result.val.mean_ne < 1.0, f"{name}: NE {result.val.mean_ne:.4f}"


def test_sparse_embedding_optimizers_touch_only_looked_up_rows(tiny_dataset):
    from unirank.train.optim import make_optimizers

    for choice in ("sparse_adam", "rowwise_adagrad"):
        seed_everything(0)
        model = build_model(ALL_PRESETS["shared_bottom_mlp"], tiny_dataset.features)
        optimizers = make_optimizers(model, 1e-2, 0.0, choice)
        table = model.inputs.groups[0].table.weight
        before = table.detach().clone()
        batch = next(tiny_dataset.train.batches(8))
        loss = masked_bce(model(batch.dense, batch.sparse, batch.domain), batch.labels, batch.mask)
        loss.backward()
        assert table.grad.is_sparse
        for optimizer in optimizers:
            optimizer.step()
        changed = (table.detach() != before).any(dim=1).nonzero().flatten()
        looked_up = set((batch.sparse.index_select(1, model.inputs.sparse_columns_0)
                         + model.inputs.groups[0].column_offsets).flatten().tolist())
        assert 0 < len(changed) and set(changed.tolist()) <= looked_up, choice


def test_compiled_training_matches_eager_loss(tiny_dataset):
    from unirank.train.fit import training_loss

    seed_everything(0)
    model = build_model(ALL_PRESETS["dcnv2"], tiny_dataset.features)
    batch = next(tiny_dataset.train.batches(64))
    eager = training_loss(model, compile_dense=False)(batch)
    compiled = training_loss(model, compile_dense=True)(batch)
    assert torch.allclose(eager, compiled, atol=1e-5)


def test_fused_rowwise_adagrad_trains_the_same_model_as_the_sparse_one(tiny_dataset):
    """The update fused into the lookup's backward equals RowWiseAdagrad on the sparse gradient:
    same tables and dense weights after several steps (batches with repeated ids included)."""
    from unirank.train.fused_adagrad import FusedRowWiseAdagrad, uninstall
    from unirank.train.optim import make_optimizers

    models = {}
    for fused in (False, True):
        seed_everything(0)
        model = build_model(ALL_PRESETS["dcnv2"], tiny_dataset.features)
        optimizers = make_optimizers(model, 1e-2, 0.0, "rowwise_adagrad", fused_tables=fused)
        assert any(isinstance(o, FusedRowWiseAdagrad) for o in optimizers) == fused
        for batch in list(tiny_dataset.train.batches(64))[:5]:
            loss = masked_bce(model(batch.dense, batch.sparse, batch.domain), batch.labels, batch.mask)
            for optimizer in optimizers:
                optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
        if fused:
            assert model.inputs.groups[0].table.weight.grad is None  # no sparse gradient was built
            uninstall(model)
        models[fused] = model.state_dict()
    for name, plain in models[False].items():
        assert torch.allclose(plain, models[True][name], atol=1e-6), name
    seed_everything(0)
    initial = build_model(ALL_PRESETS["dcnv2"], tiny_dataset.features).state_dict()["inputs.groups.0.table.weight"]
    assert not torch.equal(models[True]["inputs.groups.0.table.weight"], initial)  # the tables did train


def test_embedding_l2_is_fuxictr_penalty_and_shrinks_the_tables(tiny_dataset):
    """train.embedding_l2 = λ adds λ/2 · Σ‖W‖² over every table (the first-order one too) to the loss:
    trained with it, the tables end smaller than without, from the same seed."""
    from unirank.train.optim import embedding_tables, table_l2

    seed_everything(0)
    model = build_model(ALL_PRESETS["deepfm"], tiny_dataset.features)
    tables = embedding_tables(model)
    assert model.first_order.table in tables
    expected = 0.5 * 0.1 * sum(float(t.weight.detach().pow(2).sum()) for t in tables)
    assert abs(float(table_l2(model, 0.1)().detach()) - expected) < 1e-6 * max(expected, 1.0)
    assert table_l2(model, 0.0) is None

    norms = {}
    for strength in (0.0, 1e-2):
        seed_everything(0)
        model = build_model(ALL_PRESETS["deepfm"], tiny_dataset.features)
        cfg = TINY_TRAIN.model_copy(update={"embedding_l2": strength, "embedding_optimizer": "adamw"})
        fit(model, tiny_dataset, cfg)
        norms[strength] = sum(float(t.weight.detach().pow(2).sum()) for t in embedding_tables(model))
    assert norms[1e-2] < 0.8 * norms[0.0], norms


def test_embedding_l2_with_sparsely_updated_tables_is_a_one_line_error(tiny_dataset):
    from unirank.errors import UnirankError

    seed_everything(0)
    model = build_model(ALL_PRESETS["shared_bottom_mlp"], tiny_dataset.features)
    cfg = TINY_TRAIN.model_copy(update={"embedding_l2": 1e-4, "embedding_optimizer": "sparse_adam"})
    with pytest.raises(UnirankError, match=r"^train\.embedding_l2: needs embedding tables with dense gradients"):
        fit(model, tiny_dataset, cfg)


def test_measurement_steps_are_evenly_spaced_within_the_epoch(tiny_dataset):
    from unirank.train.fit import _batches, _measure_steps

    assert _measure_steps(10, 4) == {2, 5, 8}  # and the epoch's end, step 10
    assert _measure_steps(3, 10) == {1, 2}  # more measurements than batches: after every batch
    assert _measure_steps(10, 1) == set()
    train = tiny_dataset.train
    for drop_last in (False, True):
        yielded = len(list(train.shuffled_indices(300, torch.Generator().manual_seed(0), drop_last=drop_last)))
        assert _batches(len(train), 300, drop_last) == yielded


def test_several_measurements_an_epoch_keep_the_best_ones_weights(tiny_dataset):
    import dataclasses

    cfg = TINY_TRAIN.model_copy(update={"evals_per_epoch": 4})
    seed_everything(0)
    model = build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features)
    seen = []
    result = fit(model, tiny_dataset, cfg, on_epoch=lambda epoch, val: seen.append(epoch))
    assert seen == [h["epoch"] for h in result.history]  # the callback and history: epoch ends only
    assert result.best_epoch - 1 < result.best_at <= result.best_epoch
    assert result.val.mean_ne <= min(h["val_mean_ne"] for h in result.history)
    again = evaluate(model, tiny_dataset.val, tiny_dataset.features)
    assert abs(again.mean_ne - result.val.mean_ne) < 1e-9
    # one measurement an epoch: the best is an epoch's end, as before this option
    seed_everything(0)
    once = fit(build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features), tiny_dataset, TINY_TRAIN)
    assert once.best_at == once.best_epoch
    assert dataclasses.asdict(once.val) != dataclasses.asdict(result.val)  # more measurements, another choice


def test_patience_counts_epochs_when_measured_within_them(tiny_dataset):
    """A learning rate that overfits the tiny data early: with 4 measurements an epoch and patience 1,
    training stops one epoch (4 measurements, not 1) after the best measurement — inside an epoch when
    the best was measured inside one. Where the best falls depends on the machine's float kernels
    (within epoch 1 on some, at 1.5 on others), so the stop is checked against it."""
    cfg = TINY_TRAIN.model_copy(update={"evals_per_epoch": 4, "patience": 1, "lr": 0.03, "batch_size": 64,
                                        "max_epochs": 4})
    seed_everything(0)
    result = fit(build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features), tiny_dataset, cfg)
    stop = result.best_at + cfg.patience
    assert stop < cfg.max_epochs  # it stopped early
    if result.best_at % 1:  # the best measured inside an epoch: stopped inside the epoch holding ``stop``
        assert result.epochs_run == math.floor(stop) + 1 and len(result.history) == math.floor(stop)
    else:  # the best measured at an epoch's end: stopped at the end of the epoch ``stop``
        assert result.epochs_run == len(result.history) == stop


def test_a_run_killed_between_measurements_resumes_and_ends_the_same(tiny_dataset, tmp_path):
    from unirank.train.fit import Checkpointing

    cfg = TINY_TRAIN.model_copy(update={"evals_per_epoch": 3, "patience": 3})

    def run(stop_at=None):
        def on_epoch(epoch, val):
            if epoch == stop_at:
                raise KeyboardInterrupt  # killed after the mid-epoch checkpoints of this epoch
        seed_everything(0)
        model = build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features)
        return fit(model, tiny_dataset, cfg, on_epoch=on_epoch, checkpointing=Checkpointing(tmp_path / "ck.pt", 7))

    seed_everything(0)
    reference = fit(build_model(PRESETS["shared_bottom_mlp"], tiny_dataset.features), tiny_dataset, cfg)
    with pytest.raises(KeyboardInterrupt):
        run(stop_at=2)
    assert torch.load(tmp_path / "ck.pt", weights_only=True)["epoch"] == 2  # a checkpoint within epoch 2
    resumed = run()
    assert resumed.val.mean_ne == pytest.approx(reference.val.mean_ne, abs=1e-9)
    assert resumed.best_at == reference.best_at

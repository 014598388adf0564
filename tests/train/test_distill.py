"""Distillation: teacher logits cached once, the student's loss, the aux head, the CLI and a search."""
import json
import shutil

import numpy as np
import pytest
import torch

from tests.conftest import TINY_DATA, run_cli, search_fresh, unirank_here
from unirank.config import TrainConfig
from unirank.errors import UnirankError
from unirank.models.ranker import build_model
from unirank.space.presets import get_preset
from unirank.train.checkpoint import save_weights
from unirank.train.distill import Teacher, check_teacher, teacher_logits, with_teacher
from unirank.train.fit import fit, predict, seed_everything

TRAIN = TrainConfig(batch_size=64, lr=3e-3, max_epochs=2, patience=5)


@pytest.fixture(scope="module")
def teacher(tiny_dataset, tmp_path_factory):
    seed_everything(0)
    model = build_model(get_preset("dcnv2"), tiny_dataset.features)
    fit(model, tiny_dataset, TRAIN)
    path = tmp_path_factory.mktemp("teacher") / "model.safetensors"
    save_weights(model, path)
    return Teacher(name="dcnv2 test teacher", arch=get_preset("dcnv2"), weights=path, state=tiny_dataset.state)


def _gap_to_teacher(dataset, cfg: TrainConfig) -> float:
    seed_everything(1)
    student = build_model(get_preset("shared_bottom_mlp"), dataset.features)
    fit(student, dataset, cfg)
    assert not any(name.startswith("distill_head") for name in student.state_dict())  # dropped after training
    teacher_p = torch.sigmoid(dataset.train.teacher).numpy()
    return float(np.abs(predict(student, dataset.train) - teacher_p).mean())


def test_teacher_logits_are_cached_and_pull_the_student_towards_the_teacher(tiny_dataset, teacher, tmp_path):
    logits = teacher_logits(teacher, tiny_dataset, tmp_path)
    cached = next(tmp_path.glob("teacher.*.npy"))
    stamp = cached.stat().st_mtime_ns
    again = teacher_logits(teacher, tiny_dataset, tmp_path)
    assert cached.stat().st_mtime_ns == stamp and np.array_equal(np.asarray(again), logits)  # read, not recomputed
    assert logits.shape == (len(tiny_dataset.train), len(tiny_dataset.features.objectives))
    taught = with_teacher(tiny_dataset, logits)
    plain = _gap_to_teacher(taught, TRAIN.model_copy(update={"distill_alpha": 0.0}))
    distilled = _gap_to_teacher(taught, TRAIN.model_copy(update={"distill_alpha": 5.0}))
    with_head = _gap_to_teacher(taught, TRAIN.model_copy(update={"distill_alpha": 5.0, "distill_aux_head": True}))
    assert distilled < 0.7 * plain, (plain, distilled)
    assert with_head > distilled  # the aux head takes the teacher's term: the served logit follows it less


def test_a_teacher_of_other_data_or_features_is_refused(tiny_dataset, teacher):
    data = TINY_DATA.model_dump(mode="json")
    check_teacher(teacher, tiny_dataset.state, data)  # the same data and features: accepted
    other_split = Teacher(**{**teacher.__dict__, "data": {**data, "split": {**data["split"], "seed": 7}}})
    with pytest.raises(UnirankError, match=r"trained on other data or another split \(data.split differs"):
        check_teacher(other_split, tiny_dataset.state, data)
    fewer = tiny_dataset.state.model_copy(update={"vocab": {k: v[:3] for k, v in tiny_dataset.state.vocab.items()}})
    with pytest.raises(UnirankError, match="its features do not match the data"):
        check_teacher(Teacher(**{**teacher.__dict__, "state": fewer}), tiny_dataset.state, data)


TINY = """
name: tiny
data: {{source: synthetic, num_rows: 4000, vocab_size: 50, seed: {seed}}}
train: {{batch_size: 64, lr: 0.003, max_epochs: 1, patience: 10}}
"""


def test_train_and_search_distil_from_a_teacher_bundle(tmp_path):
    (tmp_path / "a.yaml").write_text(TINY.format(seed=1))
    (tmp_path / "b.yaml").write_text(TINY.format(seed=2))
    for name, arch, config in (("teacher", "dcnv2", "a"), ("student", "shared_bottom_mlp", "a"),
                               ("elsewhere", "dcnv2", "b")):
        done = unirank_here("export", "--arch", arch, "--config", str(tmp_path / f"{config}.yaml"), "--dest",
                       str(tmp_path / name))
        assert done.returncode == 0, done.stderr
    done = run_cli("train", str(tmp_path / "student"), "--teacher", str(tmp_path / "teacher"),
                   "--set", "distill_alpha=1.0")
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "student" / "retrained" / "metrics.json").read_text())
    assert metrics["teacher"] == str((tmp_path / "teacher").resolve())
    assert list((tmp_path / "student" / "retrained").glob("teacher.*.npy"))
    for teacher, message in ((tmp_path / "missing", "teacher: bundle folder not found"),
                             (tmp_path / "elsewhere", "trained on other data or another split")):
        failed = run_cli("train", str(tmp_path / "student"), "--teacher", str(teacher))
        assert failed.returncode != 0 and message in failed.stderr and "Traceback" not in failed.stderr

    # a search whose every candidate learns from the teacher's logits and reads its representation (LoopFM)
    study = (TINY.format(seed=1).replace("{", "{{").replace("}", "}}")
             + "space: {{num_layers: {{low: 1, high: 1}}, sharing: [shared_bottom]}}\n"
             "search: {{presets: [], distill: {{teacher: " + str(tmp_path / "teacher") + ", embedding: 3}}}}\n"
             "budget: {{trials: 1}}\noutput: {{dir: {out}}}\n")
    (tmp_path / "search").mkdir()
    _, out, result = search_fresh(tmp_path / "search", study)
    assert "distilling every candidate from" in result.stdout and "representation as 3 input features" in result.stdout
    import optuna

    trials = optuna.load_study(study_name="tiny", storage=f"sqlite:///{out / 'study.db'}").trials
    teacher_name = str((tmp_path / "teacher").resolve())
    assert [t.user_attrs.get("teacher") for t in trials] == [f"{teacher_name} + 3 representation features"]
    assert trials[0].user_attrs["cost"]["latency_device"] == "cpu"  # latency measured where the trial ran
    assert trials[0].user_attrs["cost"]["latency_ms"] > 0
    derived = out / "cache" / trials[0].user_attrs["data_folder"]
    assert list(derived.glob("teacher.*.npy")) and derived.name.endswith(".k3")
    _check_teacher_features(out, derived, tmp_path)


def _check_teacher_features(out, derived, tmp_path):
    """The features: principal directions of the training rows; served by the bundle's second
    program; a retrain needs that very teacher."""
    from unirank.data.dataset import load_prepared
    from unirank.export.bundle import export_bundle, load_bundle
    from unirank.export.retrain import train_bundle

    data, base = load_prepared(derived), load_prepared(derived.parent / derived.name.split("+")[0])
    assert data.features.teacher == ("teacher_0", "teacher_1", "teacher_2")
    z = data.train.dense[:, -3:].double()
    assert torch.allclose(z.mean(0), torch.zeros(3, dtype=torch.float64), atol=1e-4)
    assert torch.allclose(torch.cov(z.T), torch.eye(3, dtype=torch.float64), atol=2e-3)  # unit variance, uncorrelated
    assert torch.equal(data.train.dense[:, :-3], base.train.dense)  # the data's own columns unchanged
    bundle = load_bundle(export_bundle(out, dest=tmp_path / "loopfm"))
    test = base.splits["test"]
    with torch.no_grad():
        z = torch.export.load(str(bundle.path / "teacher_features.pt2")).module()(test.dense, test.sparse, test.domain)
        served = torch.export.load(str(bundle.path / "model.pt2")).module()(torch.cat([test.dense, z], 1),
                                                                            test.sparse, test.domain)
        eager = torch.sigmoid(bundle.model()(data.splits["test"].dense, test.sparse, test.domain))
    assert float((served - eager).abs().max()) < 1e-5
    assert "teacher_features.pt2" in (bundle.path / "MODEL_CARD.md").read_text()
    failed = run_cli("train", str(bundle.path))
    assert failed.returncode != 0 and "reads its teacher's representation" in failed.stderr
    assert "Traceback" not in failed.stderr
    other = tmp_path / "other-teacher"  # the same architecture with other weights
    shutil.copytree(tmp_path / "teacher", other)
    from safetensors.torch import load_file, save_file

    save_file({k: v + 0.01 for k, v in load_file(other / "model.safetensors").items()}, other / "model.safetensors")
    with pytest.raises(UnirankError, match="not the teacher whose representation this model reads"):
        train_bundle(bundle.path, teacher=other)
    result = train_bundle(bundle.path, teacher=tmp_path / "teacher", overrides={"distill_alpha": 0.0})
    assert np.isfinite(result.mean_ne)


def test_the_report_shows_the_transfer_ratio_of_a_distilled_student():
    from unirank.dashboard.distill_view import distillation_table, transfer_rows
    from unirank.search.study import TrialRecord

    def record(number, ne, arch, teacher=None, train=None):
        return TrialRecord(number=number, state="COMPLETE", arch=get_preset(arch), mean_ne=ne, mflops=1.0,
                           metrics={}, cost={}, weights=None, preset=None, train=train, teacher=teacher)

    records = [record(0, 0.80, "dcnv2"), record(1, 0.90, "shared_bottom_mlp"),
               record(2, 0.86, "shared_bottom_mlp", teacher="trial 0 of s", train={"distill_alpha": 0.5}),
               record(3, 0.95, "dlrm", teacher="trial 0 of s")]  # no undistilled twin: not in the table
    rows = transfer_rows(records)
    assert [(r["student"].number, r["twin"].number) for r in rows] == [(2, 1)]
    assert rows[0]["ratio"] == pytest.approx(0.4)  # (0.90 - 0.86) / (0.90 - 0.80)
    table = distillation_table(records)
    assert "<td>0.40</td>" in table and "2 distilled trials" in table

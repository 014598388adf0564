"""The study's teacher (``search.distill``): resolved once per invocation, its logits for the
training rows cached with the prepared data before any trial starts (``unirank.train.distill``)."""
from __future__ import annotations

from pathlib import Path

import optuna

from unirank.config import StudyConfig
from unirank.data.dataset import load_prepared
from unirank.data.preprocess import PreprocessState
from unirank.errors import UnirankError
from unirank.train.distill import Teacher, check_teacher, teacher_file, teacher_from_bundle, teacher_logits


def resolve_teacher(cfg: StudyConfig, study: optuna.Study, state: PreprocessState) -> Teacher:
    """``best`` | ``trial N`` of this study | a bundle's path → the Teacher, checked against the
    data's preprocessing ``state``."""
    from unirank.export.bundle import weights_in
    from unirank.search.study import trial_records

    wanted = cfg.search.distill.teacher.strip()
    if wanted != "best" and not wanted.startswith("trial"):
        teacher = teacher_from_bundle(wanted)
    else:
        trained = [r for r in trial_records(study) if r.state == "COMPLETE" and r.weights]
        if wanted == "best":
            trained = [r for r in trained if not r.data_folder]  # not a student of a teacher's features
            if not trained:
                raise UnirankError("search.distill.teacher: best: the study has no trained trial yet; run the search "
                                   "without search.distill first, or name a trial or an export bundle")
            chosen = min(trained, key=lambda r: r.mean_ne)
        else:
            number = int(wanted[5:])
            chosen = next((r for r in trained if r.number == number), None)
            if chosen is None:
                shown = ", ".join(str(r.number) for r in trained) or "none"
                raise UnirankError(f"search.distill.teacher: trial {number}: no trained trial with that number "
                                   f"(trained: {shown})")
        weights = weights_in(cfg.output_dir, chosen.weights)
        if weights is None or not weights.is_file():
            raise UnirankError(f"search.distill.teacher: trial {chosen.number}: its weights file is missing ({weights})")
        if chosen.data_folder:
            raise UnirankError(f"search.distill.teacher: trial {chosen.number}: it reads its own teacher's "
                               "representation; distil from a model of the data's own features")
        teacher = Teacher(name=f"trial {chosen.number} of {study.study_name}", arch=chosen.arch, weights=weights,
                          state=state)
    check_teacher(teacher, state, cfg.data.model_dump(mode="json"))
    return teacher


def prepare_teacher(cfg: StudyConfig, study: optuna.Study, cache_dir: Path) -> tuple[Teacher, str, Path]:
    """Resolve the teacher and cache its logits for the training rows (on a GPU when there is
    one) — and with ``search.distill.embedding`` its representation as features of every row
    (``unirank.train.teacher_features``); returns it, the logits file's name and the folder the
    trials read (the derived one with the features, else ``cache_dir``)."""
    import torch

    from unirank.train.teacher_features import features_folder

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dataset = load_prepared(cache_dir)
    teacher = resolve_teacher(cfg, study, dataset.state)
    folder = (features_folder(cache_dir, teacher, cfg.search.distill.embedding, device)
              if cfg.search.distill.embedding else cache_dir)
    teacher_logits(teacher, dataset, folder, device)
    return teacher, teacher_file(teacher, folder).name, folder

"""Export bundles: everything needed to rebuild, evaluate and retrain a trial without the study.

A bundle folder holds:
- ``arch.json``       the ArchSpec (with ``schema_version``)
- ``features.json``   FeatureSpec, the fitted preprocessing (vocabularies, dense statistics) and
                      the data config that produced them
- ``model.safetensors`` trained weights (tensors only: no pickled code)
- ``model.pt2``       the ``torch.export`` program of the inference model (probabilities), checked
                      against the eager model when written (``metrics.json`` → ``serving_check``)
- ``train.json``      the training protocol (TrainConfig)
- ``metrics.json``    validation metrics per portfolio, cost, provenance
- ``MODEL_CARD.md``   the same, for people

Loading (``load_bundle``) needs torch, pydantic and the data stack only — not optuna or ray.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING

from pydantic import TypeAdapter, ValidationError

from unirank.config import DataConfig, TrainConfig
from unirank.data.preprocess import PreprocessState
from unirank.errors import UnirankError, describe_validation_error
from unirank.export.card import model_card
from unirank.export.serving import export_program, verify_program
from unirank.models.ranker import UnifiedRanker, build_model
from unirank.space.arch import ArchSpec
from unirank.train.checkpoint import load_weights

if TYPE_CHECKING:
    from unirank.config import StudyConfig

BUNDLE_FILES = ("arch.json", "features.json", "model.safetensors", "train.json", "metrics.json",
                "MODEL_CARD.md", "model.pt2")


@dataclass
class Bundle:
    path: Path
    arch: ArchSpec
    state: PreprocessState
    data: DataConfig
    train: TrainConfig
    metrics: dict

    def model(self) -> UnifiedRanker:
        """The architecture with the bundle's trained weights, in eval mode."""
        model = build_model(self.arch, self.state.feature_spec())
        return load_weights(model, self.path / "model.safetensors").eval()


def weights_in(out_dir: Path, recorded: str | None) -> Path | None:
    """The trial's weights file, read from ``out_dir/trials/`` when the folder holds it (the
    recorded path is absolute and goes stale when the output folder is moved or copied)."""
    if not recorded:
        return None
    path = Path(recorded)
    local = out_dir / "trials" / path.parent.name / path.name
    return local if path.parent.parent.name == "trials" and local.is_file() else path


def export_bundle(out_dir: str | Path, trial_number: int | None = None,
                  dest: str | Path | None = None) -> Path:
    from unirank.dashboard.figures import front_indices
    from unirank.search.agreement import validation_agreement
    from unirank.search.confirm import winner
    from unirank.search.study import open_study_from_dir, trial_records

    out_dir = Path(out_dir)
    study, cfg = open_study_from_dir(out_dir)
    records = trial_records(study)
    if not records:
        raise UnirankError(f"{out_dir}: the study has no finished trials to export")
    front = [records[i] for i in front_indices(records)]
    confirmed = winner(study, cfg)  # search.confirm: the lowest mean over several training seeds
    if trial_number is None:
        chosen = confirmed.record if confirmed else min(front, key=lambda r: r.mean_ne)
    else:
        matches = [r for r in records if r.number == trial_number]
        if not matches:
            numbers = ", ".join(str(r.number) for r in records)
            raise UnirankError(f"--trial {trial_number}: no finished trial with that number (finished: {numbers})")
        chosen = matches[0]
    weights = weights_in(out_dir, chosen.weights)
    if not weights or not weights.is_file():
        raise UnirankError(f"trial {chosen.number}: weights file missing ({chosen.weights})")
    state_text = _state_for(cfg.data, out_dir, chosen.data_folder)
    dest = Path(dest) if dest else out_dir / "export" / f"trial-{chosen.number}"
    provenance = {"study": study.study_name, "storage": json.loads((out_dir / "study.json").read_text())["storage"],
                  "trial": chosen.number, "preset": chosen.preset,
                  **({"teacher": chosen.teacher} if chosen.teacher else {})}
    neighbours = [{"trial": r.number, "label": r.label, "mean_ne": r.mean_ne, "mflops": r.mflops}
                  for r in front if r.number != chosen.number]
    metrics = {"validation": chosen.metrics, "cost": chosen.cost, "provenance": provenance,
               "pareto_neighbours": neighbours}
    agreement = validation_agreement(records)  # how far the study's choice on validation can be trusted
    if agreement is not None:
        metrics["validation_agreement"] = {"rho": agreement.rho, "candidates": agreement.candidates,
                                           "low": agreement.low}
    if confirmed and confirmed.record.number == chosen.number:
        metrics["confirmation"] = {"validation_ne_by_seed": {str(k): v for k, v in confirmed.ne.items()},
                                   "mean_ne": confirmed.mean_ne, "std_ne": confirmed.std_ne}
    # Build the bundle in a temporary sibling folder, then swap it in: never half-written.
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    state = PreprocessState.model_validate_json(state_text)
    shutil.copyfile(weights, staging / "model.safetensors")
    model = load_weights(build_model(chosen.arch, state.feature_spec()), staging / "model.safetensors")
    if chosen.train:  # training values searched with this trial (space.train) replace the study's
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update=chosen.train)})
    try:
        if state.teacher_features is not None:  # the program that computes the features it reads
            from unirank.train.teacher_features import PROGRAM as TEACHER_PROGRAM

            shutil.copyfile(out_dir / "cache" / chosen.data_folder / TEACHER_PROGRAM, staging / TEACHER_PROGRAM)
        _write_bundle(staging, chosen.arch, model, state, cfg, metrics)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # nothing half-written; dest untouched
        raise
    _swap_in(staging, dest)
    return dest


def _write_bundle(staging: Path, arch: ArchSpec, model, state: PreprocessState, cfg, metrics: dict) -> None:
    """Everything but the weights file: arch, features, serving program, train config, card."""
    features = state.feature_spec()
    (staging / "arch.json").write_text(arch.to_json())
    (staging / "features.json").write_text(json.dumps({
        "feature_spec": json.loads(features.model_dump_json()),
        "preprocess": json.loads(state.model_dump_json()),
        "data": json.loads(TypeAdapter(DataConfig).dump_json(cfg.data)),
    }, indent=2))
    export_program(model, features, staging / "model.pt2")
    metrics["serving_check"] = {"max_abs_diff_eager_vs_pt2": verify_program(model, features, staging / "model.pt2")}
    (staging / "train.json").write_text(cfg.train.model_dump_json(indent=2))
    (staging / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (staging / "MODEL_CARD.md").write_text(model_card(arch, metrics, has_lists=bool(features.lists),
                                                       teacher=state.teacher_features))


def export_arch_bundle(arch: ArchSpec, cfg: "StudyConfig", dest: str | Path) -> Path:
    """A bundle for an architecture that no study trained (e.g. a preset or a hand-edited
    arch.json): seeded initial weights, preprocessing fitted on the config's data, no metrics yet.
    ``unirank train`` then trains it. Needs no optuna/ray."""
    from unirank.data.dataset import build_dataset
    from unirank.train.checkpoint import save_weights
    from unirank.train.fit import seed_everything

    dataset = build_dataset(cfg.data)
    seed_everything(cfg.train.seed)
    model = build_model(arch, dataset.features)
    from unirank.proxies.cost import model_cost

    metrics = {"validation": None, "cost": model_cost(model, dataset.features).to_dict(),
               "provenance": {"study": None, "storage": None, "trial": None, "preset": None,
                              "source": "architecture file (untrained)"}, "pareto_neighbours": []}
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    save_weights(model, staging / "model.safetensors")
    try:
        _write_bundle(staging, arch, model, dataset.state, cfg, metrics)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _swap_in(staging, dest)
    return dest


def _swap_in(staging: Path, dest: Path) -> None:
    """Replace ``dest`` by the finished ``staging`` folder (never a half-written bundle)."""
    if dest.exists():
        old = dest.with_name(f".{dest.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        dest.rename(old)
        staging.rename(dest)
        shutil.rmtree(old, ignore_errors=True)
    else:
        staging.rename(dest)


def _state_for(data_cfg: DataConfig, out_dir: Path, data_folder: str | None = None) -> str:
    """The preprocessing state a trial read: the data's own, or a teacher's features folder's."""
    from unirank.data.dataset import cache_key

    path = out_dir / "cache" / (data_folder or cache_key(data_cfg)) / "preprocess.json"
    if not path.is_file():
        raise UnirankError(f"{path}: preprocessing state missing; rerun `unirank search` to rebuild the cache")
    return path.read_text()


def load_bundle(path: str | Path) -> Bundle:
    path = Path(path)
    if not path.is_dir():
        raise UnirankError(f"bundle folder not found: {path}")
    missing = [name for name in BUNDLE_FILES if not (path / name).is_file()]
    if missing:
        raise UnirankError(f"{path}: not a complete bundle, missing {', '.join(missing)}")
    arch = ArchSpec.load(path / "arch.json")
    try:
        features = json.loads((path / "features.json").read_text())
        state = PreprocessState.model_validate(features["preprocess"])
        data = TypeAdapter(DataConfig).validate_python(features["data"])
        train = TrainConfig.model_validate_json((path / "train.json").read_text())
        metrics = json.loads((path / "metrics.json").read_text())
    except (json.JSONDecodeError, KeyError) as err:
        raise UnirankError(f"{path}: unreadable bundle file ({err})") from None
    except ValidationError as err:
        raise UnirankError(describe_validation_error(err, f"{path}")) from None
    return Bundle(path=path, arch=arch, state=state, data=data, train=train, metrics=metrics)

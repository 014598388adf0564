"""The Optuna study behind a search: where it lives, how it is opened, how its trials are read.

A study's output folder holds ``study.json`` (storage URL, study name, the config that made it),
so ``report``/``export``/``dashboard`` need only the folder. Each finished trial stores in its
user attributes the ArchSpec (``arch``), validation metrics per portfolio (``metrics``), the cost
(``cost``), the weights file (``weights``) and, for baselines, the preset name (``preset``).
"""
from __future__ import annotations

import json
import math
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy.exc

import optuna
from optuna.trial import FrozenTrial, TrialState

from unirank.config import StudyConfig
from unirank.errors import UnirankError
from unirank.search.lock import sqlite_path
from unirank.search.objectives import metric_names
from unirank.space.arch import ArchSpec

optuna.logging.set_verbosity(optuna.logging.WARNING)
STUDY_FILE = "study.json"


def storage_url(cfg: StudyConfig, out_dir: str | Path | None = None) -> str:
    """The study's storage: ``search.storage``, or SQLite in the output folder (``out_dir`` when
    given: where the folder is now, which may not be where the search wrote it)."""
    folder = cfg.output_dir if out_dir is None else Path(out_dir).resolve()
    return cfg.search.storage or f"sqlite:///{folder / 'study.db'}"


def tpe_sampler(seed: int, n_startup_trials: int) -> optuna.samplers.TPESampler:
    """The study's TPE. group=True: the space is conditional (per-layer and per-pattern parameters
    exist only in some trials), so multivariate TPE models each group of co-occurring parameters
    jointly instead of falling back to independent sampling; constant_liar keeps concurrent trials
    apart."""
    with warnings.catch_warnings():  # group and constant_liar are marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True,
                                          n_startup_trials=n_startup_trials)


def make_sampler(cfg: StudyConfig) -> optuna.samplers.BaseSampler:
    """The configured sampler, seeded (constraints come from ``Trial.set_constraint``)."""
    seed = cfg.search.seed
    # tpe_local: TPE proposes every other candidate; tpe_hv: TPE proposes until two trials are trained
    if cfg.search.sampler in ("tpe", "tpe_local", "tpe_hv"):
        return tpe_sampler(seed, n_startup_trials=6)
    if cfg.search.sampler == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=8)
    if cfg.search.sampler == "gp":
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=6,
                                         warn_independent_sampling=False)
    # random, and the sampler of the predictor, evolution and local modes for their start-up and
    # non-enqueued parameters
    return optuna.samplers.RandomSampler(seed=seed)


def open_study_for_search(cfg: StudyConfig) -> optuna.Study:
    """Create the study or load it to resume; write ``study.json`` beside it."""
    cfg.output_dir.mkdir(parents=True, exist_ok=True)
    url = storage_url(cfg)
    for attempt in range(5):
        try:
            study = optuna.create_study(
                storage=make_storage(url), study_name=cfg.study_name, sampler=make_sampler(cfg),
                directions=["minimize"] * len(metric_names(cfg.search)), load_if_exists=True,
            )
            break
        except ValueError as err:
            raise UnirankError(f"search.storage {url}: {err}") from None
        except sqlalchemy.exc.IntegrityError:
            # Two workers creating the same schema or study at once: the loser retries and loads it.
            if attempt == 4:
                raise
            time.sleep(0.5 * (attempt + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(metric_names(cfg.search))
    meta = {"storage": url, "study_name": cfg.study_name, "config": cfg.model_dump(mode="json")}
    tmp = cfg.output_dir / (STUDY_FILE + ".tmp")
    tmp.write_text(json.dumps(meta, indent=2))
    tmp.replace(cfg.output_dir / STUDY_FILE)
    return study


# Server storages (PostgreSQL, MySQL): each running trial's heartbeat is recorded every
# HEARTBEAT_SECONDS by the searcher; one silent for GRACE_SECONDS belongs to a dead worker.
HEARTBEAT_SECONDS = 10
GRACE_SECONDS = 60


def make_storage(url: str) -> str | optuna.storages.RDBStorage:
    """SQLite: the URL (one process at a time, see ``lock``); others: RDB storage with heartbeats."""
    if url.startswith("sqlite:"):
        return url
    for attempt in range(5):
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS)
        except sqlalchemy.exc.SQLAlchemyError as err:
            # several processes starting on a fresh database create Optuna's tables at once: the
            # losers see "already exists"; the schema is there when they look again
            if attempt == 4 or "already exists" not in str(err):
                raise
            time.sleep(0.5 * (attempt + 1))


def heartbeat_interval(study: optuna.Study) -> int | None:
    """Seconds between trial heartbeats of the study's storage; None where there are none."""
    return getattr(study._storage, "get_heartbeat_interval", lambda: None)()


def recover_interrupted_trials(study: optuna.Study) -> int:
    """Trials a dead process left RUNNING → FAIL with ``fail_reason: interrupted``, and each
    searched one is retried once: its parameters are enqueued (``retry_of`` = its number), so the
    same architecture is trained next — what Optuna's ``RetryFailedTrialCallback`` does.

    On SQLite (one search process at a time, under the lock) every RUNNING trial is stale; on a
    server storage only those whose heartbeat stopped more than ``GRACE_SECONDS`` ago."""
    storage = study._storage
    stale_ids = set(storage._get_stale_trial_ids(study._study_id)) if heartbeat_interval(study) else None
    count = 0
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if stale_ids is not None and trial._trial_id not in stale_ids:
            continue  # alive in another worker
        try:
            storage.set_trial_user_attr(trial._trial_id, "fail_reason", "interrupted")
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker got there first
        count += 1
        if trial.params and "retry_of" not in trial.user_attrs:
            study.enqueue_trial(trial.params, user_attrs={"retry_of": trial.number}, skip_if_exists=False)
    return count


def read_only_url(url: str) -> str:
    """A SQLite URL opened read-only (``mode=ro``); other storages are returned as they are."""
    db = sqlite_path(url)
    if db is None:
        return url
    if not db.is_file():
        raise UnirankError(f"{url}: no such SQLite file")
    return f"sqlite:///file:{db.resolve()}?mode=ro&uri=true"


def load_named_study(url: str, name: str, shown: str) -> optuna.Study:
    """``optuna.load_study`` with one-line errors naming ``shown`` (the URL as the user gave it)."""
    try:
        return optuna.load_study(study_name=name, storage=url)
    except KeyError:
        raise UnirankError(f"{shown}: no study named {name!r}") from None
    except Exception as err:  # noqa: BLE001 - any storage error becomes one line
        raise UnirankError(f"{shown}: cannot open the study ({type(err).__name__}: {err})") from None


def open_study_from_dir(out_dir: str | Path, study_name: str | None = None,
                        read_only: bool = False) -> tuple[optuna.Study, StudyConfig]:
    """Load the study of an output folder written by ``unirank search`` (with ``read_only``,
    SQLite is opened ``mode=ro``)."""
    meta_path = Path(out_dir) / STUDY_FILE
    if not meta_path.is_file():
        raise UnirankError(f"{out_dir}: no {STUDY_FILE} here; is this a `unirank search` output folder?")
    meta = json.loads(meta_path.read_text())
    cfg = StudyConfig.model_validate(meta["config"])
    # the default storage lives in the folder, wherever it was moved or copied
    storage = meta["storage"] if cfg.search.storage else storage_url(cfg, out_dir)
    url = read_only_url(storage) if read_only else storage
    return load_named_study(url, study_name or meta["study_name"], storage), cfg


@dataclass
class TrialRecord:
    """A finished trial as the report, export and dashboard see it."""

    number: int
    state: str  # COMPLETE, INFEASIBLE (over a hard budget, never trained), PRUNED, FAIL
    arch: ArchSpec
    mean_ne: float
    mflops: float
    metrics: dict
    cost: dict
    weights: str | None
    preset: str | None
    fail_reason: str | None = None
    curve: list = None  # [[epoch, validation NE], ...] as reported during training
    proxy_score: float | None = None  # warm-up proxy score, when the study screened by proxy
    same_as_trial: int | None = None  # a repeat answered from this earlier trial
    train: dict = None  # training overrides searched with the architecture (space.train)
    teacher: str | None = None  # the teacher it was distilled from (search.distill)
    data_folder: str | None = None  # the prepared data it read when not the data's own (a teacher's features)
    preset_tuning: int | None = None  # search.tune_presets: the preset's k-th training with other values

    def __post_init__(self) -> None:
        self.curve = self.curve or []
        self.train = self.train or {}

    @property
    def label(self) -> str:
        return preset_label(self.preset, self.preset_tuning) if self.preset else f"trial {self.number}"


def preset_label(preset: str, tuning: int | None = None) -> str:
    """How a preset training is named (logs, report, dashboard): ``dcnv2``, or ``dcnv2 (tuning 2)``
    for its k-th training with other values (``search.tune_presets``)."""
    return f"{preset} (tuning {tuning})" if tuning else preset


def trial_records(study: optuna.Study, include_failed: bool = False) -> list[TrialRecord]:
    """Trained, finished trials (COMPLETE and feasible); with ``include_failed`` also the
    infeasible, pruned and failed ones (for tables and the infeasible markers)."""
    records = []
    for trial in study.get_trials(deepcopy=False):
        if "arch" not in trial.user_attrs:
            continue
        record = _record(trial)
        if record.state != "COMPLETE" and not include_failed:
            continue
        records.append(record)
    return records


def _record(trial: FrozenTrial) -> TrialRecord:
    attrs = trial.user_attrs
    state = "INFEASIBLE" if attrs.get("infeasible") else trial.state.name
    metrics = attrs.get("metrics") or {}
    return TrialRecord(
        number=trial.number, state=state, arch=ArchSpec.model_validate(attrs["arch"]),
        mean_ne=float(metrics.get("mean_ne", math.nan)),
        mflops=float(attrs.get("cost", {}).get("mflops", math.nan)), metrics=metrics,
        cost=attrs.get("cost", {}), weights=attrs.get("weights"), preset=attrs.get("preset"),
        fail_reason=attrs.get("fail_reason") or attrs.get("infeasible"),
        curve=attrs.get("curve") or [], proxy_score=attrs.get("proxy_score"),
        same_as_trial=attrs.get("same_as_trial"), train=attrs.get("train") or {}, teacher=attrs.get("teacher"),
        data_folder=attrs.get("data_folder"), preset_tuning=attrs.get("preset_tuning"),
    )

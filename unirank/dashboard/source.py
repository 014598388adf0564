"""Where the dashboard reads a study from, read-only, and one snapshot of it.

A source is a ``unirank search`` output folder (its ``study.json`` names storage and study) or an
Optuna storage URL (``sqlite:///…``, ``postgresql://…``) with ``--study`` when it holds several.
SQLite is opened with ``mode=ro``: the dashboard cannot write to the study even by mistake.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import optuna

from unirank.config import StudyConfig
from unirank.errors import UnirankError
from unirank.search.study import (TrialRecord, load_named_study, open_study_from_dir, read_only_url,
                                  trial_records)


@dataclass
class StudySource:
    study: optuna.Study
    config: StudyConfig | None
    out_dir: Path | None
    label: str

    def snapshot(self) -> "Snapshot":
        everything = trial_records(self.study, include_failed=True)
        return Snapshot(records=[r for r in everything if r.state == "COMPLETE"],
                        others=[r for r in everything if r.state != "COMPLETE"])

    def export_command(self, number: int) -> str:
        where = str(self.out_dir) if self.out_dir else "OUT_DIR"
        return f"unirank export {where} --trial {number}"


@dataclass
class Snapshot:
    records: list[TrialRecord]  # trained and finished (COMPLETE)
    others: list[TrialRecord] = field(default_factory=list)  # pruned, failed, infeasible

    def by_number(self) -> dict[int, TrialRecord]:
        return {r.number: r for r in self.records + self.others}


def open_source(where: str, study_name: str | None = None) -> StudySource:
    """Open ``where`` (an output folder or a storage URL) read-only."""
    if "://" not in where:
        study, cfg = open_study_from_dir(where, study_name, read_only=True)
        return StudySource(study, cfg, Path(where), study.study_name)
    url = read_only_url(where)
    try:
        names = [s.study_name for s in optuna.get_all_study_summaries(storage=url)]
    except Exception as err:  # noqa: BLE001 - any storage error becomes one line
        raise UnirankError(f"{where}: cannot read the storage ({type(err).__name__}: {err})") from None
    if study_name is None:
        if len(names) != 1:
            raise UnirankError(f"{where}: holds {len(names)} studies ({', '.join(names) or 'none'}); "
                               "name one with --study")
        study_name = names[0]
    return StudySource(load_named_study(url, study_name, where), None, None, study_name)

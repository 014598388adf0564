"""UCI Census-Income (KDD) reader: the classic two-objective benchmark of the MMoE and PLE papers.

Objectives: ``income_50k`` (income > 50k) and ``never_married`` (marital stat = Never married).
The domain is one categorical column (default ``sex``). The file has no header; ``?`` is missing.
"""
from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd

from unirank.config import CensusDataConfig
from unirank.data.table import RawTable
from unirank.errors import UnirankError

COLUMNS = [
    "age", "class_of_worker", "detailed_industry_recode", "detailed_occupation_recode",
    "education", "wage_per_hour", "enroll_in_edu_inst_last_wk", "marital_stat",
    "major_industry_code", "major_occupation_code", "race", "hispanic_origin", "sex",
    "member_of_a_labor_union", "reason_for_unemployment", "full_or_part_time_employment_stat",
    "capital_gains", "capital_losses", "dividends_from_stocks", "tax_filer_stat",
    "region_of_previous_residence", "state_of_previous_residence",
    "detailed_household_and_family_stat", "detailed_household_summary_in_household",
    "instance_weight", "migration_code_change_in_msa", "migration_code_change_in_reg",
    "migration_code_move_within_reg", "live_in_this_house_1_year_ago",
    "migration_prev_res_in_sunbelt", "num_persons_worked_for_employer",
    "family_members_under_18", "country_of_birth_father", "country_of_birth_mother",
    "country_of_birth_self", "citizenship", "own_business_or_self_employed",
    "fill_inc_questionnaire_for_veterans_admin", "veterans_benefits", "weeks_worked_in_year",
    "year", "income",
]
DENSE = [
    "age", "wage_per_hour", "capital_gains", "capital_losses", "dividends_from_stocks",
    "num_persons_worked_for_employer", "weeks_worked_in_year",
]
# Labels (and the survey weight) are not features.
NOT_FEATURES = {"marital_stat", "income", "instance_weight"}
SPARSE = [c for c in COLUMNS if c not in DENSE and c not in NOT_FEATURES]


def read_census(cfg: CensusDataConfig) -> RawTable:
    path = Path(cfg.path)
    if not path.is_file():
        raise UnirankError(f"data.path: file not found: {path}")
    if cfg.domain_column not in SPARSE:
        raise UnirankError(
            f"data.domain_column: got {cfg.domain_column!r}, expected a categorical census column "
            f"such as sex, race, region_of_previous_residence"
        )
    _check_width(path)
    frame = pd.read_csv(
        path, header=None, names=COLUMNS, skipinitialspace=True, na_values="?",
        nrows=cfg.max_rows, dtype={c: str for c in SPARSE + ["marital_stat", "income"]},
    )
    frame["income_50k"] = frame["income"].str.contains("50000+", regex=False).astype("float32")
    frame["never_married"] = (frame["marital_stat"] == "Never married").astype("float32")
    for column in DENSE:
        frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float32")
    return RawTable(
        frame=frame, dense=list(DENSE), sparse=list(SPARSE), domain=cfg.domain_column,
        objectives=["income_50k", "never_married"], source=f"census:{path}",
    )


def _check_width(path: Path) -> None:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt") as handle:
            first = handle.readline()
    except (OSError, UnicodeDecodeError) as err:
        raise UnirankError(f"{path}: cannot read as census-income text ({err})") from None
    width = len(first.split(","))
    if width != len(COLUMNS):
        raise UnirankError(
            f"{path}: line 1 has {width} comma-separated columns, expected {len(COLUMNS)} "
            "(the census-income format)"
        )

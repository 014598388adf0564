"""What `unirank search` says before any trial when validation ids are out of the training vocabulary."""
import json

import numpy as np
import pandas as pd

from tests.conftest import unirank_here
from unirank.config import CsvDataConfig
from unirank.data.coverage import cold_validation_lines, unseen_shares
from unirank.data.dataset import build_dataset


def _table(path):
    """400 hourly rows: users u0…u27 in the first 280 (10 rows each), a new user every 10 rows after;
    items a–d throughout."""
    rng = np.random.default_rng(0)
    n = 400
    pd.DataFrame({
        "user": [f"u{r // 10}" for r in range(n)],
        "item": rng.choice(["a", "b", "c", "d"], size=n),
        "price": rng.normal(size=n).astype("float32"),
        "click": rng.integers(0, 2, size=n).astype("float32"),
        "day": pd.date_range("2026-01-01", periods=n, freq="h").astype(str),
    }).to_parquet(path)


def _cfg(path, split) -> CsvDataConfig:
    return CsvDataConfig.model_validate({"source": "parquet", "path": str(path), "dense": ["price"],
                                         "sparse": ["user", "item"], "objectives": ["click"], "split": split})


def test_a_time_split_whose_validation_users_are_all_new_is_named(tmp_path):
    _table(tmp_path / "t.parquet")
    dataset = build_dataset(_cfg(tmp_path / "t.parquet", {"by": "time", "time_column": "day"}))
    shares = unseen_shares(dataset)
    assert shares["user"] == (0.0, 1.0)  # training rows 0–279 hold users u0–u27; validation u28–u33
    assert shares["item"][1] == 0.0
    lines = cold_validation_lines(shares)
    assert len(lines) == 1
    assert lines[0].startswith("data: 100% of the validation rows have a user that no training row has (0% ")


def test_a_random_split_of_the_same_rows_names_nothing(tmp_path):
    _table(tmp_path / "t.parquet")
    dataset = build_dataset(_cfg(tmp_path / "t.parquet", {"by": "random"}))
    shares = unseen_shares(dataset)
    assert shares["user"][1] < 0.25  # each user's 10 rows fall mostly into training
    assert cold_validation_lines(shares) == []


def test_rare_ids_out_of_vocabulary_in_training_too_are_not_counted_as_cold():
    shares = {"user": (0.5, 0.7), "zip": (0.0, 0.3), "item": (0.0, 0.1)}
    assert [line.split(" have a ")[1].split(" ")[0] for line in cold_validation_lines(shares)] == ["zip"]


def test_unirank_search_names_the_cold_feature_before_any_trial(tmp_path):
    _table(tmp_path / "t.parquet")
    config = tmp_path / "cold.yaml"
    config.write_text(json.dumps({  # YAML reads JSON
        "name": "cold",
        "data": {"source": "parquet", "path": str(tmp_path / "t.parquet"), "dense": ["price"],
                 "sparse": ["user", "item"], "objectives": ["click"], "split": {"by": "time", "time_column": "day"}},
        "space": {"embedding_dim": [4], "num_layers": {"low": 1, "high": 1}, "modules": ["mlp"], "mlp_width": [8]},
        "train": {"batch_size": 64, "max_epochs": 1},
        "search": {"presets": []}, "budget": {"trials": 1}, "output": {"dir": str(tmp_path / "out")}}))
    result = unirank_here("search", str(config), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    named = [line for line in result.stdout.splitlines() if line.startswith("data: ")]
    assert named == ["data: 100% of the validation rows have a user that no training row has (0% of the training "
                     "rows are out of its vocabulary): on those rows validation measures cold start for user"]

"""MovieLens-100K: the reader, its objectives and domains, and the time-based split."""
import numpy as np
import pandas as pd
import pytest

from tests.conftest import MOVIELENS, needs_movielens
from unirank.config import MovieLensDataConfig, load_config
from unirank.data.dataset import build_dataset, read_raw, split_rows
from unirank.errors import UnirankError


@needs_movielens
def test_movielens_rows_labels_domains_and_time_split():
    cfg = MovieLensDataConfig(source="movielens", path=MOVIELENS)
    table = read_raw(cfg)
    assert len(table.frame) == 100_000
    ratings = pd.read_csv(MOVIELENS / "ml-100k.inter", sep="\t")["rating:float"]
    assert table.frame["like"].sum() == (ratings >= 4).sum()
    assert table.frame["love"].sum() == (ratings == 5).sum()
    assert set(table.frame["age_band"]) == {"<25", "25-34", "35-44", "45+"}
    rows = split_rows(len(table.frame), cfg, table.times)
    times = table.times.to_numpy()
    assert times[rows["train"]].max() <= times[rows["val"]].min()  # no future ratings in training
    assert times[rows["val"]].max() <= times[rows["test"]].min()
    assert sorted(np.concatenate(list(rows.values())).tolist()) == list(range(100_000))
    dataset = build_dataset(cfg)
    assert dataset.features.objectives == ("like", "love") and len(dataset.features.domains) == 4
    assert {len(s) for s in dataset.splits.values()} == {70_000, 15_000}


@needs_movielens
def test_study_config_loads_and_genre_domains_work():
    cfg = load_config("studies/movielens.yaml", [f"data.path={MOVIELENS}", "data.domain=genre"])
    assert cfg.data.split.by == "time"
    table = read_raw(cfg.data)
    assert table.domain == "genre" and table.frame["genre"].nunique() > 10


def test_time_split_needs_a_time_column(tiny_dataset):
    from unirank.config import SyntheticDataConfig

    cfg = SyntheticDataConfig(source="synthetic", num_rows=2000, split={"by": "time"})
    with pytest.raises(UnirankError, match="split.by: time needs a time column"):
        build_dataset(cfg)


def test_missing_movielens_folder_is_one_line(tmp_path):
    with pytest.raises(UnirankError, match="data.path: folder not found"):
        read_raw(MovieLensDataConfig(source="movielens", path=tmp_path / "none"))

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


@needs_movielens
def test_history_holds_only_the_users_strictly_earlier_ratings_and_genres_are_a_bag():
    """Every history event is the same user's rating strictly before the example's time (no
    future and no same-second leak), the most recent last; genres are every genre of the movie."""
    cfg = MovieLensDataConfig(source="movielens", path=MOVIELENS, history_length=5, genres=True)
    table = read_raw(cfg)
    history, genres = table.lists
    inter = pd.read_csv(MOVIELENS / "ml-100k.inter", sep="\t")
    inter.columns = [c.split(":")[0] for c in inter.columns]
    users, items = inter["user_id"].to_numpy(), inter["item_id"].astype(str).to_numpy()
    times, ratings = inter["timestamp"].to_numpy(), inter["rating"].astype(int).astype(str).to_numpy()
    rng = np.random.default_rng(0)
    for row in rng.choice(len(inter), 300, replace=False):
        earlier = np.flatnonzero((users == users[row]) & (times < times[row]))
        earlier = earlier[np.lexsort((earlier, times[earlier]))][-5:]  # time order, file order on ties
        n = history.lengths[row]
        assert n == len(earlier)
        assert list(history.fields["history_item"][row][5 - n:]) == list(items[earlier])
        assert list(history.fields["history_rating"][row][5 - n:]) == list(ratings[earlier])
        assert set(history.fields["history_item"][row][:5 - n]) <= {""}
    bag = genres.fields["genre_bag"]
    row = int(np.argmax(genres.lengths))
    assert sorted(v for v in bag[row] if v) == sorted(table.frame["class"].iloc[row].split())
    dataset = build_dataset(cfg)
    spec = {f.name: f for f in dataset.features.lists}
    assert spec["history"].kind == "sequence" and spec["genres"].kind == "multi_hot"
    assert [f.shares for f in spec["history"].fields] == ["item_id", "first_genre", ""]
    assert dataset.train.lists.shape[1] == dataset.features.lists_width

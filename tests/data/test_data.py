import numpy as np
import pandas as pd
import pytest
import torch

from tests.conftest import CENSUS, TINY_DATA, needs_census
from unirank.config import CensusDataConfig, CsvDataConfig
from unirank.data.dataset import build_dataset, load_prepared, prepare_dataset, split_rows
from unirank.data.preprocess import fit_preprocessing, transform
from unirank.data.synthetic import generate_synthetic, generate_synthetic_with_truth
from unirank.data.table import RawTable
from unirank.errors import UnirankError


def test_synthetic_is_seeded_and_multi_domain():
    a, b = generate_synthetic(TINY_DATA), generate_synthetic(TINY_DATA)
    pd.testing.assert_frame_equal(a.frame, b.frame)
    assert a.frame["domain"].nunique() == TINY_DATA.num_domains
    assert a.objectives == ["click", "convert"]
    assert a.frame["convert"].isna().mean() == pytest.approx(0.25, abs=0.03)  # masked labels
    assert 0.1 < a.frame["click"].mean() < 0.6


def test_synthetic_truth_is_what_the_labels_were_drawn_from():
    table, truth = generate_synthetic_with_truth(TINY_DATA)
    labels = table.frame[["click", "convert"]].to_numpy()
    assert truth.shape == labels.shape and ((truth > 0) & (truth < 1)).all()
    for t in range(2):  # calibrated row for row: in each fifth of the probabilities, labels match them
        seen = ~np.isnan(labels[:, t])
        fifths = np.array_split(np.argsort(truth[seen, t]), 5)
        for rows in fifths:
            assert labels[seen, t][rows].mean() == pytest.approx(truth[seen, t][rows].mean(), abs=0.03)
    # and better than any constant: the log loss of the truth is below the base rate's
    y, p = labels[:, 0], truth[:, 0]

    def log_loss(q):
        return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))
    assert log_loss(p) < log_loss(np.full_like(p, y.mean())) - 0.05


def test_splits_are_disjoint_and_cover_everything():
    rows = split_rows(1000, TINY_DATA)
    every = np.concatenate(list(rows.values()))
    assert len(every) == 1000 and len(np.unique(every)) == 1000


def test_preprocessing_is_fitted_on_train_rows_only():
    frame = pd.DataFrame({"c": ["a", "a", "b", "zzz"], "x": [1.0, 3.0, 5.0, 1000.0],
                          "d": ["u", "v", "u", "v"], "y": [1.0, 0.0, np.nan, 1.0]})
    table = RawTable(frame, dense=["x"], sparse=["c"], domain="d", objectives=["y"], source="t")
    state = fit_preprocessing(table, np.array([0, 1, 2]), min_count=1)
    assert state.vocab["c"] == ["a", "b"]          # "zzz" only appears outside train
    assert state.dense["x"].mean == pytest.approx(3.0)
    split = transform(table, np.array([0, 2, 3]), state)
    assert split.sparse[:, 0].tolist() == [1, 2, 0]  # unseen value → OOV id 0
    assert split.mask[:, 0].tolist() == [True, False, True]


def test_prepared_cache_round_trips_and_is_reused(tmp_path):
    folder = prepare_dataset(TINY_DATA, tmp_path)
    stamp = (folder / "train.dense.npy").stat().st_mtime_ns
    assert prepare_dataset(TINY_DATA, tmp_path) == folder
    assert (folder / "train.dense.npy").stat().st_mtime_ns == stamp
    loaded, built = load_prepared(folder), build_dataset(TINY_DATA)
    for name in ("train", "val", "test"):
        for key, value in built.splits[name].tensors().items():
            assert torch.equal(loaded.splits[name].tensors()[key], value)


@needs_census
def test_census_reader_builds_two_objectives_per_sex_domain():
    dataset = build_dataset(CensusDataConfig(source="census", path=CENSUS, max_rows=20_000))
    assert dataset.features.domains == ("Female", "Male")
    assert dataset.features.objectives == ("income_50k", "never_married")
    assert "marital_stat" not in [f.name for f in dataset.features.sparse]  # label source is no feature
    assert len(dataset.train) + len(dataset.val) + len(dataset.test) == 20_000
    base_income = dataset.train.labels[:, 0].mean().item()
    assert 0.02 < base_income < 0.15


def test_census_errors_are_one_line(tmp_path):
    with pytest.raises(UnirankError, match="data.path: file not found"):
        build_dataset(CensusDataConfig(source="census", path=tmp_path / "none.gz"))
    short = tmp_path / "short.csv"
    short.write_text("1,2,3\n4,5,6\n")
    with pytest.raises(UnirankError, match="line 1 has 3 comma-separated columns, expected 42"):
        build_dataset(CensusDataConfig(source="census", path=short))


def _csv(tmp_path, text):
    path = tmp_path / "t.csv"
    path.write_text(text)
    return path


def test_csv_reader_missing_column_names_it(tmp_path):
    path = _csv(tmp_path, "a,b,dom,y\n1,x,u,0\n")
    cfg = CsvDataConfig(source="csv", path=path, dense=("a",), sparse=("b", "c"), domain="dom", objectives=("y",))
    with pytest.raises(UnirankError, match="column 'c' declared in data.sparse is missing"):
        build_dataset(cfg)


def test_csv_reader_rejects_bad_labels_and_dense(tmp_path):
    path = _csv(tmp_path, "a,dom,y\n1,u,0\n2,u,7\n")
    cfg = CsvDataConfig(source="csv", path=path, dense=("a",), domain="dom", objectives=("y",))
    with pytest.raises(UnirankError, match="row 3: got .7."):
        build_dataset(cfg)
    path = _csv(tmp_path, "a,dom,y\n1,u,0\nabc,u,1\n")
    with pytest.raises(UnirankError, match="row 3 is not numeric"):
        build_dataset(cfg)


def test_two_processes_preparing_the_same_data_at_once_leave_a_readable_cache(tmp_path):
    """Each process writes its own temporary files, then renames: no process writes into the
    file another one has already published (which corrupted the cache before)."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    with context.Pool(2) as pool:
        folders = pool.starmap(prepare_dataset, [(TINY_DATA, tmp_path)] * 2)
    assert folders[0] == folders[1]
    dataset = load_prepared(folders[0])
    assert len(dataset.train) > 0 and not list(folders[0].glob("*.tmp"))

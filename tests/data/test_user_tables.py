"""The users' own tables: Parquet directories and globs, their splits, labels as they store them."""
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from unirank.config import CsvDataConfig
from unirank.data.dataset import build_dataset, cache_key, split_rows
from unirank.errors import UnirankError


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "price": rng.normal(size=n).astype("float32"),
        "item": rng.choice(["a", "b", "c", "d"], size=n),
        "event": rng.choice(["view", "click", "purchase"], size=n),
        "day": pd.date_range("2026-01-01", periods=n, freq="h").astype(str),
        "fold": rng.choice(["tr", "va", "te"], size=n, p=[0.6, 0.2, 0.2]),
    })


def _cfg(**kw) -> CsvDataConfig:
    base = {"source": "parquet", "dense": ["price"], "sparse": ["item"], "objectives": {"event": ["click", "purchase"]}}
    return CsvDataConfig.model_validate({**base, **kw})


def test_a_hive_partitioned_parquet_directory_without_a_domain_column(tmp_path):
    frame = _frame(600)
    for k in range(3):
        folder = tmp_path / "events" / f"dt=2026-01-0{k + 1}"
        folder.mkdir(parents=True)
        frame.iloc[k * 200:(k + 1) * 200].to_parquet(folder / "part-0.parquet")
    dataset = build_dataset(_cfg(path=tmp_path / "events", sparse=["item", "dt"]))  # dt: a hive folder key
    assert dataset.features.domains == ("all",)  # no domain column: one domain
    assert [f.name for f in dataset.features.sparse] == ["item", "dt"]
    rows = sum(len(s) for s in dataset.splits.values())
    assert rows == 600
    labels = np.concatenate([s.labels[:, 0].numpy() for s in dataset.splits.values()])
    assert labels.mean() == pytest.approx(frame["event"].isin(["click", "purchase"]).mean())


def test_a_glob_of_csv_files_with_a_split_column(tmp_path):
    frame = _frame(500)
    for k in range(2):
        frame.iloc[k * 250:(k + 1) * 250].to_csv(tmp_path / f"part{k}.csv", index=False)
    cfg = CsvDataConfig.model_validate({
        "source": "csv", "path": str(tmp_path / "part*.csv"), "dense": ["price"], "sparse": ["item"],
        "objectives": {"event": "purchase"},
        "split": {"by": "column", "column": "fold", "values": {"train": "tr", "val": "va", "test": "te"}}})
    dataset = build_dataset(cfg)
    assert [len(dataset.splits[s]) for s in ("train", "val", "test")] == \
        [int((frame.fold == v).sum()) for v in ("tr", "va", "te")]


def test_a_time_split_with_date_cuts_leaks_no_future_row(tmp_path):
    frame = _frame(400)
    frame.to_parquet(tmp_path / "t.parquet")
    cfg = _cfg(path=tmp_path / "t.parquet", split={"by": "time", "time_column": "day",
                                                   "cuts": ["2026-01-09", "2026-01-13"]})
    dataset = build_dataset(cfg)
    days = pd.to_datetime(frame["day"])
    assert len(dataset.train) == int((days < "2026-01-09").sum())
    assert len(dataset.test) == int((days >= "2026-01-13").sum())
    assert len(dataset.val) == 400 - len(dataset.train) - len(dataset.test)


def test_a_gap_before_validation_leaves_out_the_latest_training_rows(tmp_path):
    frame = _frame(400).sample(frac=1.0, random_state=3)  # file order is not time order
    frame.to_parquet(tmp_path / "t.parquet")
    time_split = {"by": "time", "time_column": "day", "val_fraction": 0.15, "test_fraction": 0.15}
    plain, gapped = (build_dataset(_cfg(path=tmp_path / "t.parquet", split={**time_split, "gap_fraction": g}))
                     for g in (0.0, 0.15))
    assert [len(gapped.splits[s]) for s in ("train", "val", "test")] == [220, 60, 60]
    assert len(plain.train) == 280
    times = pd.to_datetime(frame["day"]).to_numpy()
    cfg = _cfg(path=tmp_path / "t.parquet", split={**time_split, "gap_fraction": 0.15})
    rows, before = split_rows(400, cfg, times), split_rows(400, _cfg(path=tmp_path / "t.parquet", split=time_split), times)
    for name in ("val", "test"):
        assert np.array_equal(rows[name], before[name])
    left_out = np.setdiff1d(before["train"], rows["train"])
    assert len(left_out) == 60 and times[rows["train"]].max() < times[left_out].min() <= times[left_out].max() \
        < times[rows["val"]].min()
    assert np.array_equal(rows["train"], before["train"][np.isin(before["train"], rows["train"])])  # order kept
    with pytest.raises(ValueError, match="gap_fraction: 0.1 is only used with by: time"):
        _cfg(path=tmp_path / "t.parquet", split={"by": "random", "gap_fraction": 0.1})
    with pytest.raises(UnirankError, match="gap_fraction: 0.49 leaves out 196 rows, but only 160 come before"):
        split_rows(400, _cfg(path=tmp_path / "t.parquet", split={**time_split, "val_fraction": 0.45,
                                                                 "gap_fraction": 0.49}), times)


def test_separate_train_val_test_paths(tmp_path):
    for name, n in (("train", 300), ("val", 100), ("test", 80)):
        _frame(n, seed=n).to_parquet(tmp_path / f"{name}.parquet")
    dataset = build_dataset(_cfg(train=tmp_path / "train.parquet", val=tmp_path / "val.parquet",
                                 test=tmp_path / "test.parquet"))
    assert (len(dataset.train), len(dataset.val), len(dataset.test)) == (300, 100, 80)


def test_the_cache_key_changes_when_a_file_is_added(tmp_path):
    _frame(100).to_parquet(tmp_path / "a.parquet")
    cfg = _cfg(path=tmp_path)
    before = cache_key(cfg)
    _frame(100, seed=1).to_parquet(tmp_path / "b.parquet")
    assert cache_key(cfg) != before


@pytest.mark.parametrize("change, message", [
    (lambda f: f.assign(price=f.price.astype(object).where(f.index != 7, "n/a")), r"b\.csv: data.dense column 'price' row 9 is not numeric"),
    (lambda f: f.drop(columns=["item"]), r"column 'item' declared in data.sparse is missing"),
])
def test_bad_files_name_the_file_and_row(tmp_path, change, message):
    _frame(50).to_csv(tmp_path / "a.csv", index=False)
    change(_frame(50, seed=1)).to_csv(tmp_path / "b.csv", index=False)
    cfg = CsvDataConfig.model_validate({"source": "csv", "path": str(tmp_path / "*.csv"), "dense": ["price"],
                                        "sparse": ["item"], "objectives": {"event": "click"}})
    with pytest.raises(UnirankError, match=message):
        build_dataset(cfg)


def test_bad_split_and_label_settings_are_one_line_errors(tmp_path):
    _frame(100).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(UnirankError, match=r"unknown value '(tr|va|te)', expected one of \['test', 'train', 'val'\]"):
        build_dataset(_cfg(path=tmp_path / "t.parquet", split={"by": "column", "column": "fold"}))
    with pytest.raises(UnirankError, match=r"no row of 'event' has a positive value \['buy'\]"):
        build_dataset(_cfg(path=tmp_path / "t.parquet", objectives={"event": "buy"}))
    with pytest.raises(UnirankError, match="label column 'event' row 1: got 'view'"):
        build_dataset(_cfg(path=tmp_path / "t.parquet", objectives=["event"]))
    with pytest.raises(ValueError, match="val_from must come before test_from"):
        _cfg(path=tmp_path / "t.parquet", split={"by": "time", "time_column": "day", "cuts": ["2026-02-01", "2026-01-01"]})
    with pytest.raises(ValueError, match="either `path` or `train`"):
        _cfg(path=tmp_path / "t.parquet", train=tmp_path / "t.parquet", val=tmp_path / "t.parquet")


def test_unknown_split_values_and_cuts_outside_the_data_are_named(tmp_path):
    frame = _frame(100)
    frame.loc[42, "fold"] = "holdout"
    frame.to_parquet(tmp_path / "t.parquet")
    split = {"by": "column", "column": "fold", "values": {"train": "tr", "val": "va", "test": "te"}}
    with pytest.raises(UnirankError, match=r"t\.parquet: data.split.column 'fold' row 43: unknown value 'holdout'"):
        build_dataset(_cfg(path=tmp_path / "t.parquet", split=split))
    with pytest.raises(UnirankError, match="the test split is empty: the times run from"):
        build_dataset(_cfg(path=tmp_path / "t.parquet",
                           split={"by": "time", "time_column": "day", "cuts": ["2026-01-02", "2027-01-01"]}))


def test_files_with_different_column_types_are_named(tmp_path):
    _frame(60).to_parquet(tmp_path / "a.parquet")
    _frame(60, seed=2).assign(price="x").to_parquet(tmp_path / "b.parquet")
    with pytest.raises(UnirankError, match=r"b\.parquet: column 'price' is .*string, but the first file has (float|double)"):
        build_dataset(_cfg(path=tmp_path))


def _with_lists(n: int, seed: int = 0) -> pd.DataFrame:
    frame = _frame(n, seed)
    rng = np.random.default_rng(seed + 1)
    lengths = rng.integers(0, 7, size=n)
    frame["seen"] = [list(rng.choice(["a", "b", "c", "d"], size=k)) for k in lengths]      # shares item
    frame["stars"] = [list(rng.integers(1, 6, size=k)) for k in lengths]                    # side ids
    frame["tags"] = [list(rng.choice(["x", "y", "z"], size=rng.integers(0, 3))) for _ in range(n)]
    return frame


LISTS = {"multi_hot": {"tags": {"column": "tags", "max_len": 3}},
         "sequences": {"history": {"max_len": 4, "fields": {"seen_item": {"column": "seen", "shares": "item"},
                                                            "seen_stars": {"column": "stars"}}}}}


def test_parquet_list_columns_and_csv_strings_give_the_same_sequences_and_bags(tmp_path):
    frame = _with_lists(300)
    frame.to_parquet(tmp_path / "t.parquet")
    text = frame.assign(**{c: frame[c].map(lambda v: "|".join(map(str, v))) for c in ("seen", "stars", "tags")})
    text.to_csv(tmp_path / "t.csv", index=False)
    parquet = build_dataset(_cfg(path=tmp_path / "t.parquet", **LISTS))
    csv = build_dataset(_cfg(source="csv", path=tmp_path / "t.csv", **LISTS))
    for name in ("train", "val", "test"):
        assert torch_equal(parquet.splits[name].lists, csv.splits[name].lists)
    spec = {f.name: f for f in parquet.features.lists}
    assert spec["history"].kind == "sequence" and spec["tags"].kind == "multi_hot"
    assert spec["history"].fields[0].shares == "item"
    # the last 4 events, right-aligned, ids in item's vocabulary
    table_rows = np.concatenate([parquet.splits[s].lists.numpy() for s in ("train", "val", "test")])
    offset = parquet.features.list_offset("history")
    assert set(table_rows[:, offset].tolist()) <= set(range(5))
    empty = table_rows[:, offset] == 0
    assert empty.any() and (table_rows[empty, offset + 1: offset + 9] == 0).all()  # an empty history: all padding
    full = table_rows[:, offset] == 4
    assert (table_rows[full, offset + 1: offset + 9] > 0).all()


def torch_equal(a, b) -> bool:
    return a.shape == b.shape and bool((a == b).all())


@pytest.mark.parametrize("change, expected", [
    (lambda f: f.assign(seen=1.5), "column 'seen' row 1: got '1.5', expected a list"),
    (lambda f: f.assign(stars=[[0.5]] * len(f)), "row 1: id '0.5' is not an integer or a string"),
    (lambda f: f.assign(stars=[[1] * 7] * len(f)), "a different number of events in 'stars' than in 'seen'"),
    (lambda f: f.assign(tags=[[]] * len(f)), "data.multi_hot.tags column 'tags' is empty in every row"),
    (lambda f: f.assign(seen=None, stars=None), "data.sequences.history.fields.seen_item column 'seen' is empty"),
])
def test_bad_list_columns_are_one_line_errors_naming_column_and_row(tmp_path, change, expected):
    change(_with_lists(50)).to_parquet(tmp_path / "t.parquet")
    with pytest.raises(UnirankError) as err:
        build_dataset(_cfg(path=tmp_path / "t.parquet", **LISTS))
    assert expected in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("sequence, field", [
    ("{max_len: 0, fields: {a: {column: seen}}}", "sequences.h.max_len"),
    ("{max_len: 3, fields: {}}", "sequences.h.fields"),
])
def test_list_config_errors_are_one_line_and_name_the_field(tmp_path, sequence, field):
    from unirank.config import load_config

    study = tmp_path / "s.yaml"
    study.write_text("name: s\ndata:\n  source: parquet\n  path: x.parquet\n  sparse: [item]\n"
                     f"  objectives: [event]\n  sequences:\n    h: {sequence}\n")
    with pytest.raises(UnirankError) as err:
        load_config(study)
    assert field in str(err.value) and "\n" not in str(err.value)


def test_streaming_preparation_fits_on_training_rows_only(tmp_path):
    # a split column decides which rows are training rows; "zzz" appears only outside them
    frame = pd.DataFrame({"item": ["a", "a", "b", "a", "b", "zzz", "c"], "price": [1.0, 3.0, 5.0, 3.0, 1000.0, 7.0, 2.0],
                          "event": ["click", "view", "click", "view", "click", "view", "click"],
                          "fold": ["tr", "tr", "tr", "tr", "va", "va", "te"]})
    frame.to_parquet(tmp_path / "t.parquet")
    cfg = _cfg(path=tmp_path / "t.parquet", min_count=1,
               split={"by": "column", "column": "fold", "values": {"train": "tr", "val": "va", "test": "te"}})
    dataset = build_dataset(cfg)
    assert dataset.state.vocab["item"] == ["a", "b"]  # by training count: a (3) before b (1); zzz, c unseen
    assert dataset.state.dense["price"].mean == pytest.approx(3.0) and not dataset.state.dense["price"].signed_log
    assert dataset.val.sparse[:, 0].tolist() == [2, 0]  # b, then zzz → OOV
    assert dataset.test.sparse[:, 0].tolist() == [0]
    assert dataset.train.labels[:, 0].tolist() == [1, 0, 1, 0]
    # min_count: b (once in training) becomes OOV too
    assert build_dataset(cfg.model_copy(update={"min_count": 2})).state.vocab["item"] == ["a"]


def test_a_given_state_is_applied_not_refitted(tmp_path):
    _frame(300).to_parquet(tmp_path / "a.parquet")
    _frame(200, seed=5).to_parquet(tmp_path / "b.parquet")
    fitted = build_dataset(_cfg(path=tmp_path / "a.parquet"))
    again = build_dataset(_cfg(path=tmp_path / "b.parquet"), state=fitted.state)
    assert again.state == fitted.state
    assert sum(len(s) for s in again.splits.values()) == 200


def test_the_prepared_column_files_are_shared_read_only_maps_equal_to_the_in_memory_build(tmp_path):
    from unirank.data.dataset import load_prepared, prepare_dataset

    _with_lists(400).to_parquet(tmp_path / "t.parquet")
    cfg = _cfg(path=tmp_path / "t.parquet", **LISTS)
    folder = prepare_dataset(cfg, tmp_path / "cache")
    loaded, built = load_prepared(folder), build_dataset(cfg)
    for name in ("train", "val", "test"):
        for key, value in built.splits[name].tensors().items():
            mapped = loaded.splits[name].tensors()[key]
            assert torch_equal(mapped, value) and mapped.dtype == value.dtype
    mapped_files = Path("/proc/self/maps").read_text()
    assert str(folder / "train.sparse.npy") in mapped_files  # the file's pages (shared), not a copy
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [folder.name]  # no staging folder left


def test_a_failed_preparation_leaves_nothing_behind(tmp_path):
    from unirank.data.dataset import prepare_dataset

    _frame(100).assign(price="x").to_parquet(tmp_path / "t.parquet")
    with pytest.raises(UnirankError, match="is not numeric"):
        prepare_dataset(_cfg(path=tmp_path / "t.parquet"), tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []

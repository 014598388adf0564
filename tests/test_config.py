from pathlib import Path

import pytest

from unirank.config import StudyConfig, apply_overrides, config_from_dict, load_config
from unirank.errors import UnirankError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["quickstart", "census"])
def test_shipped_studies_load(name):
    cfg = load_config(REPO / "studies" / f"{name}.yaml")
    assert isinstance(cfg, StudyConfig)
    assert cfg.name == name


def test_override_changes_nested_value_and_is_validated():
    cfg = load_config(REPO / "studies/quickstart.yaml", ["train.lr=0.01", "budget.trials=3"])
    assert cfg.train.lr == 0.01 and cfg.budget.trials == 3
    with pytest.raises(UnirankError, match=r"train\.lr"):
        load_config(REPO / "studies/quickstart.yaml", ["train.lr=fast"])


def test_unknown_key_names_the_field():
    with pytest.raises(UnirankError, match=r"train\.learning_rate: unknown key"):
        config_from_dict({"name": "x", "data": {"source": "synthetic"}, "train": {"learning_rate": 1}})


def test_wrong_type_names_field_and_value():
    with pytest.raises(UnirankError) as err:
        config_from_dict({"name": "x", "data": {"source": "synthetic"}, "budget": {"trials": "many"}})
    assert "budget.trials" in str(err.value) and "'many'" in str(err.value)
    assert "\n" not in str(err.value)


def test_unknown_data_source_is_reported():
    with pytest.raises(UnirankError, match="data"):
        config_from_dict({"name": "x", "data": {"source": "hdfs"}})


def test_range_must_be_ordered():
    with pytest.raises(UnirankError, match="space.num_layers"):
        config_from_dict({"name": "x", "data": {"source": "synthetic"},
                          "space": {"num_layers": {"low": 3, "high": 1}}})


def test_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(UnirankError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndata: [unclosed\n")
    with pytest.raises(UnirankError, match="line"):
        load_config(bad)


def test_override_syntax_error():
    with pytest.raises(UnirankError, match="key.path=value"):
        apply_overrides({}, ["novalue"])


def test_embedding_l2_is_a_training_value_and_a_searched_one():
    cfg = load_config(REPO / "studies/quickstart.yaml",
                      ["train.embedding_l2=1e-5", "space.train.embedding_l2=[0, 5e-5]"])
    assert cfg.train.embedding_l2 == 1e-5 and cfg.space.train.searched()["embedding_l2"] == (0, 5e-5)
    with pytest.raises(UnirankError, match=r"^.*train\.embedding_l2.*-1"):
        load_config(REPO / "studies/quickstart.yaml", ["train.embedding_l2=-1"])
    with pytest.raises(UnirankError, match=r"space\.train.*embedding_l2: -0\.1 is not a valid choice"):
        load_config(REPO / "studies/quickstart.yaml", ["space.train.embedding_l2=[0, -0.1]"])


def test_id_dropout_is_a_training_value_and_a_searched_one():
    cfg = load_config(REPO / "studies/quickstart.yaml", ["train.id_dropout=0.1", "space.train.id_dropout=[0, 0.2]"])
    assert cfg.train.id_dropout == 0.1 and cfg.space.train.searched()["id_dropout"] == (0, 0.2)
    with pytest.raises(UnirankError, match=r"train\.id_dropout"):
        load_config(REPO / "studies/quickstart.yaml", ["train.id_dropout=1"])
    with pytest.raises(UnirankError, match=r"space\.train.*id_dropout: 1\.0 is not a valid choice \(expected 0 ≤ p < 1\)"):
        load_config(REPO / "studies/quickstart.yaml", ["space.train.id_dropout=[0, 1.0]"])

"""Bad input ends in one clear line and a non-zero exit, never a traceback."""
import json

import pytest

from tests.conftest import run_cli

MINIMAL = "name: t\ndata:\n  source: synthetic\n  num_rows: 2000\n"


def _one_line_error(result, *needles):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr + result.stdout
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def _config(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text)
    return str(path)


def test_missing_config_file(tmp_path):
    _one_line_error(run_cli("search", str(tmp_path / "absent.yaml")), "config file not found", "absent.yaml")


def test_unknown_config_key(tmp_path):
    path = _config(tmp_path, MINIMAL + "budget:\n  trails: 3\n")
    _one_line_error(run_cli("search", path), "budget.trails", "unknown key")


def test_wrong_type(tmp_path):
    path = _config(tmp_path, MINIMAL + "train:\n  batch_size: big\n")
    _one_line_error(run_cli("search", path), "train.batch_size", "'big'")


def test_wrong_type_from_override(tmp_path):
    path = _config(tmp_path, MINIMAL)
    _one_line_error(run_cli("search", path, "--set", "budget.trials=-1"), "budget.trials")


def test_missing_data_file(tmp_path):
    path = _config(tmp_path, f"name: t\ndata:\n  source: census\n  path: {tmp_path}/nope.gz\n"
                             f"output:\n  dir: {tmp_path}/out\n")
    _one_line_error(run_cli("search", path), "data.path: file not found", "nope.gz")


def test_data_missing_a_declared_column(tmp_path):
    (tmp_path / "t.csv").write_text("x,dom,y\n1,a,0\n2,b,1\n")
    path = _config(tmp_path, f"name: t\ndata:\n  source: csv\n  path: {tmp_path}/t.csv\n  dense: [x, z]\n"
                             f"  domain: dom\n  objectives: [y]\noutput:\n  dir: {tmp_path}/out\n")
    _one_line_error(run_cli("search", path), "column 'z' declared in data.dense is missing")


def test_invalid_arch_json_in_bundle(tmp_path):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name in ("features.json", "model.safetensors", "train.json", "metrics.json", "MODEL_CARD.md", "model.pt2"):
        (bundle / name).write_text("{}")
    (bundle / "arch.json").write_text(json.dumps({"embedding": {"dim": -3}, "sharing": {"pattern": "shared_bottom",
                                                                                         "tower_width": 8}}))
    _one_line_error(run_cli("train", str(bundle)), "arch.json", "embedding.dim", "-3")


def test_incomplete_bundle(tmp_path):
    _one_line_error(run_cli("train", str(tmp_path)), "not a complete bundle", "arch.json")


def test_report_of_a_folder_without_study(tmp_path):
    _one_line_error(run_cli("report", str(tmp_path)), "study.json")


@pytest.mark.parametrize("args", [["search"], ["frobnicate"]])
def test_usage_errors(args):
    result = run_cli(*args)
    assert result.returncode == 2 and "Traceback" not in result.stderr

"""Bad-input fuzzing (hypothesis): generated malformed study configs, arch.json files and data
files each end in a one-line UnirankError or are accepted — never another exception.

Cases tried per run: configs 300, arch.json 300 (valid ones are also built into models), data
files 120, plus the fixed cases below; `pytest -s` prints the counts.
"""
import copy
import json
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from unirank.config import load_config
from unirank.data.dataset import build_dataset
from unirank.errors import UnirankError
from unirank.models.ranker import build_model
from unirank.space import PRESETS
from unirank.space.arch import ArchSpec

REPO = Path(__file__).resolve().parents[1]
QUICKSTART = yaml.safe_load((REPO / "studies" / "quickstart.yaml").read_text())
COUNTS = {"config": 0, "config_valid": 0, "arch": 0, "arch_valid": 0, "arch_built": 0, "data": 0, "data_valid": 0}
def fuzz(examples: int):
    return settings(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                    max_examples=examples, database=None)

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["mlp", "cross", "..", "/etc", "1e309", "-1", "[]"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                      max_leaves=8)


def _paths(tree, prefix=()):
    yield prefix
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(tree, list):
        for i, value in enumerate(tree):
            yield from _paths(value, prefix + (i,))


@st.composite
def mutated(draw, base):
    """``base`` with 1-4 mutations: a value replaced, a key deleted, an unknown key added."""
    tree = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace" or not isinstance(parent, dict):
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        else:
            parent[draw(st.text(min_size=1, max_size=10))] = draw(values)
    return tree


def _one_line(err: UnirankError) -> None:
    text = str(err)
    assert text.strip() and "\n" not in text.strip() and "Traceback" not in text, text


@fuzz(300)
@given(st.one_of(mutated(QUICKSTART), st.text(max_size=200)))
def test_generated_configs(tmp_path_factory, tree):
    path = tmp_path_factory.mktemp("cfg") / "study.yaml"
    path.write_text(tree if isinstance(tree, str) else yaml.safe_dump(tree, allow_unicode=True))
    COUNTS["config"] += 1
    try:
        load_config(path)
        COUNTS["config_valid"] += 1
    except UnirankError as err:
        _one_line(err)


@pytest.fixture(scope="module")
def features(tiny_dataset):
    return tiny_dataset.features


@fuzz(300)
@given(st.one_of(st.sampled_from(list(PRESETS)).flatmap(lambda name: mutated(PRESETS[name].to_dict())),
                 st.text(max_size=200)))
def test_generated_arch_json(features, tree):
    COUNTS["arch"] += 1
    text = tree if isinstance(tree, str) else json.dumps(tree)
    try:
        spec = ArchSpec.from_json(text)
    except UnirankError as err:
        _one_line(err)
        return
    COUNTS["arch_valid"] += 1
    if spec.embedding.dim * max([m.width or 1 for layer in spec.layers for m in layer.modules] or [1]) > 2**22:
        return  # valid but enormous: the budget (max_params) is what stops these
    try:
        build_model(spec, features)
        COUNTS["arch_built"] += 1
    except UnirankError as err:
        _one_line(err)


CORRUPTIONS = ["none", "delimiter", "missing_column", "non_numeric", "empty", "header_only", "bad_label",
               "lonely_domain", "garbage_cell", "all_missing_label", "duplicate_header"]


@st.composite
def data_files(draw):
    rows = draw(st.integers(0, 80))
    corruption = draw(st.sampled_from(CORRUPTIONS))
    header = ["d1", "d2", "s1", "dom", "y1", "y2"]
    lines = []
    for i in range(rows):
        lines.append([str(draw(st.floats(-1e6, 1e6, allow_nan=False))), str(i % 7), f"id{draw(st.integers(0, 30))}",
                      draw(st.sampled_from(["a", "b"])), str(i % 2), draw(st.sampled_from(["0", "1", ""]))])
    if corruption == "delimiter":
        return "\n".join(";".join(r) for r in [header, *lines]) + "\n"
    if corruption == "missing_column":
        drop = draw(st.integers(0, len(header) - 1))
        header, lines = [h for j, h in enumerate(header) if j != drop], [[c for j, c in enumerate(r) if j != drop]
                                                                          for r in lines]
    if corruption == "empty":
        return ""
    if corruption == "header_only":
        lines = []
    if lines and corruption in ("non_numeric", "bad_label", "garbage_cell", "lonely_domain"):
        row = draw(st.integers(0, len(lines) - 1))
        if corruption == "non_numeric":
            lines[row][0] = draw(st.sampled_from(["abc", "1,5", "--", "NaN?"]))
        elif corruption == "bad_label":
            lines[row][4] = draw(st.sampled_from(["2", "-1", "0.5", "yes"]))
        elif corruption == "lonely_domain":
            lines[row][3] = "z"
        else:
            lines[row][draw(st.integers(0, 5))] = draw(st.sampled_from(['"', "'", "\\", "é", "\x00", " ", "1e999"]))
    if corruption == "all_missing_label":
        for r in lines:
            r[5] = ""
    if corruption == "duplicate_header":
        header = header[:-1] + ["y1"]
    return "\n".join(",".join(r) for r in [header, *lines]) + "\n"


@fuzz(120)
@given(data_files())
def test_generated_data_files(tmp_path_factory, text):
    from unirank.config import CsvDataConfig

    path = tmp_path_factory.mktemp("data") / "table.csv"
    path.write_text(text)
    cfg = CsvDataConfig(source="csv", path=path, dense=("d1", "d2"), sparse=("s1",), domain="dom",
                        objectives=("y1", "y2"))
    COUNTS["data"] += 1
    try:
        dataset = build_dataset(cfg)
        COUNTS["data_valid"] += 1
        assert dataset.splits["train"].dense.shape[1] == 2
    except UnirankError as err:
        _one_line(err)


def test_huge_vocabulary_is_handled(tmp_path):
    """200k rows with 200k distinct ids: one table row per id seen min_count times (hash_buckets in
    the space caps tables); preprocessing stays linear."""
    from unirank.config import CsvDataConfig

    path = tmp_path / "wide.csv"
    n = 200_000
    path.write_text("x,id,dom,y\n" + "".join(f"{i % 13},u{i},{'ab'[i % 2]},{i % 2}\n" for i in range(n)))
    cfg = CsvDataConfig(source="csv", path=path, dense=("x",), sparse=("id",), domain="dom", objectives=("y",),
                        min_count=1)
    dataset = build_dataset(cfg)
    sizes = {f.name: f.vocab_size for f in dataset.features.sparse}
    assert sizes["id"] > 100_000


def test_fuzz_counts_are_reported():
    """Runs last in this module: prints how many generated cases were tried."""
    print(f"\nfuzzing: {COUNTS}")
    if COUNTS["config"]:
        assert COUNTS["config"] >= 300 and COUNTS["arch"] >= 300 and COUNTS["data"] >= 120

"""Safety: safe YAML, no pickles in bundles, weights loaded without code, writes stay in the
output folder, bad data never leaves a folder that breaks the next run."""
import ast
import pickletools
import zipfile
from pathlib import Path

import pytest
from safetensors.torch import load_file

from tests.conftest import REPO, TINY_DATA, run_cli
from unirank.config import StudyConfig, load_config
from unirank.errors import UnirankError
from unirank.export.bundle import export_arch_bundle
from unirank.space import PRESETS


def test_yaml_tags_that_run_code_are_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "study.yaml"
    path.write_text(f"name: t\ndata: !!python/object/apply:os.system ['touch {marker}']\n")
    with pytest.raises(UnirankError, match="not valid YAML"):
        load_config(path)
    assert not marker.exists()


CODE_OPCODES = {"GLOBAL", "STACK_GLOBAL", "REDUCE", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "BUILD", "EXT1",
                "EXT2", "EXT4"}


def _pickled_code(name: str, data: bytes) -> list[str]:
    """Opcodes that can import or call anything, in ``data`` or (recursively) the zip it is."""
    import io

    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return [hit for member in archive.namelist() for hit in _pickled_code(f"{name}:{member}",
                                                                                   archive.read(member))]
    if not (len(data) > 2 and data[0] == 0x80 and 2 <= data[1] <= 5):
        return []
    try:
        ops = [op.name for op, _, _ in pickletools.genops(data)]
    except Exception:  # not a pickle after all (raw tensor bytes that start like one)
        return []
    return [f"{name}: {op}" for op in ops if op in CODE_OPCODES]


def test_bundles_hold_no_pickled_code(tmp_path):
    cfg = StudyConfig.model_validate({"name": "s", "data": TINY_DATA.model_dump(mode="json"),
                                      "output": {"dir": str(tmp_path / "out")}})
    bundle = export_arch_bundle(PRESETS["dcnv2"], cfg, tmp_path / "bundle")
    files = [p for p in bundle.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"arch.json", "features.json", "model.safetensors", "model.pt2"}
    load_file(bundle / "model.safetensors")  # the safetensors format has no code path at all
    hits = [hit for path in files for hit in _pickled_code(path.name, path.read_bytes())]
    assert not hits, hits


def test_every_torch_load_is_weights_only():
    """Static check over the package: torch.load always with weights_only=True."""
    calls = []
    for source in (REPO / "unirank").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("torch.load", "load") and \
                    ast.unparse(node.func) == "torch.load":
                keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
                calls.append((source.name, keywords.get("weights_only")))
    assert calls and all(flag == "True" for _, flag in calls), calls


@pytest.mark.parametrize("key, value", [("name", "../escape"), ("name", ".."), ("name", "a/b"),
                                        ("search.study_name", "../../x")])
def test_names_that_would_become_paths_cannot_escape(tmp_path, key, value):
    path = tmp_path / "study.yaml"
    path.write_text("name: t\ndata: {source: synthetic, num_rows: 2000}\n")
    with pytest.raises(UnirankError, match=key.split(".")[-1]):
        load_config(path, [f"{key}={value}"])


def test_bad_data_leaves_nothing_that_breaks_the_next_run(tmp_path):
    table = tmp_path / "t.csv"
    table.write_text("x,id,dom,y\n" + "".join(f"{i % 5},u{i % 9},{'ab'[i % 2]},{'2' if i == 50 else i % 2}\n"
                                             for i in range(600)))
    config = tmp_path / "study.yaml"
    config.write_text(f"name: t\ndata: {{source: csv, path: {table}, dense: [x], sparse: [id], domain: dom, "
                      f"objectives: [y]}}\ntrain: {{max_epochs: 1}}\nsearch: {{presets: []}}\n"
                      f"budget: {{trials: 1}}\noutput: {{dir: {tmp_path / 'out'}}}\n")
    bad = run_cli("search", str(config), "--quiet")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "row 52" in bad.stderr
    table.write_text(table.read_text().replace(",2\n", ",1\n"))
    good = run_cli("search", str(config), "--quiet")
    assert good.returncode == 0, good.stderr[-2000:]
    assert Path(tmp_path / "out" / "study.db").is_file()

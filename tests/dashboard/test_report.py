"""The static report of a 30-trial study: self-contained (no network), with its figures' data."""
import json
import re
import sqlite3
from pathlib import Path

import optuna
from scipy.stats import spearmanr

from unirank.dashboard.png import find_browser
from tests.conftest import unirank_here


def plotly_figures(page: str) -> dict[str, list[dict]]:
    """div id → the traces passed to Plotly.newPlot in the page."""
    figures, decoder = {}, json.JSONDecoder()
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([\w-]+)",\s*', page):
        figures[match.group(1)], _ = decoder.raw_decode(page, match.end())
    return figures


def recorded_halves(study) -> tuple[list, float]:
    """The halves' NEs each trained trial recorded (repeats left out) and their Spearman ρ."""
    halves = [t.user_attrs["metrics"]["halves_ne"] for t in study.trials
              if t.state.name == "COMPLETE" and "same_as_trial" not in t.user_attrs]
    return halves, spearmanr(*zip(*halves)).statistic


def test_report_of_a_30_trial_study_is_offline_and_holds_its_figures(finished_30):
    result = unirank_here("report", str(finished_30))
    assert result.returncode == 0, result.stderr
    page = (finished_30 / "report.html").read_text()
    assert not re.search(r'<script[^>]+src=', page), "the report must not load scripts from anywhere"
    assert not re.search(r'<link[^>]+href="https?:', page)
    figures = plotly_figures(page)
    assert {"pareto", "history", "hypervolume", "importances"} <= set(figures)

    study = optuna.load_study(study_name="dash", storage=f"sqlite:///{finished_30}/study.db")
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert len(complete) == 30
    traces = {t["name"]: t for t in figures["pareto"]}
    assert len(traces["searched trials"]["x"]) == 27
    assert sorted(traces["presets"]["text"]) == ["dcnv2", "mmoe", "shared_bottom_mlp"]
    by_number = {t.number: t for t in complete}
    for number, x, y in zip(traces["searched trials"]["customdata"], traces["searched trials"]["x"],
                            traces["searched trials"]["y"]):
        assert abs(by_number[number].values[0] - y) < 1e-9 and abs(by_number[number].values[1] - x) < 1e-9
    assert len(figures["history"][0]["x"]) == 27
    importances = figures["importances"][0]
    assert importances["y"] and abs(sum(importances["x"]) - 1.0) < 1e-6  # Optuna normalises to 1
    assert set(importances["y"]) <= set().union(*(t.params for t in complete))
    # the agreement check over the trained candidates, read from what each trial recorded
    halves, rho = recorded_halves(study)
    assert f"validation's two halves rank the {len(halves)} trained candidates with Spearman ρ {rho:.2f}" in page
    if find_browser():
        assert (finished_30 / "report-pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_search_prints_its_agreement_check(finished_30_search):
    _, out, result = finished_30_search
    line = re.search(r"validation's two halves rank the (\d+) trained candidates with Spearman ρ (-?[\d.]+)",
                     result.stdout)
    assert line and int(line[1]) >= 27, result.stdout[-2000:]
    assert ("below 0.5" in result.stdout) == (float(line[2]) < 0.5)


def test_the_exported_card_carries_the_agreement_check(finished_30, tmp_path):
    result = unirank_here("export", str(finished_30), "--dest", str(tmp_path / "winner"))
    assert result.returncode == 0, result.stderr
    halves, rho = recorded_halves(optuna.load_study(study_name="dash", storage=f"sqlite:///{finished_30}/study.db"))
    recorded = json.loads((tmp_path / "winner" / "metrics.json").read_text())["validation_agreement"]
    assert recorded["candidates"] == len(halves) and abs(recorded["rho"] - rho) < 1e-9
    assert recorded["low"] == (rho < 0.5)
    card = (tmp_path / "winner" / "MODEL_CARD.md").read_text()
    assert f"rank the {len(halves)} trained candidates with Spearman ρ {rho:.2f}" in card
    assert card.count("**Warning:**") == (rho < 0.5)


def test_a_moved_output_folder_opens_its_own_study(finished_30, tmp_path):
    import shutil

    from unirank.search.study import open_study_from_dir

    moved = tmp_path / "elsewhere"
    shutil.copytree(finished_30, moved)
    copy = optuna.load_study(study_name="dash", storage=f"sqlite:///{moved}/study.db")
    copy.set_user_attr("only_in_the_copy", True)  # the copy must not read the original's file
    study, _ = open_study_from_dir(moved, read_only=True)
    assert study.user_attrs.get("only_in_the_copy") is True
    assert "only_in_the_copy" not in open_study_from_dir(finished_30)[0].user_attrs
    result = unirank_here("report", str(moved), "--no-png")
    assert result.returncode == 0, result.stderr
    assert (moved / "report.html").is_file()
    with sqlite3.connect(moved / "study.db") as db:  # as if written where the folder used to be
        rows = db.execute("SELECT trial_user_attribute_id, value_json FROM trial_user_attributes "
                          "WHERE key = 'weights'").fetchall()
        for row_id, value in rows:
            old = Path(json.loads(value))
            gone = tmp_path / "gone" / "trials" / old.parent.name / old.name
            db.execute("UPDATE trial_user_attributes SET value_json = ? WHERE trial_user_attribute_id = ?",
                       (json.dumps(str(gone)), row_id))
    result = unirank_here("export", str(moved))
    assert result.returncode == 0, result.stderr
    assert list((moved / "export").glob("trial-*/model.safetensors"))

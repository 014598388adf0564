"""Trial failures (out of memory, an exception inside a block) are recorded FAIL with their
reason, the study goes on, and the reason reaches the report and the dashboard."""
import json

import optuna

from tests.conftest import run_cli
from tests.search.test_engine import _study
from unirank.dashboard.app import trial_panel
from unirank.dashboard.figures import pareto_figure
from unirank.dashboard.source import open_source


def test_oom_and_block_exceptions_fail_the_trial_not_the_study(tmp_path, monkeypatch):
    config, out = _study(tmp_path, "faults")
    monkeypatch.setenv("UNIRANK_FAULT", "oom@00001,exception@00002")
    result = run_cli("search", str(config), "--quiet", "--set", "budget.trials=5", "--set", "search.presets=[]",
                     "--set", "search.sampler=random")
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(study_name="faults", storage=f"sqlite:///{out}/study.db").get_trials()
    by_number = {t.number: t for t in trials}
    assert by_number[1].state.name == "FAIL"
    assert by_number[1].user_attrs["fail_reason"].startswith("out of memory: CUDA out of memory")
    assert by_number[2].state.name == "FAIL"
    assert by_number[2].user_attrs["fail_reason"].startswith("RuntimeError during training: block ")
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) >= 3  # the others trained on

    source = open_source(str(out))
    snap = source.snapshot()
    failed = next(t for t in pareto_figure(snap.records, snap.others).data if t.name == "failed")
    assert any("out of memory" in text for text in failed.hovertext)
    panel = json.dumps([c.to_plotly_json() for c in trial_panel(snap.by_number()[2], source)], default=str)
    assert "reason: RuntimeError during training: block" in panel

    assert run_cli("report", str(out), "--no-png").returncode == 0
    page = (out / "report.html").read_text()
    assert "out of memory: CUDA out of memory" in page and "RuntimeError during training" in page

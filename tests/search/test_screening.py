"""Multi-fidelity search: the warm-up proxy screens a pool, the best are trained first, every
candidate's proxy score is in the study, and a resumed search does not screen again."""
import optuna

from tests.conftest import TINY_DATA, TINY_TRAIN, unirank_here
from tests.dashboard.test_report import plotly_figures
from tests.search.test_engine import _study
from unirank.config import StudyConfig
from unirank.search.screening import fit_to_clock, makespan, screen_candidates
from unirank.space.search_space import SearchSpace


def test_screened_search_trains_the_best_scored_candidates_first_then_gates_the_samplers(tmp_path):
    config, out = _study(tmp_path, "screen")
    args = ["search", str(config), "--quiet", "--set", "search.presets=[]", "--set", "budget.trials=4",
            "--set", "search.screen.pool=24", "--set", "search.screen.keep=0.125",
            "--set", "search.screen.warmup_fraction=0.3", "--set", "search.screen.gate=0.5"]
    first = unirank_here(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "screening: scored 24 candidates" in first.stdout
    study = optuna.load_study(study_name="screen", storage=f"sqlite:///{out}/study.db")
    trials = study.get_trials()
    pooled = [t for t in trials if "proxy_rank" in t.user_attrs]
    screened_out = [t for t in pooled if t.user_attrs.get("screened_out")]
    assert len(pooled) == 24 and len(screened_out) == 21 and all(t.state.name == "PRUNED" for t in screened_out)
    trained_dirs = {p.name for p in (out / "trials").iterdir()}
    gated = [t for t in trials if "search.screen.gate" in t.user_attrs.get("fail_reason", "")]
    assert not any(f"{t.number:05d}" in trained_dirs for t in screened_out + gated)
    trained = [t for t in trials if t.state.name == "COMPLETE" and "same_as_trial" not in t.user_attrs]
    assert len(trained) == 4
    queued = [t for t in trained if "queue_position" in t.user_attrs]
    assert sorted(t.user_attrs["proxy_rank"] for t in queued) == [1, 2, 3]  # the queue, trained first
    scores = sorted(t.user_attrs["proxy_score"] for t in pooled)
    assert min(t.user_attrs["proxy_score"] for t in queued) == scores[0]
    # the sampler's proposal after the queue passed the gate: scored within the pool's better half;
    # the ones it rejected are PRUNED with their score
    threshold = scores[11]
    sampled = [t for t in trained if "queue_position" not in t.user_attrs]
    assert len(sampled) == 1 and sampled[0].user_attrs["proxy_score"] <= threshold
    assert all(t.state.name == "PRUNED" and t.user_attrs["proxy_score"] > threshold for t in gated)
    assert study.user_attrs["screening"]["pool"] == 24 and study.user_attrs["screening"]["kept"] == 3

    again = unirank_here(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "screening:" not in again.stdout
    trials = optuna.load_study(study_name="screen", storage=f"sqlite:///{out}/study.db").get_trials()
    assert len([t for t in trials if "proxy_rank" in t.user_attrs]) == 24  # not screened again
    # the warmed supernet is not stored: a resumed search trains what the sampler proposes
    assert len([t for t in trials if "search.screen.gate" in t.user_attrs.get("fail_reason", "")]) == len(gated)
    assert len([t for t in trials if t.state.name == "COMPLETE" and "same_as_trial" not in t.user_attrs]) == 8

    assert unirank_here("report", str(out), "--no-png").returncode == 0
    page = (out / "report.html").read_text()
    proxy = plotly_figures(page)["proxy"][0]
    assert len(proxy["x"]) >= 3  # proxy score vs final NE of every trained candidate
    assert f"{21 + len(gated)} candidates were screened out by the warm-up proxy" in page


def test_the_queue_takes_the_best_that_fit_the_clock_and_trains_them_fastest_first():
    ranked = [("a", 0), ("b", 1), ("c", 2), ("d", 3), ("e", 4)]
    seconds = {"a": 50.0, "b": 200.0, "c": 60.0, "d": 30.0, "e": 10.0}
    assert fit_to_clock(ranked, seconds, 2, None, 3) == (ranked[:3], [])  # no clock: rank order
    queued, too_slow = fit_to_clock(ranked, seconds, 2, 100.0, 4)
    # two slots: {a} ends at 50; {a, b} at 200 > 100; {a, c} at 60; {d, a, c}: d 0-30, a 0-50, c 30-90
    assert [k for k, _ in queued] == ["d", "a", "c"] and [k for k, _ in too_slow] == ["b"]
    queued, too_slow = fit_to_clock(ranked, seconds, 1, 100.0, 4)
    # one slot: a 50; +b 250; +c 110; +d 80; e is not among the best 4
    assert [k for k, _ in queued] == ["d", "a"] and [k for k, _ in too_slow] == ["b", "c"]
    assert makespan([30.0, 50.0, 60.0], 2) == 90.0 and makespan([60.0, 50.0, 30.0], 2) == 80.0


def _screen_tiny(tiny_dataset, queue_share: float) -> optuna.Study:
    """Screen 8 candidates of the tiny synthetic data under a 30-minute clock."""
    cfg = StudyConfig.model_validate({
        "name": "share", "data": TINY_DATA.model_dump(), "train": TINY_TRAIN.model_dump(),
        "space": {"embedding_dim": [4, 8], "num_layers": {"low": 1, "high": 2}, "mlp_width": [16, 32]},
        "budget": {"max_wall_minutes": 30},
        "search": {"screen": {"pool": 8, "keep": 0.5, "warmup_fraction": 0.3, "workers": 1,
                              "queue_share": queue_share}}})
    study = optuna.create_study(directions=["minimize", "minimize"])
    screen_candidates(study, cfg, SearchSpace(cfg.space, tiny_dataset.features), tiny_dataset, log=lambda _: None)
    return study


def test_the_queue_fills_only_its_share_of_the_clock(tiny_dataset):
    # the whole 30 minutes: the best half of 8 tiny candidates all fit and are queued
    study = _screen_tiny(tiny_dataset, 1.0)
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == 4
    assert study.user_attrs["screening"]["kept"] == 4 and study.user_attrs["screening"]["too_slow"] == 0
    # 0.1% of 30 minutes (1.8 s) is shorter than any trial's start-up alone: nothing is queued, the
    # sampler has the time, and every candidate is in the study with its score and why it was left
    study = _screen_tiny(tiny_dataset, 0.001)
    assert not study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    pruned = study.get_trials(states=(optuna.trial.TrialState.PRUNED,))
    assert len(pruned) == 8 and all("proxy_score" in t.user_attrs for t in pruned)
    slow = [t for t in pruned if "search.screen.queue_share" in t.user_attrs["fail_reason"]]
    assert len(slow) == 4 and study.user_attrs["screening"]["too_slow"] == 4

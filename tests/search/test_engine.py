"""The search engine end to end: hard budgets, ASHA, objectives, searched training values (real
Ray, real storage). Kill-and-resume is tests/search/test_crash.py's (ten SIGKILLs, half of them
during a trial)."""
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from tests.conftest import REPO, run_cli, unirank_here
from tests.test_end_to_end import STUDY
from unirank.search.study import trial_records


def _study(tmp_path, name, **_):
    out = tmp_path / "out"
    config = tmp_path / f"{name}.yaml"
    config.write_text(STUDY.format(out=out).replace("name: e2e", f"name: {name}"))
    return config, out


def _trials(out, name):
    return optuna.load_study(study_name=name, storage=f"sqlite:///{out}/study.db").get_trials()


def _trained(trials):
    return [t for t in trials if t.state.name in ("COMPLETE", "PRUNED") and "preset" not in t.user_attrs
            and "same_as_trial" not in t.user_attrs and not t.user_attrs.get("infeasible")]


def test_over_budget_candidates_are_never_trained_and_reported_infeasible(tmp_path):
    config, out = _study(tmp_path, "budget")
    result = unirank_here("search", str(config), "--quiet", "--set", "budget.max_mflops=0.012",
                     "--set", "search.sampler=random", "--set", "budget.trials=3", "--set", "search.presets=[]")
    assert result.returncode == 0, result.stderr[-3000:]
    trials = _trials(out, "budget")
    infeasible = [t for t in trials if t.user_attrs.get("infeasible")]
    assert infeasible, "the budget should have rejected some candidates"
    trained_dirs = {p.name for p in (out / "trials").iterdir()}
    for t in infeasible:
        assert t.user_attrs["cost"]["mflops"] > 0.012 and t.constraints["max_mflops"] > 0
        assert "metrics" not in t.user_attrs and "weights" not in t.user_attrs
        assert f"{t.number:05d}" not in trained_dirs  # no training ever started for it
    for t in _trained(trials):
        assert t.user_attrs["cost"]["mflops"] <= 0.012
    assert unirank_here("report", str(out)).returncode == 0
    html = (out / "report.html").read_text()
    assert "INFEASIBLE" in html and "infeasible (not trained)" in html


def test_asha_prunes_only_before_the_last_epoch_and_survivors_and_presets_complete(tmp_path):
    config, out = _study(tmp_path, "asha")
    result = unirank_here("search", str(config), "--quiet", "--set", "search.scheduler=asha",
                     "--set", "search.asha_reduction_factor=2", "--set", "train.max_epochs=4",
                     "--set", "train.patience=10", "--set", "budget.trials=6",
                     "--set", "search.presets=[shared_bottom_mlp, mmoe]", "--set", "search.sampler=random")
    assert result.returncode == 0, result.stderr[-3000:]
    trials = _trials(out, "asha")
    trained = _trained(trials)
    assert len(trained) == 6
    pruned = [t for t in trained if t.state.name == "PRUNED"]
    assert pruned, "ASHA with reduction factor 2 should stop some of 6 trials"
    for t in pruned:  # stopped at a rung, so before the last epoch, with the curve it had
        assert "stopped early" in t.user_attrs["fail_reason"]
        assert 1 <= len(t.user_attrs["curve"]) < 4
    survivors = [t for t in trained if t.state.name == "COMPLETE"]
    assert survivors, "the trials that survive every rung must end COMPLETE"
    presets = {t.user_attrs["preset"]: t for t in trials if "preset" in t.user_attrs}
    assert set(presets) == {"shared_bottom_mlp", "mmoe"}
    for t in survivors + list(presets.values()):
        assert t.state.name == "COMPLETE"
        assert t.user_attrs["metrics"]["mean_ne"] == t.values[0]
        assert Path(t.user_attrs["weights"]).is_file()
        assert [e for e, _ in t.user_attrs["curve"]] == [1, 2, 3, 4]


def test_scalarized_without_a_target_takes_the_best_presets_mflops_and_says_so(tmp_path):
    config, out = _study(tmp_path, "scalar")
    result = unirank_here("search", str(config), "--quiet", "--set", "search.objective=scalarized",
                     "--set", "search.penalty_lambda=0.5", "--set", "budget.trials=3",
                     "--set", "search.presets=[shared_bottom_mlp, dcnv2]", "--set", "search.sampler=random")
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="scalar", storage=f"sqlite:///{out}/study.db")
    presets = [t for t in study.trials if "preset" in t.user_attrs]
    best = min(presets, key=lambda t: t.user_attrs["metrics"]["mean_ne"])
    target = study.user_attrs["target_mflops"]
    assert target == best.user_attrs["cost"]["mflops"]
    assert best.user_attrs["preset"] in study.user_attrs["target_mflops_source"]
    assert f"target {target:.4g} MFLOPs" in result.stdout
    for t in study.trials:
        if t.state.name == "COMPLETE" and not t.user_attrs.get("infeasible"):
            penalty = 0.5 * max(0.0, math.log(t.user_attrs["cost"]["mflops"] / target))
            assert t.values[0] == pytest.approx(t.user_attrs["metrics"]["mean_ne"] + penalty)
    assert any(t.user_attrs["cost"]["mflops"] > target for t in study.trials if t.state.name == "COMPLETE"), \
        "some candidate should be above the target, so the penalty is exercised"


def test_scalarized_without_a_target_or_presets_is_one_line_error(tmp_path):
    config, out = _study(tmp_path, "scalar2")
    result = run_cli("search", str(config), "--set", "search.objective=scalarized", "--set", "search.presets=[]")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "target_mflops" in result.stderr, result.stderr


def test_repeated_proposals_do_not_consume_the_budget(tmp_path):
    # A space of exactly 4 architectures (mlp or cross, tower 8 or 16): with 4 trials to train,
    # the sampler must repeat itself; repeats are answered from their twin and re-asked, so 4
    # distinct architectures are trained.
    config, out = _study(tmp_path, "repeat")
    fixed = ["embedding_dim=[4]", "hash_buckets=[null]", "domain_embedding=[false]", "dense_bottom=[[]]",
             "num_layers={low: 1, high: 1}", "parallel={low: 1, high: 1}", "modules=[mlp, cross]",
             "skip=[none]", "mlp_width=[16]", "cross_rank=[null]", "sharing=[shared_bottom]",
             "towers=[portfolio]", "tower_width=[8, 16]", "wide=[none]", "dropout=[0.0]"]
    result = unirank_here("search", str(config), "--quiet", "--set", "budget.trials=4", "--set", "search.presets=[]",
                     "--set", "train.max_epochs=1", *(x for f in fixed for x in ("--set", f"space.{f}")))
    assert result.returncode == 0, result.stderr[-3000:]
    trials = _trials(out, "repeat")
    trained = _trained(trials)
    archs = [json.dumps(t.user_attrs["arch"], sort_keys=True) for t in trained]
    assert len(trained) == 4 and len(set(archs)) == 4, archs
    for twin in (t for t in trials if "same_as_trial" in t.user_attrs):
        assert json.dumps(twin.user_attrs["arch"], sort_keys=True) in archs


def test_training_hyperparameters_are_searched_with_the_architecture(tmp_path):
    config, out = _study(tmp_path, "hp")
    study_sets = ["--set", "space.train.lr=[0.005, 0.02]", "--set", "space.train.batch_size=[256, 512]",
                  # wide enough for shared_bottom_mlp (dim 16, mlp 256 → 128, tower 32), not for dcnv2 (4 layers)
                  "--set", "space.embedding_dim=[8, 16]", "--set", "space.mlp_width=[16, 128, 256]",
                  "--set", "space.tower_width=[8, 32]",
                  "--set", "search.presets=[shared_bottom_mlp, dcnv2]", "--set", "search.sampler=random",
                  "--set", "train.max_epochs=1"]
    result = unirank_here("search", str(config), "--quiet", "--set", "budget.trials=3", *study_sets,
                          "--set", "search.confirm={top: 2, seeds: 1}")
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="hp", storage=f"sqlite:///{out}/study.db")
    preset = next(t for t in study.trials if t.user_attrs.get("preset") == "shared_bottom_mlp")
    assert "num_layers" in study.user_attrs["presets_outside_space"]["dcnv2"]
    assert "dcnv2" in result.stdout and "outside the search space" in result.stdout
    # the preset is an observation of the sampler, with the study's training values (lr 0.005, batch 256)
    assert preset.params["train_lr"] == 0.005 and preset.params["train_batch_size"] == 256
    assert preset.distributions["train_lr"].choices == (0.005, 0.02)
    searched = [t for t in _trained(study.trials)]
    assert len(searched) == 3
    for t in searched:
        assert t.user_attrs["train"] == {"lr": t.params["train_lr"], "batch_size": t.params["train_batch_size"]}
    chosen = searched[-1]
    exported = unirank_here("export", str(out), "--trial", str(chosen.number), "--dest", str(tmp_path / "bundle"))
    assert exported.returncode == 0, exported.stderr[-3000:]
    train = json.loads((tmp_path / "bundle" / "train.json").read_text())
    assert train["lr"] == chosen.params["train_lr"] and train["batch_size"] == chosen.params["train_batch_size"]

    # search.confirm: the best preset and the 2 best searched candidates at no more MFLOPs than it,
    # trained again from seed train.seed + 1 with their own training values; the winner by mean NE
    records = {r.number: r for r in trial_records(study)}
    best_preset = min((r for r in records.values() if r.preset), key=lambda r: r.mean_ne)
    eligible = sorted((r for r in records.values() if not r.preset and r.mflops <= best_preset.mflops),
                      key=lambda r: r.mean_ne)[:2]
    seed = json.loads((out / "study.json").read_text())["config"]["train"]["seed"]
    done = {key: value for key, value in study.user_attrs.items() if key.startswith("confirm:")}
    assert set(done) == {f"confirm:{r.number}:{seed + 1}" for r in [best_preset, *eligible]}, done
    for key, value in done.items():
        first = records[int(key.split(":")[1])]
        assert math.isfinite(value["mean_ne"]) and value["mean_ne"] != first.mean_ne  # another seed, another model
        trained = out / "trials" / f"confirm-{first.number:05d}-s{seed + 1}" / "model.safetensors"
        assert trained.is_file()
    means = {int(k.split(":")[1]): (v["mean_ne"] + records[int(k.split(":")[1])].mean_ne) / 2 for k, v in done.items()}
    winner = min(means, key=means.get)
    assert f"confirmed winner: {records[winner].label}" in result.stdout
    # a rerun has nothing left to confirm; export and report name the confirmed winner
    again = unirank_here("search", str(config), "--quiet", "--set", "budget.trials=0", *study_sets,
                         "--set", "search.confirm={top: 2, seeds: 1}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "confirmation:" not in again.stdout and f"confirmed winner: {records[winner].label}" in again.stdout
    exported = unirank_here("export", str(out), "--dest", str(tmp_path / "winner"))
    assert exported.returncode == 0, exported.stderr[-3000:]
    metrics = json.loads((tmp_path / "winner" / "metrics.json").read_text())
    assert metrics["provenance"]["trial"] == winner
    assert metrics["confirmation"]["mean_ne"] == pytest.approx(means[winner])
    assert "Confirmed over training seeds" in (tmp_path / "winner" / "MODEL_CARD.md").read_text()
    report = unirank_here("report", str(out), "--no-png")
    assert report.returncode == 0, report.stderr[-3000:]
    assert "Confirmed winner" in (out / "report.html").read_text()
    from unirank.dashboard.app import trial_panel
    from unirank.dashboard.source import open_source

    panel = str(trial_panel(records[winner], open_source(str(out))))
    assert f"confirmed over 2 trainings: mean validation NE {means[winner]:.4f}" in panel

    # Ctrl-C (SIGINT) while the confirmation trains: Ray Tune ends its run quietly; the search says it
    # was interrupted (exit status 130) and names no winner from the trainings it had, and a rerun
    # trains what is left
    more = ["--set", "budget.trials=0", *study_sets, "--set", "search.confirm={top: 2, seeds: 2}"]
    earlier = set((out / "ray_results").glob("*-confirm-*"))
    log, err = open(tmp_path / "interrupted.out", "w+"), open(tmp_path / "interrupted.err", "w+")
    process = subprocess.Popen([sys.executable, "-m", "unirank", "search", str(config), "--quiet", *more],
                               cwd=REPO, stdout=log, stderr=err, text=True)
    deadline = time.monotonic() + 240
    while process.poll() is None and time.monotonic() < deadline and not any(
            any(run.glob("_confirm_trial_*")) for run in set((out / "ray_results").glob("*-confirm-*")) - earlier):
        time.sleep(0.05)  # until a training of this confirmation has started
    assert process.poll() is None, "the confirmation ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    process.wait(timeout=300)
    stdout, stderr = (log.seek(0), log.read())[1], (err.seek(0), err.read())[1]
    assert process.returncode == 130, (stdout + stderr)[-3000:]
    assert "error: interrupted" in stderr and "confirmed winner" not in stdout
    finished = unirank_here("search", str(config), "--quiet", *more)
    assert finished.returncode == 0, finished.stderr[-3000:]
    study = optuna.load_study(study_name="hp", storage=f"sqlite:///{out}/study.db")
    done = {key for key in study.user_attrs if key.startswith("confirm:")}
    assert {f"confirm:{r.number}:{seed + 2}" for r in [best_preset, *eligible]} <= done, done
    assert "confirmed winner:" in finished.stdout

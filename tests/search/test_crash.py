"""Crash safety: SIGKILL `unirank search` 10 times — half at seeded random moments (preprocessing,
Ray start-up, trials, storage writes), half just after a trial is seen running, so that trials are
interrupted however fast this machine is — rerun after each, and check the study stays consistent: no finished trial lost
or changed, none duplicated, interrupted trials failed with a reason and retried, and at the end
exactly the budget trained and the report regenerates."""
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

import optuna

from tests.conftest import REPO, run_cli
from tests.search.test_engine import _study, _trained, _trials

KILLS = 10
TOTAL = 8


def _finished(trials) -> dict[int, tuple]:
    return {t.number: tuple(t.values) for t in trials if t.state.name == "COMPLETE"}


def _check_consistent(trials) -> None:
    assert len({t.number for t in trials}) == len(trials)
    presets = [t.user_attrs["preset"] for t in trials if t.state.name == "COMPLETE" and "preset" in t.user_attrs]
    assert len(presets) == len(set(presets)), f"a preset was recorded twice: {presets}"
    retries = [t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs]
    assert len(retries) == len(set(retries)), "an interrupted trial was retried twice"
    assert len(_trained(trials)) <= TOTAL


def test_ten_sigkills_lose_nothing(tmp_path):
    config, out = _study(tmp_path, "crash")
    args = [sys.executable, "-m", "unirank", "search", str(config), "--quiet",
            "--set", f"budget.total_trials={TOTAL}", "--set", "budget.trials=100", "--set", "train.max_epochs=2"]
    rng = random.Random(1234)
    finished: dict[int, tuple] = {}
    caught_running: set[int] = set()  # distinct trials a kill left RUNNING
    for kill in range(KILLS):
        if kill % 4 == 0:
            shutil.rmtree(out / "cache", ignore_errors=True)  # make this run preprocess again
        process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if kill % 2 == 0:  # first, so that a fast machine has not trained the whole budget already
            _wait_for_a_running_trial(out, process, timeout=90)
            time.sleep(rng.uniform(0.0, 0.5))
        else:
            time.sleep(rng.uniform(0.5, 10.0))
        process.send_signal(signal.SIGKILL)
        process.wait()
        if not (out / "study.db").is_file():
            continue
        trials = _trials(out, "crash") if _has_study(out) else []
        _check_consistent(trials)
        now = _finished(trials)
        assert all(now.get(n) == v for n, v in finished.items()), "a finished trial was lost or changed"
        finished = now
        caught_running |= {t.number for t in trials if t.state.name == "RUNNING"}

    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    trials = _trials(out, "crash")
    _check_consistent(trials)
    assert all(_finished(trials).get(n) == v for n, v in finished.items())
    assert len(_trained(trials)) == TOTAL
    assert not any(t.state.name == "RUNNING" for t in trials)
    failed = [t for t in trials if t.state.name == "FAIL"]
    assert all(t.user_attrs.get("fail_reason") == "interrupted" for t in failed)
    retried = {t.user_attrs["retry_of"] for t in trials if "retry_of" in t.user_attrs}
    for t in failed:
        if t.params and "retry_of" not in t.user_attrs:
            assert t.number in retried, f"interrupted trial {t.number} was not retried"
    print(f"crash test: {KILLS} kills, {len(caught_running)} trials caught running, {len(failed)} interrupted "
          f"trials failed, {len(retried)} retried, {len(_trained(trials))} trained at the end")
    assert caught_running, "no kill landed during a trial; the test exercised nothing"
    report = run_cli("report", str(out), "--no-png")
    assert report.returncode == 0, report.stderr


def _wait_for_a_running_trial(out, process, timeout: float) -> None:
    """Poll the study file (read-only) until a trial is RUNNING, the search ends, or ``timeout``."""
    deadline = time.time() + timeout
    while time.time() < deadline and process.poll() is None:
        try:
            with sqlite3.connect(f"file:{out}/study.db?mode=ro", uri=True, timeout=1) as db:
                if db.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING'").fetchone()[0]:
                    return
        except sqlite3.Error:  # not created yet, or its schema not written yet
            pass
        time.sleep(0.05)


def _has_study(out) -> bool:
    try:
        return any(s.study_name == "crash" for s in
                   optuna.get_all_study_summaries(storage=f"sqlite:///{out}/study.db"))
    except Exception:  # the schema itself may not be written yet
        return False


def test_a_second_search_on_the_same_sqlite_study_fails_loudly(tmp_path):
    config, out = _study(tmp_path, "twice")
    args = [sys.executable, "-m", "unirank", "search", str(config), "--quiet", "--set", "budget.trials=3"]
    first = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not (out / "study.db.lock").is_file():
            time.sleep(0.2)
        time.sleep(0.5)
        second = run_cli("search", str(config), "--quiet", "--set", "budget.trials=3")
        assert second.returncode == 2
        assert second.stderr.startswith(f"error: {out}/study.db: another `unirank search` (pid {first.pid}")
        assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.wait(timeout=300)
    assert first.returncode == 0, first.stderr.read()[-2000:]


def test_ctrl_c_ends_the_search_with_status_130_and_a_rerun_finishes_the_budget(tmp_path):
    """Ray Tune stops quietly on SIGINT; the search must not then look finished (exit status 0)."""
    config, out = _study(tmp_path, "ctrlc")
    args = [sys.executable, "-m", "unirank", "search", str(config), "--quiet", "--set", "budget.total_trials=4",
            "--set", "budget.trials=100", "--set", "train.max_epochs=2", "--set", "search.presets=[]"]
    process = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_a_running_trial(out, process, timeout=90)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=180)
    assert process.returncode == 130, err[-2000:]
    assert err.strip().splitlines()[-1] == "error: interrupted"
    trials = _trials(out, "ctrlc")
    assert not any(t.state.name == "RUNNING" for t in trials) and len(_trained(trials)) < 4
    assert any(t.user_attrs.get("fail_reason") == "stopped before finishing (budget or interrupt)" for t in trials)
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert len(_trained(_trials(out, "ctrlc"))) == 4

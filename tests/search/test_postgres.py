"""Two `unirank search` processes on one study in PostgreSQL: no lost or duplicated trials."""
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import optuna
import pytest

from tests.conftest import REPO
from tests.test_end_to_end import STUDY

PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(command: str) -> subprocess.CompletedProcess:
    if os.geteuid() == 0:  # the server refuses to run as root
        return subprocess.run(["su", "postgres", "-s", "/bin/sh", "-c", command], capture_output=True,
                              text=True, timeout=120)
    return subprocess.run(["sh", "-c", command], capture_output=True, text=True, timeout=120)


@pytest.fixture
def postgres_url(tmp_path):
    if not PG_BIN:
        pytest.skip("PostgreSQL server not installed (Debian package postgresql; `make test` installs it as root)")
    pytest.importorskip("psycopg", reason="psycopg not installed (pip install unirank[postgres])")
    if os.geteuid() == 0 and shutil.which("su") is None:
        pytest.skip("running as root without `su` to start the server as the postgres user")
    # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
    bin_dir, data = PG_BIN[-1], Path(tempfile.mkdtemp(prefix="unirank-pg-"))
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
    port = _free_port()
    init = _as_postgres(f"{bin_dir}/initdb -D {data} -A trust -U postgres")
    assert init.returncode == 0, init.stderr[-2000:]
    start = _as_postgres(f"{bin_dir}/pg_ctl -D {data} -w -o '-p {port} -k {data} -c listen_addresses=127.0.0.1' "
                         f"-l {data}/log start")
    assert start.returncode == 0, start.stderr[-2000:] + start.stdout[-2000:]
    try:
        created = _as_postgres(f"{bin_dir}/createdb -h 127.0.0.1 -p {port} -U postgres unirank")
        assert created.returncode == 0, created.stderr[-2000:]
        yield f"postgresql://postgres@127.0.0.1:{port}/unirank"
    finally:
        _as_postgres(f"{bin_dir}/pg_ctl -D {data} -m fast stop")
        shutil.rmtree(data, ignore_errors=True)


def _two_searches(postgres_url: str, tmp_path: Path, study: str, *sets: str, logs: list | None = None) -> list:
    """Two `unirank search` processes (seeds differ) on one PostgreSQL study at once → its trials
    (and each process's output appended to ``logs``)."""
    processes = []
    for worker in ("a", "b"):
        out = tmp_path / worker
        config = tmp_path / f"{worker}.yaml"
        config.write_text(STUDY.format(out=out).replace("name: e2e", f"name: {study}"))
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "unirank", "search", str(config), "--quiet", "--storage", postgres_url,
             *[x for v in sets for x in ("--set", v)], "--set", f"search.seed={ord(worker)}"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
        if logs is not None:
            logs.append(out)
    return optuna.load_study(study_name=study, storage=postgres_url).get_trials()


def test_two_concurrent_searches_share_one_postgres_study(postgres_url, tmp_path):
    trials = _two_searches(postgres_url, tmp_path, "shared", "budget.trials=3", "search.presets=[]")
    trained = [t for t in trials if "same_as_trial" not in t.user_attrs and not t.user_attrs.get("infeasible")]
    assert len(trained) == 6  # 3 + 3: nothing lost
    assert len({t.number for t in trials}) == len(trials)  # nothing duplicated
    assert all(t.state.name == "COMPLETE" for t in trained)


def test_concurrent_searches_train_each_preset_once(postgres_url, tmp_path):
    """Both processes list the same presets; each preset is trained by one of them (an advisory
    lock per study and preset), and both still train their own searched candidates."""
    trials = _two_searches(postgres_url, tmp_path, "presets", "budget.trials=1",
                           "search.presets=[shared_bottom_mlp,dcnv2]", "train.max_epochs=2")
    presets = sorted(t.user_attrs["preset"] for t in trials if "preset" in t.user_attrs)
    assert presets == ["dcnv2", "shared_bottom_mlp"]  # once each, not once per process
    searched = [t for t in trials if "preset" not in t.user_attrs and "same_as_trial" not in t.user_attrs
                and not t.user_attrs.get("infeasible")]
    assert len(searched) == 2 and all(t.state.name == "COMPLETE" for t in searched)


def test_concurrent_searches_take_one_scalarised_target_from_every_preset(postgres_url, tmp_path):
    """With a scalarised objective and no target set, each process holds its presets' results until
    the target is known; it must wait for the presets the other trains and take the best of all —
    not the best of its own (the process that trains the cheaper preset would end first)."""
    logs: list[str] = []
    trials = _two_searches(postgres_url, tmp_path, "target", "budget.trials=1", "search.max_concurrent=1",
                           "search.presets=[shared_bottom_mlp,dcnv2]", "search.objective=scalarized",
                           "train.max_epochs=2", logs=logs)
    presets = [t for t in trials if "preset" in t.user_attrs]
    assert sorted(t.user_attrs["preset"] for t in presets) == ["dcnv2", "shared_bottom_mlp"]
    best = min(presets, key=lambda t: t.user_attrs["metrics"]["mean_ne"])
    study = optuna.load_study(study_name="target", storage=postgres_url)
    assert study.user_attrs["target_mflops"] == pytest.approx(best.user_attrs["cost"]["mflops"])
    for out in logs:  # each process resolved the same target, naming the best preset
        line = next(x for x in out.splitlines() if x.startswith("scalarised objective: target"))
        assert f"preset {best.user_attrs['preset']} " in line, (line, best.user_attrs["preset"])

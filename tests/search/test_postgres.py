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


def _two_searches(postgres_url: str, tmp_path: Path, study: str, *sets: str) -> list:
    """Two `unirank search` processes (seeds differ) on one PostgreSQL study at once → its trials."""
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
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
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

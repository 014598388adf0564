"""`unirank search --address`: the same study on an existing Ray cluster of two nodes (loopback)."""
import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from tests.conftest import REPO, forget_ray
from tests.test_end_to_end import STUDY

RAY = Path(sys.executable).with_name("ray")
# A throwaway two-node cluster on loopback: token authentication off for it (a real cluster keeps
# Ray's token auth on and gives every node and driver the token).
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}


@pytest.fixture
def two_node_cluster(tmp_path):
    if not RAY.is_file():
        pytest.skip(f"no ray command next to {sys.executable}")
    port = "6391"
    forget_ray()  # the session's own runtime (tests.conftest.unirank_here) stopped: the cores serve the two nodes alone
    head = subprocess.run([str(RAY), "start", "--head", f"--port={port}", "--num-cpus=1",
                           "--include-dashboard=false", "--disable-usage-stats"],
                          capture_output=True, text=True, timeout=120, env=ENV)
    assert head.returncode == 0, head.stderr[-2000:]
    elsewhere = tmp_path / "worker-cwd"  # the worker node runs from another directory
    elsewhere.mkdir()
    worker = subprocess.run([str(RAY), "start", f"--address=127.0.0.1:{port}", "--num-cpus=1",
                             "--disable-usage-stats"], capture_output=True, text=True, timeout=120, env=ENV,
                            cwd=elsewhere)
    try:
        assert worker.returncode == 0, worker.stderr[-2000:]
        yield f"127.0.0.1:{port}"
    finally:
        stop_cluster(port)  # not `ray stop`, which ends every Ray process on the machine, a benchmark's too


def _stat(pid: int | str) -> list[str]:
    """The fields of /proc/PID/stat after the command's name: [state, parent pid, …]."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _processes() -> dict[int, tuple[int, bytes]]:
    """Every process: pid → (parent pid, command line)."""
    out = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit():
                out[int(proc.name)] = (int(_stat(proc.name)[1]), (proc / "cmdline").read_bytes())
        except (OSError, IndexError, ValueError):
            continue  # ended while read
    return out


def cluster_processes(port: str) -> dict[int, bytes]:
    """The processes of the cluster whose GCS listens on ``port``: those that name its session (GCS,
    raylets, monitors) and their descendants (Ray's workers and agents) — no other Ray on the machine."""
    procs = _processes()
    gcs = next((cmd for _, cmd in procs.values() if f"--gcs_server_port={port}".encode() in cmd.split(b"\0")), None)
    if gcs is None:
        return {}
    session = next(a for a in gcs.split(b"\0") if a.startswith(b"--session-name=")).split(b"=", 1)[1]
    members = {pid for pid, (_, cmd) in procs.items() if session in cmd}
    while True:
        more = {pid for pid, (parent, _) in procs.items() if parent in members} - members
        if not more:
            return {pid: procs[pid][1] for pid in members}
        members |= more


def stop_cluster(port: str) -> None:
    """End the processes of the cluster on ``port``, its GCS last: SIGTERM to the others, then to the
    GCS (signalled while its clients are up, it outlived 15 s; after them it ends at once), then
    SIGKILL to whatever still runs. Found once: with its GCS gone the cluster could not be found."""
    import signal
    import time

    procs = cluster_processes(port)
    gcs = [pid for pid, cmd in procs.items() if b"gcs_server" in cmd.split(b"\0")[0]]
    rest = [pid for pid in procs if pid not in gcs]
    steps = ((rest, signal.SIGTERM, 10.0), (gcs, signal.SIGTERM, 10.0), (list(procs), signal.SIGKILL, 5.0))
    for group, sig, wait in steps:
        for pid in filter(_running, group):  # an ended one's pid may be another process's by now
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while any(map(_running, group)) and time.monotonic() < deadline:
            time.sleep(0.1)
        if not any(map(_running, procs)):
            return


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not ended, not a zombie waiting for its parent)."""
    try:
        return _stat(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_study_runs_on_both_nodes_of_a_cluster_without_a_shared_disk(two_node_cluster, tmp_path):
    """With search.shared_disk: false the worker node never reads the driver's folders: the prepared
    data reaches it through Ray's object store and its trials' weights come back the same way."""
    import shutil
    import tempfile

    out = tmp_path / "out"
    config = tmp_path / "cluster.yaml"
    config.write_text(STUDY.format(out=out).replace("name: e2e", "name: cluster"))
    fetched = Path(tempfile.gettempdir()) / "unirank-data"  # where a worker node puts the data it is sent
    shutil.rmtree(fetched, ignore_errors=True)
    result = subprocess.run([sys.executable, "-m", "unirank", "search", str(config), "--quiet", "--address",
                             two_node_cluster, "--set", "budget.trials=6", "--set", "search.presets=[]",
                             "--set", "train.max_epochs=2", "--set", "search.shared_disk=false"],
                            cwd=REPO, capture_output=True, text=True, timeout=600, env=ENV)
    assert result.returncode == 0, result.stderr[-3000:]
    trials = optuna.load_study(study_name="cluster", storage=f"sqlite:///{out}/study.db").get_trials()
    done = [t for t in trials if t.state.name == "COMPLETE"]
    nodes = {t.user_attrs.get("node") for t in done if "node" in t.user_attrs}
    assert len(nodes) == 2, f"trials ran on {len(nodes)} node(s)"
    assert all(Path(t.user_attrs["weights"]).is_file() for t in done)  # written by the driver
    cache = next((out / "cache").iterdir()).name
    assert (fetched / cache / "train.sparse.npy").is_file()  # the worker node got the data from the object store
    exported = subprocess.run([sys.executable, "-m", "unirank", "export", str(out), "--trial", str(done[-1].number)],
                              cwd=REPO, capture_output=True, text=True, timeout=300, env=ENV)
    assert exported.returncode == 0, exported.stderr[-2000:]
    # without --address a search starts its own local Ray, even with a `ray start` cluster running here
    alone = tmp_path / "alone"
    local = subprocess.run([sys.executable, "-m", "unirank", "search", str(config), "--quiet", "--set",
                            f"output.dir={alone}", "--set", "budget.trials=1", "--set", "search.presets=[]",
                            "--set", "train.max_epochs=1"], cwd=REPO, capture_output=True, text=True, timeout=300, env=ENV)
    assert local.returncode == 0, local.stderr[-2000:]
    trial = next(t for t in optuna.load_study(study_name="cluster", storage=f"sqlite:///{alone}/study.db").get_trials()
                 if t.state.name == "COMPLETE")
    assert trial.user_attrs["node"] not in nodes


def _worker_raylet(port: str) -> int | None:
    """The pid of the worker node's raylet in the cluster on ``port`` (the one started without --head)."""
    for pid, cmd in cluster_processes(port).items():
        args = cmd.split(b"\0")
        if args[0].endswith(b"raylet/raylet") and b"--head" not in args:
            return pid
    return None


def _training(result: Path) -> bool:
    """A trial that has reported an epoch and not yet its final result."""
    lines = result.read_text().strip().splitlines()
    return bool(lines) and '"final": true' not in lines[-1]


def _reports(out: Path) -> list[int]:
    """How many results each trial has reported, as ray_results shows it (to explain a failure)."""
    return sorted(len(f.read_text().strip().splitlines()) for f in (out / "ray_results").rglob("result.json"))


def test_a_worker_node_dying_mid_trial_costs_one_retry_and_no_budget(two_node_cluster, tmp_path):
    """Two trials train (one per node, each has reported an epoch); the worker node's raylet is
    killed; its trial is restarted on the surviving node (search.trial_retries) and the study ends
    with its full budget, nothing failed."""
    import signal
    import time

    out = tmp_path / "out"
    config = tmp_path / "cluster.yaml"
    config.write_text(STUDY.format(out=out).replace("name: e2e", "name: dying"))
    # Ray Tune writes result.json in the driver's staging folder and copies it to ray_results every
    # 10 s or more: a view that old can show a trial training that has ended, so the kill finds the
    # worker node idle. Copied every second instead, the view lags the trials by about an epoch.
    search = subprocess.Popen([sys.executable, "-m", "unirank", "search", str(config), "--quiet", "--address",
                               two_node_cluster, "--set", "budget.trials=3", "--set", "search.presets=[]",
                               "--set", "train.max_epochs=6", "--set", "train.patience=6", "--set", "data.num_rows=120000"],
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={**ENV, "TUNE_GLOBAL_CHECKPOINT_S": "1"})
    deadline, training = time.time() + 300, 0
    while time.time() < deadline and search.poll() is None and training < 2:
        time.sleep(0.1)
        training = sum(_training(f) for f in (out / "ray_results").rglob("result.json")) \
            if (out / "ray_results").is_dir() else 0
    assert training == 2, "never saw two trials training at once (one per node: a CPU each)"
    raylet = _worker_raylet(two_node_cluster.rsplit(":", 1)[1])
    assert raylet is not None, "no raylet of a worker node among the processes"
    at_kill = _reports(out)
    os.kill(raylet, signal.SIGKILL)
    _, err = search.communicate(timeout=600)
    assert search.returncode == 0, err[-3000:]
    trials = optuna.load_study(study_name="dying", storage=f"sqlite:///{out}/study.db").get_trials()
    assert list((out / "ray_results").rglob("error.txt")), (  # Ray's record of it
        f"no trial died with the node (results per trial when it was killed: {at_kill}, at the end: "
        f"{_reports(out)}; trials' nodes: {[str(t.user_attrs.get('node'))[:8] for t in trials]})")
    assert [t.state.name for t in trials].count("COMPLETE") == 3  # the full budget (with retries 0: a FAIL)
    assert not [t for t in trials if t.state.name == "FAIL"]
    assert len({t.user_attrs["node"] for t in trials}) == 1  # all finished on the surviving node
    assert all(Path(t.user_attrs["weights"]).is_file() for t in trials)

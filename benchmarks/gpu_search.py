"""A Criteo-shaped search on one GPU machine: trials per hour and GPU utilisation with 1, 2 and 4
trials per GPU, against the same search on that machine's CPUs.

    python benchmarks/gpu_search.py [--rows 1000000] [--trials 16] [--per-gpu 1 2 4] [--cpu-trials 4]

Each configuration runs ``unirank search`` (a fresh process, local Ray) on the same study: the
built-in Criteo-shaped synthetic data (13 dense, 26 sparse features), the quickstart's space without
presets, TPE seeded, ``--trials`` candidates, each trained for ``train.max_epochs`` with early
stopping. GPU runs ask ``search.gpus_per_trial = 1 / k`` for k trials per GPU (2 CPUs each); the
CPU run gives each trial 4 CPUs (4 at once on 16 cores) and, to fit the time limit, trains only
the first ``--cpu-trials`` candidates — the same ones the GPU runs start with (same sampler seed).
Reported: trials per hour over the span from the first trial's start to the last one's end (data
preparation excluded), each trial's median seconds, the GPU's mean utilisation over that span
(``nvidia-smi``, every 0.5 s), and the per-trial speed-up against the CPU run on the candidates both
trained. Writes the ``gpu_search`` section of BENCHMARKS.md (and ``--copy`` a copy of it).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, write_section  # noqa: E402

STUDY = """name: gpu_search_{tag}
data: {{source: synthetic, layout: criteo, num_rows: {rows}, vocab_size: 100000, seed: 0,
       split: {{val_fraction: 0.05, test_fraction: 0.05}}}}
space:
  embedding_dim: [8, 16]
  num_layers: {{low: 1, high: 3}}
  modules: [mlp, cross, dot, fm, attention]
  parallel: {{low: 1, high: 2}}
  skip: [none, concat, residual]
  mlp_width: [64, 128, 256]
  cross_rank: [null, 16]
  attention_heads: [1, 2]
  sharing: [shared_bottom]
train: {{batch_size: 4096, lr: 0.001, max_epochs: 2, patience: 1, seed: 0, device: {device}}}
search: {{sampler: tpe, seed: 0, presets: [], cpus_per_trial: {cpus}, gpus_per_trial: {gpus}}}
budget: {{trials: {trials}}}
output: {{dir: {out}}}
"""


class GpuSampler(threading.Thread):
    """``nvidia-smi`` utilisation (%) every 0.5 s, with the time of each reading."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.readings: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits"],
                                 capture_output=True, text=True).stdout.split()
            if out:
                self.readings.append((time.time(), statistics.mean(float(x) for x in out)))
            time.sleep(0.5)


def _search(tag: str, rows: int, trials: int, device: str, cpus: float, gpus: float, reuse: bool) -> dict:
    import optuna

    out = REPO / "runs" / "benchmarks" / "gpu_search" / tag
    saved = out / "result.json"
    if reuse and saved.is_file():  # measured by an earlier call of this script (--stage)
        result = json.loads(saved.read_text())
        if (result["rows"], result["asked"]) == (rows, trials):
            for key in ("seconds", "train_seconds"):
                result[key] = {int(k): v for k, v in result[key].items()}
            return result
    subprocess.run(["rm", "-rf", str(out)], check=True)
    out.mkdir(parents=True)
    study = out / "study.yaml"
    study.write_text(STUDY.format(tag=tag, rows=rows, trials=trials, device=device, cpus=cpus, gpus=gpus, out=out))
    sampler = GpuSampler() if device == "cuda" else None
    if sampler:
        sampler.start()
    done = subprocess.run([sys.executable, "-m", "unirank", "search", str(study), "--quiet"],
                          capture_output=True, text=True, cwd=REPO)
    if sampler:
        sampler.stop.set()
        sampler.join()
    if done.returncode != 0:
        sys.exit(f"error: search {tag} failed: {(done.stderr or done.stdout).strip()[-1500:]}")
    loaded = optuna.load_study(study_name=f"gpu_search_{tag}", storage=f"sqlite:///{out / 'study.db'}")
    finished = [t for t in loaded.trials if t.state == optuna.trial.TrialState.COMPLETE]
    begin = min(t.datetime_start for t in finished).timestamp()
    end = max(t.datetime_complete for t in finished).timestamp()
    seconds = {t.number: (t.datetime_complete - t.datetime_start).total_seconds() for t in finished}
    devices = sorted({str(t.user_attrs["device"]) for t in finished if t.user_attrs.get("device")})  # trained ones
    util = [u for when, u in (sampler.readings if sampler else []) if begin <= when <= end]
    result = {"tag": tag, "rows": rows, "asked": trials, "trials": len(finished), "hours": (end - begin) / 3600,
              "seconds": seconds, "train_seconds": {t.number: t.user_attrs.get("train_seconds") for t in finished},
              "util": statistics.mean(util) if util else None, "devices": devices,
              "best_ne": min(t.values[0] for t in finished)}
    saved.write_text(json.dumps(result))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trials", type=int, default=16)
    parser.add_argument("--per-gpu", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--cpu-trials", type=int, default=4)
    parser.add_argument("--copy", type=Path, help="also write the section's text to this file")
    parser.add_argument("--stage", choices=["gpu", "cpu", "all"], default="all",
                        help="run only the GPU or the CPU searches (to fit a command's time limit)")
    parser.add_argument("--fresh", action="store_true",
                        help="rerun searches whose results an earlier call saved (same rows and trials)")
    args = parser.parse_args()
    runs = []
    for k in args.per_gpu if args.stage != "cpu" else []:
        runs.append(_search(f"gpu{k}", args.rows, args.trials, "cuda", 2, round(1 / k, 4), not args.fresh))
        print(f"{k} per GPU: {runs[-1]['trials'] / runs[-1]['hours']:.0f} trials/h, util {runs[-1]['util']}", flush=True)
    if args.stage == "gpu":
        return
    cpu = _search("cpu", args.rows, args.cpu_trials, "cpu", 4, 0, not args.fresh)
    print(f"CPU: {cpu['trials'] / cpu['hours']:.0f} trials/h", flush=True)
    if args.stage == "cpu":
        return
    lines = ["| trials at once | trials | trials per hour | median s per trial (training alone) | GPU utilisation | "
             "per-trial speed-up vs CPU, same candidates: trial (training) | device recorded |",
             "|---|---|---|---|---|---|---|"]

    def ratio(run: dict, key: str) -> float:
        both = [n for n in cpu[key] if n in run[key] and run[key][n] and cpu[key][n]]
        return statistics.median(cpu[key][n] / run[key][n] for n in both) if both else float("nan")

    for k, run in zip(args.per_gpu, runs):
        both = len(set(run["seconds"]) & set(cpu["seconds"]))
        lines.append(f"| {k} per GPU | {run['trials']} | {run['trials'] / run['hours']:,.0f} | "
                     f"{statistics.median(run['seconds'].values()):.1f} "
                     f"({statistics.median(v for v in run['train_seconds'].values() if v):.1f}) | {run['util']:.0f}% | "
                     f"**{ratio(run, 'seconds'):.1f}×** ({ratio(run, 'train_seconds'):.1f}×), {both} candidates | "
                     f"{', '.join(run['devices'])} |")
    lines.append(f"| CPU, 4 cores per trial | {cpu['trials']} | {cpu['trials'] / cpu['hours']:,.0f} | "
                 f"{statistics.median(cpu['seconds'].values()):.1f} "
                 f"({statistics.median(v for v in cpu['train_seconds'].values() if v):.1f}) | – | 1.0× | "
                 f"{', '.join(cpu['devices'])} |")
    body = "\n".join([
        "## Search on one GPU machine: trials per hour with 1, 2 and 4 trials per GPU, against its CPUs",
        "",
        f"`python benchmarks/gpu_search.py --rows {args.rows} --trials {args.trials} --cpu-trials {args.cpu_trials}` "
        f"(protocol in its docstring): Criteo-shaped synthetic data, {args.rows:,} rows; TPE, seed 0, no presets; "
        "2 epochs at most per candidate, batch 4096, bf16 on the GPU.",
        "",
        *lines,
        "",
        "- the speed-up column compares each candidate's training time on the GPU with the same candidate's "
        "on 4 CPU cores (the CPU run trains the first candidates only)",
    ])
    block = write_section("gpu_search", body)
    if args.copy:  # the block as written, with the machine it ran on: for a BENCHMARKS.md elsewhere
        args.copy.write_text(block + "\n")


if __name__ == "__main__":
    main()

"""Is the best tuned preset a local optimum of the space? Every one-decision neighbour, trained.

    python benchmarks/preset_neighbourhood.py --data synthetic [--tuned-from s9] [--seeds 5]
        [--workers 16] [--device cpu|cuda] [--max 48]

Per dataset and seed s, the centre is the best tuned preset of ``search_vs_presets`` run
``--tuned-from`` (its architecture and the training values its tuning chose for seed s). Its
neighbours are the points of the study's space (``studies/<study>.yaml`` with that benchmark's
``TRAIN_SPACES["basic"]``) that differ from the centre in exactly one decision — a categorical parameter set
to another choice, an integer one stepped by ±1, a training value changed; parameters a change
brings into existence drawn at random (seeded), those it removes dropped — at no more MFLOPs than
the centre (iso-FLOPs, the search's acceptance). At most ``--max`` of them (a seeded sample when
there are more) are trained with seed s, the centre again beside them; the neighbour with the best
validation NE is the local search's winner, and only then is the test split read.

Verdicts as in ``search_vs_presets``: the winner beats the centre in a seed when its test NE is
lower by more than the seeds' std (the larger of winners' and centres'), and likewise pooled test
AUC (higher). Resumable: each training's figures are kept under
runs/benchmarks/preset_neighbourhood/<tag>/ and skipped when rerun.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, train_and_test, worker_pool, write_section  # noqa: E402
from benchmarks.search_vs_presets import DATA, RUNS, _config  # noqa: E402

ROOT = REPO / "runs" / "benchmarks" / "preset_neighbourhood"


def _centre(data: str, tuned_from: str, seed: int) -> dict:
    """The best tuned preset of seed ``seed`` (lowest validation NE among the tuned presets)."""
    folder = RUNS / tuned_from / data / "tuned"
    runs = [json.loads(p.read_text()) for p in folder.glob(f"*-{seed}.json")]
    if not runs:
        sys.exit(f"error: --tuned-from {tuned_from}: no tuned presets of seed {seed} in {folder}")
    return min(runs, key=lambda r: r["ne"])


def one_step(space, arch, train: dict, seed: int) -> list[tuple]:
    """Every distinct (arch, train, change) one decision away from (arch, train) in ``space``."""
    from unirank.search.local import neighbours

    params, dists = space.point(arch)
    train_params, train_dists = space.train_point(train)
    key = lambda a, t: json.dumps([a.to_dict(), t], sort_keys=True)  # noqa: E731
    seen, out = {key(arch, train)}, []
    for _, a, searched, _, change in neighbours(space, {**params, **train_params}, {**dists, **train_dists}, salt=seed):
        t = {**train, **searched}
        if key(a, t) not in seen:
            seen.add(key(a, t))
            out.append((a, t, change))
    return out


def _train(job: tuple) -> dict:
    """One training (kept in ``dest``; a rerun reads it)."""
    data, arch_dict, train, seed, device, dest = job
    if Path(dest).is_file():
        return json.loads(Path(dest).read_text())
    import torch

    from unirank.space.arch import ArchSpec

    torch.set_num_threads(1)
    result = train_and_test(_config(data), ArchSpec.from_dict(arch_dict), ROOT / "cache" / data, seed,
                            **train, device=device)
    Path(dest).write_text(json.dumps(result))
    return result


def run(data: str, args, root: Path) -> str:
    from unirank.data.dataset import prepare_dataset
    from unirank.data.preprocess import PreprocessState
    from unirank.proxies.cost import measure_cost
    from unirank.space import PRESETS
    from unirank.space.search_space import SearchSpace

    cfg = _config(data)
    cache = prepare_dataset(cfg.data, ROOT / "cache" / data)
    features = PreprocessState.model_validate_json((cache / "preprocess.json").read_text()).feature_spec()
    space = SearchSpace(cfg.space, features)
    jobs, plans = [], {}
    for s in range(args.seeds):
        centre = _centre(data, args.tuned_from, s)
        arch, cap = PRESETS[centre["preset"]], measure_cost(PRESETS[centre["preset"]], features).mflops
        near = [n for n in one_step(space, arch, centre["train"], s) if measure_cost(n[0], features).mflops <= cap]
        total = len(near)
        if len(near) > args.max:
            near = random.Random(s).sample(near, args.max)
        folder = root / data / f"seed-{s}"
        folder.mkdir(parents=True, exist_ok=True)
        plans[s] = (centre, total, [(change, str(folder / f"{i}.json")) for i, (_, _, change) in enumerate(near)])
        jobs.append((data, arch.to_dict(), centre["train"], s, args.device, str(folder / "centre.json")))
        jobs += [(data, a.to_dict(), t, s, args.device, str(folder / f"{i}.json")) for i, (a, t, _) in enumerate(near)]
    print(f"[{data}] {len(jobs)} trainings ({args.workers} at once) …", flush=True)
    started = time.perf_counter()
    with worker_pool(args.workers) as pool:
        for done, _ in enumerate(pool.map(_train, jobs), 1):
            if done % 10 == 0 or done == len(jobs):
                print(f"[{data}] {done}/{len(jobs)} trainings, {time.perf_counter() - started:.0f} s", flush=True)
    centres, winners, better = {}, {}, {}
    for s, (centre, total, planned) in plans.items():
        centres[s] = json.loads((root / data / f"seed-{s}" / "centre.json").read_text())
        tried = [(change, json.loads(Path(dest).read_text())) for change, dest in planned]
        better[s] = sum(r["val_ne"] < centres[s]["val_ne"] for _, r in tried)
        winners[s] = min(tried, key=lambda x: x[1]["val_ne"])
    spread_ne = max(statistics.stdev([c["test_ne"] for c in centres.values()]),
                    statistics.stdev([w[1]["test_ne"] for w in winners.values()]))
    spread_auc = max(statistics.stdev([c["test_auc"] for c in centres.values()]),
                     statistics.stdev([w[1]["test_auc"] for w in winners.values()]))
    rows, wins_ne, wins_auc = [], 0, 0
    for s, (centre, total, planned) in plans.items():
        c, (change, w) = centres[s], winners[s]
        beat_ne, beat_auc = c["test_ne"] - w["test_ne"] > spread_ne, w["test_auc"] - c["test_auc"] > spread_auc
        wins_ne, wins_auc = wins_ne + beat_ne, wins_auc + beat_auc
        rows.append(f"| {s} | {centre['preset']} ({centre['train']}) | {c['val_ne']:.4f} | {c['test_ne']:.4f} | "
                    f"{c['test_auc']:.4f} | {c['mflops']:.4f} | {len(planned)} of {total} | {better[s]} | {change} | "
                    f"{w['val_ne']:.4f} | {w['test_ne']:.4f} | {w['test_auc']:.4f} | {w['mflops']:.4f} | "
                    f"{'yes' if beat_ne else 'no'} / {'yes' if beat_auc else 'no'} |")
    diffs = [winners[s][1]["test_ne"] - centres[s]["test_ne"] for s in plans]
    head = ("| seed | centre: best tuned preset (training values) | val NE | test NE | test pooled AUC | MFLOPs | "
            "neighbours trained (of those ≤ its MFLOPs) | better on val | best neighbour: the change | val NE | "
            "test NE | test pooled AUC | MFLOPs | beats: test NE / AUC |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    summary = (f"- the best neighbour's test NE is lower than the centre's (any margin) in {sum(d < 0 for d in diffs)} "
               f"of {len(diffs)} seeds; paired test-NE difference {statistics.mean(diffs):+.4f} ± "
               f"{statistics.stdev(diffs):.4f}\n"
               f"- the best neighbour beats the centre by more than the seeds' std (test NE {spread_ne:.4f}, test AUC "
               f"{spread_auc:.4f}) at no more MFLOPs: test NE in {wins_ne} of {len(diffs)} seeds, pooled test AUC in "
               f"{wins_auc} of {len(diffs)}\n"
               f"- trainings on {args.device}{' (the study precision auto: bf16 there)' if args.device.startswith('cuda') else ''}, "
               f"{args.workers} at once, {time.perf_counter() - started:.0f} s in all "
               f"this run (trainings kept from an earlier run are not retrained)")
    return f"### {data}\n\n{head}\n" + "\n".join(rows) + "\n\n" + summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tuned-from", default="s9", help="the search_vs_presets run whose tuned presets are the centres")
    parser.add_argument("--max", type=int, default=48, help="neighbours trained per seed at most")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--tag", help="the run's folder; default: --tuned-from")
    args = parser.parse_args()
    root = ROOT / (args.tag or args.tuned_from)
    parts = ["## Around the best tuned preset: its one-decision neighbours\n",
             "`python benchmarks/preset_neighbourhood.py` (protocol in its docstring): per seed, every neighbour of "
             "the best tuned preset at no more MFLOPs, trained once; the winner is the best on validation."]
    for data in args.data:
        section = run(data, args, root)
        print(section, flush=True)
        parts.append(section)
        write_section("preset_neighbourhood" + "".join(f"_{d}" for d in args.data if set(args.data) != set(DATA)),
                      "\n\n".join(parts))


if __name__ == "__main__":
    main()

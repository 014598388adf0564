"""Do behaviour sequences help, and which encoder? Flat presets against the sequence presets.

    python benchmarks/sequences.py [--data movielens synthetic] [--seeds 3] [--workers 2]
        [--device cpu]

Per dataset, every preset of ``--flat`` and ``--sequence`` is trained with the study's training
protocol (``studies/<study>.yaml``: data, split, train section; early stopping on validation) for
each training seed, then evaluated once on the test split, which nothing else reads:
- ``movielens``: ``studies/movielens_history.yaml`` — MovieLens-100K split by time (70/15/15),
  each rating with the user's last 50 strictly earlier ratings and the movie's genres;
- ``synthetic``: ``studies/quickstart.yaml``'s data (150,000 rows) with a 20-event history and its
  planted target-attention effect (``history_length: 20``; see ``unirank.data.synthetic``).
The flat presets see the same data (multi-hot genres included) but no history. "Best" is chosen
by mean validation NE; its test NE and pooled test AUC are reported beside the others'.

With ``--search N``: per seed, ``unirank search`` on the dataset's study (``SEARCH_STUDIES``) with
the presets (flat and sequence) trained first as observations and N searched candidates over a
space with sequence encoders; its winner — the best validation NE among searched candidates with
no more MFLOPs than the best sequence preset — is evaluated on the test split.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, machine, mean_std, train_and_test, unirank_search, write_section  # noqa: E402

FLAT = ["shared_bottom_mlp", "dcnv2", "mmoe"]
SEQUENCE = ["din", "bst", "interformer"]


def _config(data: str):
    from unirank.config import load_config

    if data == "movielens":
        return load_config(REPO / "studies" / "movielens_history.yaml",
                           [f"data.path={SHARED_DATA / 'movielens_100k'}"])
    return load_config(REPO / "studies" / "quickstart.yaml", ["data.history_length=20"])


def _train(job: tuple) -> dict:
    data, name, seed, device, dest = job
    if Path(dest).is_file():
        return json.loads(Path(dest).read_text())
    import torch

    from unirank.space import PRESETS

    torch.set_num_threads(1)
    run = train_and_test(_config(data), PRESETS[name], Path(dest).parent / "cache", seed, device=device)
    out = {"preset": name, "seed": seed, **{k: run[k] for k in ("val_ne", "test_ne", "test_auc", "mflops", "seconds")},
           "machine": machine()}
    Path(dest).write_text(json.dumps(out))
    return out


# The study each dataset's search runs, with its overrides (the presets of both kinds as observations).
SEARCH_STUDIES = {
    "movielens": ("studies/movielens_history.yaml", [f"data.path={SHARED_DATA / 'movielens_100k'}"]),
    "synthetic": ("studies/quickstart.yaml", ["data.history_length=20",
                                              f"search.presets=[{','.join(FLAT + SEQUENCE)}]"]),
}


def _search_section(data: str, args, root: Path, best_seq: str, preset_mflops: float, preset_test: float) -> str:
    from benchmarks.search_vs_presets import _records, _test_metrics

    study, overrides = SEARCH_STUDIES[data]
    rows, wins, encoded, with_encoder, searched_total = [], 0, 0, 0, 0
    for s in range(args.seeds):
        out = root / data / f"search-{s}"
        if not (out / "done.json").is_file():
            sets = [*overrides, f"output.dir={out}", f"search.seed={s}", f"budget.trials={args.search}",
                    "search.cpus_per_trial=1"]
            unirank_search(study, sets, str(out))
            (out / "done.json").write_text("{}")
        records = _records(out)
        every = [r for r in records if r.preset is None]
        searched_total += len(every)
        with_encoder += sum(_encodes(r.arch) for r in every)
        searched = [r for r in every if r.mflops <= preset_mflops]
        pick = min(searched, key=lambda r: r.mean_ne) if searched else None
        if pick is None:
            rows.append(f"| {s} | none within {preset_mflops:.4f} MFLOPs | | | | |")
            continue
        test = _test_metrics(out, pick)
        wins += test["test_ne"] < preset_test
        encoded += _encodes(pick.arch)
        rows.append(f"| {s} | {pick.arch.summary().replace('|', '·')} | {pick.mean_ne:.4f} | {test['test_ne']:.4f} | "
                    f"{test['test_auc']:.4f} | {pick.mflops:.4f} |")
    return (f"\n\n**Search with sequence encoders in the space** (`--search {args.search}`: presets as observations, "
            f"{args.search} searched candidates per seed; winner within {best_seq}'s {preset_mflops:.4f} MFLOPs):\n\n"
            "| seed | winner | val NE | test NE | test pooled AUC | MFLOPs |\n|---|---|---|---|---|---|\n"
            + "\n".join(rows) + f"\n\n- the winner's test NE is below {best_seq}'s mean ({preset_test:.4f}) in {wins} "
            f"of {args.seeds} seeds\n- the winner encodes the history in {encoded} of {args.seeds} seeds; "
            f"{with_encoder} of the {searched_total} searched candidates had a sequence encoder")


def _encodes(arch) -> bool:
    """Whether an architecture reads the behaviour history (a sequence encoder other than none)."""
    return arch.sequence is not None and arch.sequence.encoder != "none"


def run(data: str, args, root: Path) -> str:
    folder = root / data
    folder.mkdir(parents=True, exist_ok=True)
    from unirank.data.dataset import prepare_dataset

    prepare_dataset(_config(data).data, folder / "cache")  # once, before the workers read it
    names = [*args.flat, *args.sequence]
    jobs = [(data, n, s, args.device, str(folder / f"{n}-{s}.json")) for s in range(args.seeds) for n in names]
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(_train, jobs))
    by = {n: [r for r in results if r["preset"] == n] for n in names}
    mean = {n: statistics.mean(r["val_ne"] for r in rs) for n, rs in by.items()}
    rows = [f"| {n} | {'sequence' if n in args.sequence else 'flat'} | {mean_std([r['val_ne'] for r in rs])} | "
            f"{mean_std([r['test_ne'] for r in rs])} | {mean_std([r['test_auc'] for r in rs])} | "
            f"{rs[0]['mflops']:.4f} | {statistics.median(r['seconds'] for r in rs):.0f} |" for n, rs in by.items()]
    best_flat = min(args.flat, key=mean.get)
    best_seq = min(args.sequence, key=mean.get)
    test = {n: statistics.mean(r["test_ne"] for r in by[n]) for n in names}
    auc = {n: statistics.mean(r["test_auc"] for r in by[n]) for n in names}
    paired = [a["test_ne"] - b["test_ne"] for a, b in zip(sorted(by[best_seq], key=lambda r: r["seed"]),
                                                          sorted(by[best_flat], key=lambda r: r["seed"]))]
    wins = sum(d < 0 for d in paired)
    head = ("| preset | kind | val NE | test NE | test pooled AUC | MFLOPs | train s (median) |\n"
            "|---|---|---|---|---|---|---|")
    summary = (f"- best flat preset (validation): **{best_flat}**, test NE {test[best_flat]:.4f}, pooled AUC "
               f"{auc[best_flat]:.4f}; best sequence preset: **{best_seq}**, test NE {test[best_seq]:.4f}, pooled AUC "
               f"{auc[best_seq]:.4f} — test NE {test[best_seq] - test[best_flat]:+.4f} "
               f"({(test[best_seq] / test[best_flat] - 1) * 100:+.1f}%), lower in {wins} of {args.seeds} seeds")
    where = sorted({r.get("machine") or machine() for r in results})  # results of earlier versions: here
    summary += f"\n- trained on: {'; '.join(where)} (one thread per training)"
    if args.search:
        summary += _search_section(data, args, root, best_seq, by[best_seq][0]["mflops"], test[best_seq])
    return f"### {data}\n\n{head}\n" + "\n".join(rows) + "\n\n" + summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=["movielens", "synthetic"], choices=["movielens", "synthetic"])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--flat", nargs="+", default=FLAT)
    parser.add_argument("--sequence", nargs="+", default=SEQUENCE)
    parser.add_argument("--search", type=int, default=0, help="searched candidates per seed (0 = no search)")
    parser.add_argument("--tag", default=time.strftime("%Y-%m-%d"))
    args = parser.parse_args()
    root = REPO / "runs" / "benchmarks" / "sequences" / args.tag
    parts = ["## Behaviour sequences: flat presets against sequence presets\n",
             f"`python benchmarks/sequences.py` (protocol in its docstring): {args.seeds} training seeds, "
             f"device {args.device}; mean ± std over seeds."]
    for data in args.data:
        section = run(data, args, root)
        print(section, flush=True)
        parts.append(section)
        write_section("sequences", "\n\n".join(parts))


if __name__ == "__main__":
    main()

"""Is there room above the tuned BST in how its transformer's output is read? Its readouts, paired.

    python benchmarks/bst_readouts.py --tag s47 [--data movielens_history|synthetic_history] [--seeds 5]
        [--workers 2] [--train-space calibrated] [--phase train|report|all] [--train-values JSON]

The searches of ``search_vs_presets`` run ``--tag`` on MovieLens with its users' histories ended
beside the tuned BST, not clearly above it (``search_headroom``): every candidate kept BST's
encoder. Here BST itself (``PRESETS["bst"]``) with the training values its tuning in that run
chose most often (``search_headroom.collect``) is trained from ``--seeds`` training seeds with
each readout of its transformer — ``tokens`` (BST's own: every output token), ``pooled`` (the
candidate's output and the events' mean) and ``target`` (the candidate's output and DIN's
attention-weighted sum of the events' outputs, ``attention_width`` 36 and 64) — and everything
else unchanged (so each differs from BST in one decision and costs what it costs; MFLOPs are
reported). ``--data synthetic_history``: the same on other data — ``benchmarks/sequences.py``'s
synthetic data with a 20-event history (``studies/quickstart.yaml``, ``data.history_length=20``),
where no run tuned BST: it trains with the study's training values on every side (the protocol of
``--train-space`` applied as to the others). Each is judged on the test split by its paired
test-NE difference to BST (same training seed), as ``search_headroom`` judges the searched
candidates; the paired validation-NE difference is reported beside it (what a choice made on
validation alone would have seen). Trainings are kept under runs/benchmarks/bst_readouts/<tag>/<data>/
and skipped when rerun (``--phase train`` on another machine, the folder carried back).
``--train-values JSON``: the tuned BST's training values given (those its run's BENCHMARKS section
reports) instead of read from the run's studies — for a run whose folder is gone; reported in its
own section, ``bst_readouts_<tag>_rerun``.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, command, machine, worker_pool, write_section  # noqa: E402
from benchmarks.search_headroom import _train, collect, report  # noqa: E402
from benchmarks.search_vs_presets import PROTOCOLS, RUNS, TRAIN_SPACES, _config  # noqa: E402

READOUTS = (("pooled", None), ("target", 36), ("target", 64))
UNTUNED = "synthetic_history"  # sequences.py's synthetic data with a history: BST untuned on every side


def config(data: str, train_space: str):
    """The study of ``data`` with ``train_space``'s protocol."""
    if data != UNTUNED:
        return _config(data, train_space)
    from benchmarks.sequences import _config as sequences_config

    cfg = sequences_config("synthetic")
    return cfg.model_copy(update={"train": cfg.train.model_copy(update=PROTOCOLS.get(train_space, {}))})


def candidates(data: str, source: Path, features, train_values: dict | None = None) -> list[dict]:
    """The tuned BST of run ``source`` (index 0, the baseline; with ``train_values``, BST with those
    training values) and BST with each other readout."""
    from unirank.proxies.cost import measure_cost
    from unirank.space import PRESETS, ArchSpec

    own = {"arch": PRESETS["bst"].to_dict(), "mflops": measure_cost(PRESETS["bst"], features, latency_batch=0).mflops,
           "val_ne": None, "preset": True}
    if train_values is not None:
        base = {"name": "bst (tuned)", "train": train_values, **own}
    elif data != UNTUNED:
        base = collect(data, source, top=0)[0]
    else:
        base = {"name": "bst (the study's training values)", "train": {}, **own}
    if not base["name"].startswith("bst"):
        raise SystemExit(f"bst_readouts: the best tuned preset of {source / data} is {base['name']}, not bst")
    out = [base]
    for readout, width in READOUTS:
        arch = json.loads(json.dumps(base["arch"]))
        arch["sequence"].update(readout=readout, attention_width=width)
        out.append({**base, "name": f"bst, {readout} readout" + (f" (attention width {width})" if width else ""),
                    "arch": arch, "preset": False,
                    "mflops": measure_cost(ArchSpec.from_dict(arch), features, latency_batch=0).mflops})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="the search_vs_presets run whose tuned BST is the baseline")
    parser.add_argument("--data", default="movielens_history", choices=["movielens_history", UNTUNED])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phase", default="all", choices=["train", "report", "all"])
    parser.add_argument("--train-space", choices=list(TRAIN_SPACES), default="calibrated")
    parser.add_argument("--train-values", type=json.loads, metavar="JSON",
                        help="the tuned BST's training values, when run --tag's folder is gone")
    args = parser.parse_args()
    if args.train_values is not None and (args.data == UNTUNED or not isinstance(args.train_values, dict)):
        parser.error("--train-values: expected a JSON object of training values, with --data movielens_history")
    rerun = "_rerun" if args.train_values is not None else ""
    root = REPO / "runs" / "benchmarks" / "bst_readouts" / args.tag
    folder = root / (args.data + rerun)
    if args.phase in ("train", "all"):
        from unirank.data.dataset import load_prepared, prepare_dataset

        folder.mkdir(parents=True, exist_ok=True)
        prepared = prepare_dataset(config(args.data, args.train_space).data, root / "cache")  # once, before the workers read it
        if not (folder / "candidates.json").is_file():  # the run's studies may not travel with the folder
            features = load_prepared(prepared).features
            chosen = candidates(args.data, RUNS / args.tag, features, args.train_values)
            (folder / "candidates.json").write_text(json.dumps(chosen, indent=1))
        jobs = [(args.data, i, c, s, str(folder / f"{i}-{s}.json"), args.train_space)
                for i, c in enumerate(json.loads((folder / "candidates.json").read_text())) for s in range(args.seeds)]
        with worker_pool(args.workers) as pool:
            for done, _ in enumerate(pool.map(functools.partial(_train, config=config), jobs), 1):
                print(f"{done}/{len(jobs)} trainings", flush=True)
        (folder / "trained_on.json").write_text(json.dumps({"machine": machine(), "command": command()}))
    if args.phase in ("report", "all"):
        where = json.loads((folder / "trained_on.json").read_text())
        chosen = json.loads((folder / "candidates.json").read_text())
        results = [json.loads(p.read_text()) for p in folder.glob("*-*.json")]
        body = "\n\n".join([
            f"## BST's readouts against {'the tuned BST' if args.data != UNTUNED else 'BST'}, training seeds paired"
            + ("" if args.data == "movielens_history" else f" ({args.data})"),
            f"`python benchmarks/bst_readouts.py --tag {args.tag}` (protocol in its docstring): "
            + (f"BST with the training values `search_vs_presets` run `{args.tag}`'s tuning chose, as its section "
               f"reports them (`--train-values '{json.dumps(args.train_values)}'`; the run's folder is gone)" if rerun else
               f"the tuned BST of `search_vs_presets` run `{args.tag}`" if args.data != UNTUNED else
               "BST with the study's training values") + " and BST with its transformer read out otherwise, each trained from "
            f"{args.seeds} training seeds (`--train-space {args.train_space}`); test split read once per training. "
            f"Trainings ran on {where['machine']} (`{where['command']}`, one thread each).",
            report(args.data, chosen, results, args.seeds, kind="readouts")])
        print(body)
        write_section(f"bst_readouts_{args.tag}{rerun}" + (f"_{args.data}" if args.data != "movielens_history" else ""),
                      body)


if __name__ == "__main__":
    main()

"""Are the searches' best architectures better than the best tuned preset once training-seed
noise is averaged out?

    python benchmarks/search_headroom.py --tag s7 [--data census movielens synthetic] [--top 3]
        [--seeds 5] [--workers N] [--phase collect|train|report|all] [--train-space NAME]

``benchmarks/search_vs_presets.py`` judges one training of the search's winner against one
training of the best tuned preset per search seed, so a real but small gain can drown in the
noise of a single training. Here, from that benchmark's runs (``--tag``), per dataset:
1. **collect**: from every search seed's study, the ``--top`` searched candidates (presets
   excluded) with the best validation NE among those at ≤ the best tuned preset's MFLOPs, each
   with its searched training values; and the best tuned preset with the training values its
   tuning chose most often over the seeds (ties: the lower mean validation NE). Selection reads
   validation NE only.
2. **train**: each of them trained from ``--seeds`` training seeds (0…n−1, the same seeds for all)
   with the study's protocol (early stopping on validation) changed as that run's ``--train-space``
   changed it (``PROTOCOLS``; checked against the run's own study), evaluated once on the test split.
3. **report**: per architecture mean ± std of test NE and pooled test AUC, and the paired
   difference to the preset (same training seed) with the seeds on which it is better.
Phases write under ``runs/benchmarks/search_headroom/<tag>/`` and skip finished trainings, so the
trainings can run on another machine (``--phase train`` there, the folder carried back).
"""
from __future__ import annotations

import argparse
import collections
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, command, machine, mean_std, train_and_test, worker_pool, write_section  # noqa: E402
from benchmarks.search_vs_presets import DATA, PROTOCOLS, RUNS, STUDIES, TRAIN_SPACES, VARIANTS, _config  # noqa: E402


def collect(data: str, source: Path, top: int) -> list[dict]:
    from unirank.search.study import open_study_from_dir, trial_records

    tuned = [json.loads(p.read_text()) for p in sorted((source / data / "tuned").glob("*.json"))]
    seeds = sorted({t["seed"] for t in tuned})
    best = {s: min((t for t in tuned if t["seed"] == s), key=lambda t: t["ne"]) for s in seeds}
    preset = collections.Counter(b["preset"] for b in best.values()).most_common(1)[0][0]
    runs = [t for t in tuned if t["preset"] == preset]
    chosen = collections.Counter(json.dumps(best[s]["train"], sort_keys=True) for s in seeds if best[s]["preset"] == preset)
    values = min(chosen, key=lambda v: (-chosen[v], statistics.mean(t["ne"] for t in runs
                                                                      if json.dumps(t["train"], sort_keys=True) == v)))
    from unirank.space import PRESETS

    out = [{"name": f"{preset} (tuned)", "arch": PRESETS[preset].to_dict(), "train": json.loads(values),
            "mflops": runs[0]["mflops"], "val_ne": None, "preset": True}]
    for s in (s for s in seeds if (source / data / f"search-{s}").is_dir()):  # a run may have searched fewer seeds
        study, _ = open_study_from_dir(source / data / f"search-{s}")
        eligible = [r for r in trial_records(study)
                    if r.preset is None and r.same_as_trial is None and r.mflops <= best[s]["mflops"]]
        for r in sorted(eligible, key=lambda r: r.mean_ne)[:top]:
            out.append({"name": f"seed {s} trial {r.number}", "arch": r.arch.to_dict(), "train": r.train,
                        "mflops": r.mflops, "val_ne": r.mean_ne, "preset": False})
    return out


def _train(job: tuple, config=_config) -> dict:
    """One training of a candidate (one thread), written to its ``dest``; a finished one is read back.
    ``config(data, train_space)``: the study it trains under."""
    data, index, candidate, seed, dest, train_space = job
    if Path(dest).is_file():
        return json.loads(Path(dest).read_text())
    import torch

    from unirank.space.arch import ArchSpec

    torch.set_num_threads(1)
    run = train_and_test(config(data, train_space), ArchSpec.model_validate(candidate["arch"]),
                         Path(dest).parent.parent / "cache", seed, **candidate["train"])
    out = {"index": index, "seed": seed, **{k: run[k] for k in ("val_ne", "test_ne", "test_auc")}}
    Path(dest).write_text(json.dumps(out))
    return out


def _searched(source: Path) -> str:
    """How that run searched: the sampler, objective and budget in its first study's config."""
    study = next(iter(sorted(source.glob("*/search-*/study.json"))), None)
    if study is None:
        return ""
    cfg = json.loads(study.read_text())["config"]
    return (f" (sampler {cfg['search']['sampler']}, objective {cfg['search']['objective']}, "
            f"{cfg['budget'].get('total_trials') or cfg['budget']['trials']} searched candidates)")


def check_protocol(source: Path, data: str, train_space: str) -> None:
    """Refuse to retrain a run's candidates under another training protocol than its searches used."""
    study = next(iter(sorted((source / data).glob("search-*/study.json"))), None)  # any seed: one protocol
    if study is None:
        return
    ran = json.loads(study.read_text())["config"]["train"]
    ours = _config(data, train_space).train
    keys = sorted({k for p in PROTOCOLS.values() for k in p})
    differ = [k for k in keys if k in ran and ran[k] != getattr(ours, k)]
    if differ:
        raise SystemExit(f"search_headroom: {study} trained with "
                         + ", ".join(f"train.{k}={ran[k]!r}" for k in differ)
                         + f"; --train-space {train_space} gives "
                         + ", ".join(f"{getattr(ours, k)!r}" for k in differ) + " (pass that run's --train-space)")


def report(data: str, candidates: list[dict], results: list[dict], seeds: int, kind: str = "searched architectures") -> str:
    by = {(r["index"], r["seed"]): r for r in results}
    base = [by[0, s] for s in range(seeds)]
    lines = [f"### {data}", "", "| architecture | MFLOPs | training values | search val NE | test NE (mean ± std) | "
             "pooled test AUC | test NE − preset's (paired, mean ± std) | seeds better in test NE | "
             "val NE − preset's (paired; what a choice on validation sees) |",
             "|---|---|---|---|---|---|---|---|---|"]
    beyond = 0
    for i, c in enumerate(candidates):
        runs = [by[i, s] for s in range(seeds)]
        diff = [r["test_ne"] - b["test_ne"] for r, b in zip(runs, base)]
        paired = "–" if c["preset"] else mean_std(diff)
        val_paired = "–" if c["preset"] else (
            f"{mean_std([r['val_ne'] - b['val_ne'] for r, b in zip(runs, base)])} "
            f"({sum(r['val_ne'] < b['val_ne'] for r, b in zip(runs, base))} of {seeds} better)")
        better = "–" if c["preset"] else f"{sum(d < 0 for d in diff)} of {seeds}"
        if not c["preset"] and statistics.mean(diff) < 0 and abs(statistics.mean(diff)) > statistics.stdev(diff):
            beyond += 1
        lines.append(f"| {c['name']} | {c['mflops']:.3f} | {c['train']} | "
                     f"{'–' if c['val_ne'] is None else format(c['val_ne'], '.4f')} | "
                     f"{mean_std([r['test_ne'] for r in runs])} | {mean_std([r['test_auc'] for r in runs])} | "
                     f"{paired} | {better} | {val_paired} |")
    single = statistics.stdev(b["test_ne"] for b in base)
    lines += ["", f"- one training's test-NE std (the preset over {seeds} seeds): {single:.4f}; {kind} "
              f"whose mean paired gain exceeds its std: {beyond} of {len(candidates) - 1}"]
    lines += [line for line in [selection(candidates, by, seeds)] if line]
    if len(candidates) > 2:
        from scipy.stats import spearmanr

        val = [statistics.mean(by[i, s]["val_ne"] for s in range(seeds)) for i in range(len(candidates))]
        test = [statistics.mean(by[i, s]["test_ne"] for s in range(seeds)) for i in range(len(candidates))]
        lines.append(f"- how well validation ranks these architectures for test (each averaged over {seeds} trainings): "
                     f"Spearman ρ = {spearmanr(val, test).statistic:.2f} over {len(candidates)}")
    return "\n".join(lines)


def selection(candidates: list[dict], by: dict, seeds: int, confirm: int = 3) -> str:
    """Each search seed's winner among its candidates chosen by training seed 0's validation NE (one
    training, as a search without confirmation) or by the mean validation NE of training seeds
    0 … ``confirm`` − 1 (as ``search.confirm`` with ``confirm`` − 1 more seeds); each pick judged
    by its mean test NE over all ``seeds`` trainings."""
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(candidates):
        if not c["preset"]:
            groups.setdefault(c["name"].split(" trial ")[0], []).append(i)
    test = lambda i: statistics.mean(by[i, s]["test_ne"] for s in range(seeds))  # noqa: E731
    if all(len(m) == 1 for m in groups.values()):
        return ""  # one candidate per search: nothing to choose
    rows, changed, gains = [], 0, []
    for name, members in groups.items():
        one = min(members, key=lambda i: by[i, 0]["val_ne"])
        mean = min(members, key=lambda i: statistics.mean(by[i, s]["val_ne"] for s in range(confirm)))
        changed += one != mean
        gains.append(test(one) - test(mean))
        rows.append(f"{name}: {test(one):.4f} → {test(mean):.4f}" + ("" if one != mean else " (same pick)"))
    return (f"- the winner chosen by the mean validation NE of {confirm} trainings (what `search.confirm: "
            f"{{seeds: {confirm - 1}}}` does) instead of one training's: another pick in {changed} of {len(groups)} "
            f"searches; mean test NE over {seeds} trainings of the pick, one-training pick → confirmed pick: "
            + "; ".join(rows) + f" (mean change in test NE {-statistics.mean(gains):+.4f}; lower is better)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="the search_vs_presets run to read")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(STUDIES))
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--phase", default="all", choices=["collect", "train", "report", "all"])
    parser.add_argument("--train-space", choices=list(TRAIN_SPACES), default="basic",
                        help="that run's --train-space: its protocol (PROTOCOLS) applies to every training here")
    args = parser.parse_args()
    root = REPO / "runs" / "benchmarks" / "search_headroom" / args.tag
    source = RUNS / args.tag
    for data in args.data:
        if args.phase in ("collect", "all"):
            (root / data).mkdir(parents=True, exist_ok=True)
            (root / data / "candidates.json").write_text(json.dumps(collect(data, source, args.top), indent=1))
    if args.phase in ("train", "all"):
        from unirank.data.dataset import prepare_dataset

        for data in args.data:  # each cache prepared once, before the workers read it
            check_protocol(source, data, args.train_space)
            prepare_dataset(_config(data).data, root / "cache")
        jobs = [(data, i, c, s, str(root / data / f"{i}-{s}.json"), args.train_space) for data in args.data
                for i, c in enumerate(json.loads((root / data / "candidates.json").read_text()))
                for s in range(args.seeds)]
        jobs.sort(key=lambda j: j[0] != "census")  # the longest first
        with worker_pool(args.workers) as pool:
            for done, _ in enumerate(pool.map(_train, jobs), 1):
                if done % 10 == 0:
                    print(f"{done}/{len(jobs)} trainings", flush=True)
        (root / "trained_on.json").write_text(json.dumps({"machine": machine(), "command": command()}))
    if args.phase in ("report", "all"):
        parts = ["## The searches' best architectures against the tuned preset, training seeds averaged",
                 f"`python benchmarks/search_headroom.py --tag {args.tag}` (protocol in its docstring): the {args.top} "
                 f"best searched candidates of each search seed of `search_vs_presets` run `{args.tag}`{_searched(source)} "
                 f"(validation NE, ≤ the preset's "
                 f"MFLOPs) and the best tuned preset, each trained from {args.seeds} training seeds; test split read "
                 "once per training."
                 + (f" Every training with the study's `train` changed by {json.dumps(PROTOCOLS[args.train_space])} "
                    f"(`--train-space {args.train_space}`)." if args.train_space in PROTOCOLS else "")]
        if (root / "trained_on.json").is_file():  # the trainings may have run on another machine
            where = json.loads((root / "trained_on.json").read_text())
            parts[-1] += f" Trainings ran on {where['machine']} (`{where['command']}`, one thread each)."
        for data in args.data:
            candidates = json.loads((root / data / "candidates.json").read_text())
            results = [json.loads(p.read_text()) for p in (root / data).glob("*-*.json")]
            parts.append(report(data, candidates, results, args.seeds))
        print("\n\n".join(parts))
        write_section(f"search_headroom_{args.tag}" + "".join(f"_{d}" for d in args.data if d in VARIANTS),  # its own
                      "\n\n".join(parts))


if __name__ == "__main__":
    main()

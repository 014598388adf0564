"""How often does one run of a setting clear the issue's bar, given what its seeds measure?

    python benchmarks/verdict_chance.py --tags s30 s31 … --train-space calibrated
        [--data census movielens synthetic] [--seeds 5] [--draws 20000] [--confirm TOP SEEDS [--confirm-per P]]

A tag written ``TAG:DATA`` is pooled for that dataset only (``--tags s47:census s47:synthetic
s52:movielens_history s53:movielens_history --data census synthetic movielens_history --confirm 3
2``: one setting whose runs differ by dataset); ``--confirm`` reads the runs judged with their
winner confirmed (``winners_retrained_<tag>_confirm<TOP>x<SEEDS>…``; ``arch`` after it with
``--confirm-per architecture``).

The bar (issue 18): the searched winner beats the best tuned preset by more than the seeds' std in
at least 4 of 5 search seeds, in test NE and in pooled test AUC, on every dataset, in one run. Each
``winners_retrained`` run judges 5 search seeds; one run's counts move from run to run of the same
setting (s35 and s36 share their first 26 searched candidates and differ by up to two seeds). This
reads the verdict of each search seed as ``winners_retrained`` published it (the last column of its
table in BENCHMARKS.md, section ``winners_retrained_<tag>[_retrainN]``: the run's own rule, the
margin being each run's std over its seeds, the larger side's), so it needs no run folder and runs on
a clean checkout; a run whose retrained verdict is not published is skipped and named. It pools the
seeds' verdicts per dataset. From the pooled seeds it estimates how often a run of 5
fresh search seeds would show at least 4 of 5 in NE and in AUC on each dataset and on all of them
at once: drawing 5 seeds' (NE, AUC) verdicts with replacement per dataset (``--draws`` runs; a
seed's two verdicts stay together) — the chance a setting with these per-seed rates passes by luck
of its seeds. The runs pooled should share a protocol; which are pooled is the caller's choice and
is printed in the section. Runs resumed from another (``--resume-from``) share its first candidates,
so their seeds are not independent draws: the pool is a summary of the seeds measured, not a sample
of independent runs.
"""
from __future__ import annotations

import argparse
import functools
import random
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import BENCHMARKS_MD, Confirm, add_confirm_args, confirm_from, write_section  # noqa: E402
from benchmarks.search_vs_presets import DATA, STUDIES, TRAIN_SPACES  # noqa: E402

SECTION = re.compile(r"<!-- begin:(\S+) -->\n(.*?)<!-- end:\1 -->", re.S)
ROW = re.compile(r"^\| (\d+) \|.*\| (yes|no) / (yes|no) \|$", re.M)


@functools.cache
def _sections() -> list[tuple[str, str]]:
    """(name, body) of every BENCHMARKS.md section, read and split once for all runs and datasets."""
    return SECTION.findall(BENCHMARKS_MD.read_text())


def _train_space(body: str) -> str:
    """The ``--train-space`` a section's command names (``basic``, the default, where it names none)."""
    named = re.search(r"--train-space (\w+)", body)
    return named[1] if named else "basic"


def seed_verdicts(tag: str, data: str, seeds: int, space: str, retrain: int = 3,
                  confirm: Confirm | None = None) -> list[tuple[bool, bool]] | None:
    """Run ``tag``'s retrained verdict of each search seed of ``data`` as (NE, AUC), read from the
    table ``winners_retrained`` wrote to BENCHMARKS.md (the last such section naming ``data``, run
    with ``--train-space space`` and, with ``confirm``, its winner confirmed); None when no section
    has ``seeds`` rows (the seeds' numbers are the run's: ``--first-seed`` moves them)."""
    base = (f"winners_retrained_{tag}" + (confirm.infix if confirm else "")
            + (f"_retrain{retrain}" if retrain != 3 else ""))
    names = "|".join(sorted(STUDIES, key=len, reverse=True))  # movielens_random before movielens
    suffix = re.compile(rf"(_(?:{names}))*")
    found = None
    for name, body in _sections():
        if not (name.startswith(base) and suffix.fullmatch(name[len(base):])):
            continue
        if _train_space(body) != space:
            continue  # another training protocol
        part = re.search(rf"^### {re.escape(data)}\n(.*?)(?=^### |\Z)", body, re.S | re.M)
        rows = {int(m[1]): (m[2] == "yes", m[3] == "yes") for m in ROW.finditer(part[1])} if part else {}
        if len(rows) == seeds:
            found = [rows[s] for s in sorted(rows)]
    return found


def chance(pool: list[tuple[bool, bool]], seeds: int, draws: int, rng: random.Random) -> list[tuple[bool, bool]]:
    """Per simulated run: (≥ 4 of ``seeds`` in NE, ≥ 4 in AUC), ``seeds`` verdicts drawn from ``pool``."""
    need = seeds - 1
    out = []
    for _ in range(draws):
        drawn = rng.choices(pool, k=seeds)
        out.append((sum(v[0] for v in drawn) >= need, sum(v[1] for v in drawn) >= need))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", nargs="+", required=True,
                        help="the search_vs_presets runs to pool (TAG:DATA: that dataset only)")
    parser.add_argument("--train-space", choices=list(TRAIN_SPACES), required=True, help="those runs' --train-space")
    parser.add_argument("--data", nargs="+", default=list(DATA), choices=list(STUDIES))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--draws", type=int, default=20000)
    parser.add_argument("--retrain", type=int, default=3, help="the retrainings per side the runs were judged by")
    add_confirm_args(parser, "the runs judged with their winner confirmed (winners_retrained.py --confirm)")
    args = parser.parse_args()
    args.confirm = confirm_from(parser, args)
    runs = [(tag, only or None) for tag, _, only in (t.partition(":") for t in args.tags)]  # (tag, its one dataset)
    for tag, only in runs:
        if only is not None and only not in args.data:
            parser.error(f"--tags {tag}:{only}: {only!r} is not among --data ({' '.join(args.data)})")
    rng = random.Random(0)
    pooled, used, skipped, rows = {}, {}, [], []
    for data in args.data:
        pooled[data], used[data] = [], []
        for tag in (tag for tag, only in runs if only in (None, data)):
            verdicts = seed_verdicts(tag, data, args.seeds, args.train_space, args.retrain, args.confirm)
            if verdicts is None:
                skipped.append(f"{tag} {data}")
                continue
            pooled[data] += verdicts
            used[data].append(f"{tag} {sum(v[0] for v in verdicts)}/{sum(v[1] for v in verdicts)}")
    if not any(pooled.values()):
        raise SystemExit(f"verdict_chance: no retrained verdict of {' '.join(args.tags)} (--train-space "
                         f"{args.train_space}) in {BENCHMARKS_MD.name} "
                         f"(sections winners_retrained_<tag>: run benchmarks/winners_retrained.py first)")
    sims = {d: chance(p, args.seeds, args.draws, rng) for d, p in pooled.items() if p}
    for data, pool in pooled.items():
        if not pool:
            continue
        sim = sims[data]
        rows.append(f"| {data} | {'; '.join(used[data])} | {len(pool)} | {sum(v[0] for v in pool) / len(pool):.2f} | "
                    f"{sum(v[1] for v in pool) / len(pool):.2f} | {sum(s[0] for s in sim) / len(sim):.2f} | "
                    f"{sum(s[1] for s in sim) / len(sim):.2f} | {sum(s[0] and s[1] for s in sim) / len(sim):.2f} |")
    every = sum(all(sims[d][i][0] and sims[d][i][1] for d in sims) for i in range(args.draws)) / args.draws
    confirmed = f" {args.confirm.flags}" if args.confirm else ""
    section = (f"## How often one run clears the bar, from the seeds measured (runs {', '.join(args.tags)}"
               + (", winner confirmed" if args.confirm else "") + ")\n\n"
               f"`python benchmarks/verdict_chance.py --tags {' '.join(args.tags)} --train-space {args.train_space}"
               f"{'' if args.data == list(DATA) else ' --data ' + ' '.join(args.data)}{confirmed}` "
               f"(protocol in its docstring): each search seed's verdict (winner against the best tuned preset, "
               f"each retrained from {args.retrain} fresh seeds, beyond its run's margin), pooled per dataset; "
               f"{args.draws} runs of {args.seeds} seeds drawn from the pool.\n\n"
               f"| dataset | runs pooled (test NE / AUC of {args.seeds}) | seeds | beats in NE (share of seeds) | "
               "in AUC | "
               f"a run ≥ {args.seeds - 1} of {args.seeds} in NE | in AUC | in both |\n"
               "|---|---|---|---|---|---|---|---|\n"
               + "\n".join(rows) + "\n\n"
               f"- a run at ≥ {args.seeds - 1} of {args.seeds} in NE and AUC on every dataset above at once: "
               f"{every:.3f} of the drawn runs\n"
               + (f"- not pooled (no retrained verdict published): {', '.join(skipped)}\n" if skipped else ""))
    print(section)
    count = f"_retrain{args.retrain}" if args.retrain != 3 else ""
    infix = args.confirm.infix if args.confirm else ""
    write_section(f"verdict_chance_{runs[0][0]}_{runs[-1][0]}{infix}{count}", section)


if __name__ == "__main__":
    main()

"""Where local search's neighbour order put one decision's changes, replayed from a run's studies.

    python benchmarks/neighbour_ranks.py --tag s52 [--data movielens_history] [--decision seq_readout]
        [--value target] [--draws 400]

For each search seed of ``search_vs_presets`` run TAG (sampler ``tpe_local``, neighbour order
``thompson``), at every local-search turn before ``search.tune``'s finalists (local search proposes
when the study holds an odd number of searched trials): the trained points the study held then,
presets included; the centre local search took (the best of them); its one-decision neighbours
(``unirank.search.local.neighbours``), ordered as ``thompson`` orders them — by the change's effect
on validation NE under the additive model (``_change_posterior``). At each turn whose centre takes
the decision with another value than ``--value``: the rank of the change to that value under the
posterior mean (1 = first of all the neighbours), the share of posterior draws in which it comes
first (``--draws``, seeded), and how many decisions the trained points that took the value
differed from the centre in — the evidence the model holds about the change, and how far from the
centre it was gathered. Reads the studies' validation NE only; trains nothing.
"""
from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import write_section  # noqa: E402
from benchmarks.search_vs_presets import RUNS, _unit_data  # noqa: E402


def _distance(a: dict, b: dict) -> int:
    return sum(a.get(k) != b.get(k) for k in set(a) | set(b))


def turns(out: Path, decision: str, value: str, draws: int) -> list[dict]:
    """The local-search turns of one search unit ``out``, each as a dict of what the docstring lists."""
    import numpy as np
    import optuna

    from unirank.search.evolution import trained_points
    from unirank.search.local import _change_posterior, neighbours
    from unirank.search.searcher import searched_candidate
    from unirank.search.study import open_study_from_dir
    from unirank.space.search_space import SearchSpace

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study, cfg = open_study_from_dir(out, read_only=True)
    space = SearchSpace(cfg.space, _unit_data(out).features)
    trials = study.get_trials(deepcopy=False)
    trained_before_tuning = (cfg.budget.total_trials or cfg.budget.trials) - (cfg.search.tune.trials if cfg.search.tune else 0)
    points = trained_points(study)
    rows, searched, trained = [], 0, 0
    rng = np.random.default_rng(0)
    for trial in trials:
        if "preset" in trial.user_attrs:
            continue
        if trained >= trained_before_tuning:
            break
        if searched % 2 == 1:  # tpe_local: local search's turn
            done = [p for p in points if p.number < trial.number]
            centre = min(done, key=lambda p: p.values[0])
            near = neighbours(space, centre.params, centre.distributions)
            change, mean, cov = _change_posterior(done, centre.params, near)
            ours = [i for i, n in enumerate(near) if n.name == decision and n.params[decision] == value]
            if ours:
                order = np.argsort(change @ mean, kind="stable").tolist()
                sampled = rng.multivariate_normal(mean, cov, size=draws, method="cholesky")  # (draws, features)
                first = np.argmin(sampled @ change.T, axis=1)  # (draws,)
                other = [p for p in done if p.params.get(decision) == value]
                rows.append({"trial": trial.number, "centre": centre.number, "neighbours": len(near),
                             "rank": 1 + min(order.index(i) for i in ours),
                             "first": float(np.isin(first, ours).mean()),
                             "evidence": [_distance(p.params, centre.params) for p in other]})
        searched += 1
        trained += (trial.state.name == "COMPLETE" and searched_candidate(trial))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", required=True, help="the search_vs_presets run")
    parser.add_argument("--data", default="movielens_history")
    parser.add_argument("--decision", default="seq_readout", help="a parameter of the space")
    parser.add_argument("--value", default="target", help="the decision's value whose change is ranked")
    parser.add_argument("--draws", type=int, default=400)
    args = parser.parse_args()
    root = RUNS / args.tag / args.data
    units = sorted(root.glob("search-*/study.db"))
    if not units:
        raise SystemExit(f"neighbour_ranks: no search units under {root} (run search_vs_presets --tag {args.tag} first)")
    lines = []
    for db in units:
        rows = turns(db.parent, args.decision, args.value, args.draws)
        if not rows:
            lines.append(f"| {db.parent.name} | no turn whose centre could change to `{args.decision}: {args.value}` | | | | |")
            continue
        ranks, firsts = [r["rank"] for r in rows], [r["first"] for r in rows]
        near = statistics.median(r["neighbours"] for r in rows)
        evidence = [d for r in rows for d in r["evidence"]]
        lines.append(f"| {db.parent.name} | {len(rows)} | {near:g} | {min(ranks)}–{max(ranks)} (median {statistics.median(ranks):g}) | "
                     f"{statistics.mean(firsts):.3f} (expected over the turns: {sum(firsts):.2f}) | "
                     + (f"{statistics.median(evidence):g} ({min(evidence)}–{max(evidence)})" if evidence else "none") + " |")
        print(lines[-1], flush=True)
    body = (f"## Where local search's order put the change to `{args.decision}: {args.value}` (run `{args.tag}`, {args.data})\n\n"
            "`python benchmarks/neighbour_ranks.py` (protocol in its docstring): at each local-search turn before the "
            "finalists' tuning, the centre's one-decision neighbours ordered by the change's effect under the additive "
            "model `search.neighbour_order: thompson` draws from; validation NE only.\n\n"
            f"| search | turns whose centre could take it | neighbours (median) | its rank by the posterior mean | "
            f"share of {args.draws} draws it comes first (mean over turns) | trained points with the value: "
            "decisions from the centre, median (range) |\n|---|---|---|---|---|---|\n" + "\n".join(lines))
    write_section(f"neighbour_ranks_{args.tag}_{args.data}_{args.decision}_{args.value}", body)


if __name__ == "__main__":
    main()

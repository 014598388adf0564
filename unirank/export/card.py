"""MODEL_CARD.md for an exported trial."""
from __future__ import annotations

import time

from unirank.search.agreement import Agreement
from unirank.space.arch import ArchSpec


def model_card(arch: ArchSpec, metrics: dict, has_lists: bool = False, teacher=None) -> str:
    """``teacher``: the ``TeacherFeatures`` of a model that reads its teacher's representation."""
    validation, cost, provenance = metrics["validation"], metrics["cost"], metrics["provenance"]
    title = provenance.get("preset") or (f"trial {provenance['trial']}" if provenance.get("trial") is not None
                                          else "architecture")
    lines = [
        f"# unirank model: {title}",
        "",
        f"`{arch.summary()}`",
        "",
        "## Provenance",
        (f"- study `{provenance['study']}` in `{provenance['storage']}`, trial {provenance['trial']}"
         if provenance.get("study") else f"- {provenance.get('source', 'no study')}"),
        f"- exported {time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        "",
        "## Cost (per example, inference)",
        f"- {cost['mflops']:.4f} MFLOPs (matmul-class ops, FlopCounterMode)",
        f"- {cost['dense_params']:,} dense parameters, {cost['embedding_params']:,} embedding parameters",
        f"- {cost['lookups_per_example']} embedding lookups ({cost['embedding_bytes_per_example']} bytes read)",
        "",
    ]
    if validation is None:
        lines += ["## Validation metrics", "not trained yet: run `unirank train` on this bundle"]
    else:
        lines += [
            "## Validation metrics",
            f"mean NE **{validation['mean_ne']:.4f}**, mean grouped AUC **{validation['mean_auc']:.4f}** "
            "(per portfolio, weighted by labelled examples), mean pooled AUC "
            f"**{validation.get('mean_pooled_auc', float('nan')):.4f}** (per objective over all domains)",
            "",
            *(f"- {name}: NE {m['ne']:.4f}, pooled AUC {m.get('pooled_auc', float('nan')):.4f}, "
              f"grouped AUC {m.get('grouped_auc', m.get('auc', float('nan'))):.4f}"
              for name, m in validation.get("objectives", {}).items()),
            "",
            "| portfolio | NE | AUC | log loss | examples | base rate |",
            "|---|---|---|---|---|---|",
        ]
        for name, m in validation["portfolios"].items():
            lines.append(f"| {name} | {m['ne']:.4f} | {m['auc']:.4f} | {m['logloss']:.4f} | "
                         f"{m['count']} | {m['base_rate']:.3f} |")
    confirmation = metrics.get("confirmation")
    if confirmation:
        by_seed = ", ".join(f"seed {k}: {v:.4f}" for k, v in confirmation["validation_ne_by_seed"].items())
        lines += ["", "## Confirmed over training seeds (search.confirm)",
                  f"mean validation NE **{confirmation['mean_ne']:.4f} ± {confirmation['std_ne']:.4f}** over "
                  f"{len(confirmation['validation_ne_by_seed'])} trainings ({by_seed}); the weights here are the "
                  "search's own training"]
    recorded = metrics.get("validation_agreement")
    if recorded:
        agreement = Agreement(rho=recorded["rho"], candidates=recorded["candidates"])
        lines += ["", "## How far the search's choice can be trusted",
                  ("**Warning:** " if agreement.low else "") + agreement.line() + " (each "
                  "candidate's NE on the first and on the second half of the validation rows, as the search "
                  "recorded them; no test row read)"]
    neighbours = metrics.get("pareto_neighbours") or []
    if neighbours:
        lines += ["", "## Pareto neighbours (other points of the front)", "",
                  "| trial | mean NE | MFLOPs |", "|---|---|---|"]
        lines += [f"| {n['label']} | {n['mean_ne']:.4f} | {n['mflops']:.4f} |" for n in neighbours]
    check = metrics.get("serving_check", {}).get("max_abs_diff_eager_vs_pt2")
    lines += ["", "## Use",
              "- serve: `torch.export.load('model.pt2').module()(dense, sparse, domain" + (", lists" if has_lists else "") + ")` → probabilities [B, T]"
              + (f" (checked against the eager model: max |diff| {check:.1e})" if check is not None else ""),
              "- retrain: `unirank train <this folder> --device cuda`", ""]
    if teacher is not None:
        k, inputs = len(teacher.columns), "dense, sparse, domain" + (", lists" if has_lists else "")
        lines[-2:-1] = [  # instead of the plain retrain line
            f"- its last {k} dense inputs ({teacher.columns[0]} … {teacher.columns[-1]}) are its teacher's "
            f"representation ({teacher.teacher}): `z = torch.export.load('teacher_features.pt2').module()({inputs})` "
            f"on the data's own columns, then `dense = torch.cat([dense, z], 1)` (LoopFM: z may be cached per "
            "request key with a lifetime); the MFLOPs above do not count producing z",
            "- retrain: `unirank train <this folder> --teacher <the teacher's bundle>`"]
    return "\n".join(lines)

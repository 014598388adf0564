"""Distillation from a unified teacher to a student at ≤ 1/4 of its MFLOPs: how much of the gap
does it recover?

    python benchmarks/distill.py [--data census movielens] [--seeds 3] [--workers 2]

Per dataset and training seed: the teacher (Census-Income: ``dcnv2``, the best preset there;
MovieLens-100K with histories: ``bst``, the best sequence preset) is trained with the study's
protocol (``studies/census.yaml`` / ``studies/movielens_history.yaml``: data, split, train section,
early stopping on validation); its logits for the training rows are computed once
(``unirank.train.distill``); then the student (``shared_bottom_mlp``, ≤ 1/4 of the teacher's
MFLOPs; on MovieLens it reads no history) is trained six ways from the same seed: without the
teacher, with ``distill_alpha`` 0.5 (the default), with 0.5 and the auxiliary head, with 2, and
reading the teacher's representation as ``FEATURES`` input features (LoopFM,
``unirank.train.teacher_features``; projection fitted on training rows) with α 0 and 0.5 — those
students' MFLOPs count reading the features, not producing them. Everything is evaluated
once on the test split, which neither training nor the teacher's outputs read (the teacher only
predicts training rows). Transfer ratio: (student NE − distilled student NE) / (student NE −
teacher NE), the share of the teacher's test-NE advantage that distillation moves to the student.
"""
from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO, SHARED_DATA, mean_std, test_metrics, write_section  # noqa: E402

SETUPS = {  # data → (study, overrides, teacher preset, student preset)
    "census": ("census.yaml", [f"data.path={SHARED_DATA / 'census_income' / 'census-income.test.gz'}"], "dcnv2",
               "shared_bottom_mlp"),
    "movielens": ("movielens_history.yaml", [f"data.path={SHARED_DATA / 'movielens_100k'}"], "bst",
                  "shared_bottom_mlp"),
}
STUDENTS = {"plain": {"distill_alpha": 0.0}, "distilled": {"distill_alpha": 0.5},
            "distilled + aux head": {"distill_alpha": 0.5, "distill_aux_head": True},
            "distilled, alpha 2": {"distill_alpha": 2.0},
            "teacher features": {"distill_alpha": 0.0}, "distilled + teacher features": {"distill_alpha": 0.5}}
FEATURES = 8  # LoopFM: the teacher's representation as this many input features (chosen before measuring)


def _config(data: str):
    from unirank.config import load_config

    study, overrides, _, _ = SETUPS[data]
    return load_config(REPO / "studies" / study, overrides)


def _train(job: tuple) -> dict:
    """One training: the teacher (``kind`` = "teacher") or a student of the seed's teacher."""
    data, kind, seed, folder = job
    dest = Path(folder) / f"{data}-{seed}-{kind.replace(' ', '_').replace('+', 'and').replace(',', '')}.json"
    if dest.is_file():
        return json.loads(dest.read_text())
    import torch

    from unirank.data.dataset import load_prepared, prepare_dataset
    from unirank.models import build_model
    from unirank.proxies.cost import measure_cost
    from unirank.space import PRESETS
    from unirank.train import fit, seed_everything
    from unirank.train.checkpoint import save_weights
    from unirank.train.distill import Teacher, teacher_logits, with_teacher

    torch.set_num_threads(1)
    cfg = _config(data)
    cache = prepare_dataset(cfg.data, Path(folder) / "cache")
    dataset = load_prepared(cache)
    _, _, teacher_name, student_name = SETUPS[data]
    name = teacher_name if kind == "teacher" else student_name
    train = cfg.train.model_copy(update={"seed": seed, **STUDENTS.get(kind, {})})
    if kind != "teacher":
        weights = Path(folder) / f"{data}-{seed}-teacher.safetensors"
        teacher = Teacher(name=f"{teacher_name} seed {seed}", arch=PRESETS[teacher_name], weights=weights,
                          state=dataset.state)
        logits = teacher_logits(teacher, dataset, cache)
        if kind.endswith("teacher features"):  # the teacher's representation as input features
            from unirank.train.teacher_features import features_folder

            dataset = load_prepared(features_folder(cache, teacher, FEATURES))
        dataset = with_teacher(dataset, logits)
    seed_everything(seed)
    model = build_model(PRESETS[name], dataset.features)
    result = fit(model, dataset, train)
    if kind == "teacher":
        save_weights(model, Path(folder) / f"{data}-{seed}-teacher.safetensors.tmp")  # whole or absent
        Path(folder, f"{data}-{seed}-teacher.safetensors.tmp").replace(Path(folder) / f"{data}-{seed}-teacher.safetensors")
    out = {"data": data, "kind": kind, "arch": name, "seed": seed, "val_ne": result.val.mean_ne,
           **test_metrics(model, dataset),
           "mflops": measure_cost(PRESETS[name], dataset.features, latency_batch=0).mflops,
           "epochs": result.epochs_run}
    dest.write_text(json.dumps(out))
    return out


def _section(data: str, rows: list[dict], seeds: int) -> list[str]:
    by = {(r["kind"], r["seed"]): r for r in rows if r["data"] == data}
    teacher = [by["teacher", s] for s in range(seeds)]
    lines = [f"### {data}: teacher `{teacher[0]['arch']}` ({teacher[0]['mflops']:.3f} MFLOPs), student "
             f"`{by['plain', 0]['arch']}` ({by['plain', 0]['mflops']:.3f} MFLOPs, "
             f"{by['plain', 0]['mflops'] / teacher[0]['mflops']:.2f}× the teacher's)", "",
             "| model | MFLOPs | test NE (mean ± std over seeds) | pooled test AUC | transfer ratio per seed (test NE) |",
             "|---|---|---|---|---|",
             f"| teacher | {teacher[0]['mflops']:.3f} | {mean_std([t['test_ne'] for t in teacher])} | "
             f"{mean_std([t['test_auc'] for t in teacher])} | – |"]
    for kind in STUDENTS:
        runs = [by[kind, s] for s in range(seeds)]
        ratios = "–" if kind == "plain" else ", ".join(
            f"{(by['plain', s]['test_ne'] - by[kind, s]['test_ne']) / (by['plain', s]['test_ne'] - by['teacher', s]['test_ne']):.2f}"
            if by["plain", s]["test_ne"] != by["teacher", s]["test_ne"] else "n/a" for s in range(seeds))
        lines.append(f"| student, {kind} | {runs[0]['mflops']:.3f} | {mean_std([r['test_ne'] for r in runs])} | "
                     f"{mean_std([r['test_auc'] for r in runs])} | {ratios} |")
    better = {kind: sum(by[kind, s]["test_ne"] < by["plain", s]["test_ne"] for s in range(seeds))
              for kind in STUDENTS if kind != "plain"}
    lines += ["", "- distilled student's test NE below the plain student's: "
              + "; ".join(f"{kind}: {n} of {seeds} seeds" for kind, n in better.items())]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", nargs="+", default=list(SETUPS), choices=list(SETUPS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    folder = REPO / "runs" / "benchmarks" / "distill"
    folder.mkdir(parents=True, exist_ok=True)
    from unirank.data.dataset import prepare_dataset

    for data in args.data:  # each dataset's cache prepared once, before the workers read it
        prepare_dataset(_config(data).data, folder / "cache")
    with ProcessPoolExecutor(args.workers) as pool:
        jobs = [(d, "teacher", s, str(folder)) for d in args.data for s in range(args.seeds)]
        rows = list(pool.map(_train, jobs))
        print("teachers:", [(r["data"], r["seed"], round(r["test_ne"], 4)) for r in rows], flush=True)
        jobs = [(d, kind, s, str(folder)) for d in args.data for s in range(args.seeds) for kind in STUDENTS]
        rows += list(pool.map(_train, jobs))
    body = ["## Distillation: a unified teacher into a student at ≤ 1/4 of its MFLOPs", "",
            f"`python benchmarks/distill.py --data {' '.join(args.data)} --seeds {args.seeds}` (protocol in its "
            f"docstring): {args.seeds} training seeds; students trained from the same seed without the teacher, "
            "with distill_alpha 0.5 (the default), with 0.5 and the auxiliary head, with 2, and reading the teacher's "
            f"representation as {FEATURES} input features (LoopFM) with alpha 0 and 0.5; test split read once, by "
            "evaluation only.", ""]
    for data in args.data:
        body += [*_section(data, rows, args.seeds), ""]
    write_section("distill", "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()

"""Multi-fidelity search with the warm-up proxy as the cheapest fidelity (``search.screen``).

Once per study, before any candidate is trained:

1. sample ``pool`` distinct candidates from the search space (Optuna RandomSampler, seeded by
   ``search.seed``), dropping those over a hard budget;
2. build a supernet over them, warm it up, score every one (``unirank.proxies.warmup``);
3. queue the best ``keep`` fraction in the study (``enqueue_trial`` with their parameters and
   ``proxy_score``; in Pareto studies by non-dominated fronts of (proxy score, MFLOPs), see
   ``queue_order``), so that the searcher trains them next; record every other
   candidate as a PRUNED trial (``screened_out``, its ``proxy_score``, never trained) so the study
   keeps every proxy score and the sampler learns from the rejections.

The study's user attribute ``screening`` records pool size, kept count and the seconds spent;
its presence means screening is done (a resumed search does not repeat it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import optuna
from optuna.trial import TrialState

from unirank.config import StudyConfig
from unirank.data.dataset import Dataset
from unirank.proxies.cost import measure_cost
from unirank.proxies.warmup import WarmupConfig, warmup_proxy
from unirank.search.objectives import describe_violation
from unirank.search.pareto import pareto_front
from unirank.space.arch import ArchSpec
from unirank.space.search_space import SearchSpace


@dataclass
class ScreenSummary:
    pool: int
    kept: int
    warmup_seconds: float
    scoring_seconds: float

    @property
    def per_minute(self) -> float:
        return 60 * self.pool / max(self.warmup_seconds + self.scoring_seconds, 1e-9)


def sample_pool(cfg: StudyConfig, space: SearchSpace, size: int) -> list[tuple[ArchSpec, optuna.trial.FrozenTrial]]:
    """``size`` distinct feasible candidates with the Optuna trials that describe them."""
    scratch = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=cfg.search.seed))
    budgets = any(v is not None for v in (cfg.budget.max_mflops, cfg.budget.max_params, cfg.budget.max_latency_ms))
    pool: dict[ArchSpec, optuna.trial.FrozenTrial] = {}
    for _ in range(size * 20):
        if len(pool) >= size:
            break
        trial = scratch.ask()
        arch = space.suggest(trial)
        scratch.tell(trial, 0.0)
        if arch in pool:
            continue
        try:
            if budgets and describe_violation(cfg.budget, measure_cost(arch, space.features)):
                continue
        except Exception:  # noqa: BLE001 - a candidate that cannot be built is simply not pooled
            continue
        pool[arch] = scratch.trials[-1]
    return list(pool.items())


def queue_order(pool, scores, cfg: StudyConfig, space: SearchSpace) -> list:
    """Scalarised studies: by proxy score. Pareto studies: by non-dominated fronts of (proxy
    score, MFLOPs) — front 1 first, each front from the best score — so the queue spends its
    training time along the predicted quality/cost front instead of only on the largest models."""
    if cfg.search.objective != "pareto":
        return sorted(pool, key=lambda item: scores[item[0]]["sigeo"])
    mflops = {arch: measure_cost(arch, space.features, latency_batch=0).mflops for arch, _ in pool}
    remaining, order = list(pool), []
    while remaining:
        points = [(scores[a]["sigeo"], mflops[a]) for a, _ in remaining]
        front = set(pareto_front(points))
        order += sorted((remaining[i] for i in front), key=lambda item: scores[item[0]]["sigeo"])
        remaining = [item for i, item in enumerate(remaining) if i not in front]
    return order


def screen_candidates(study: optuna.Study, cfg: StudyConfig, space: SearchSpace, dataset: Dataset,
                      log=print) -> ScreenSummary | None:
    """Run the screening stage once per study (see the module doc)."""
    screen = cfg.search.screen
    if screen is None or "screening" in study.user_attrs:
        return None
    log(f"screening: sampling {screen.pool} candidates, warming a supernet up on "
        f"{screen.warmup_fraction:.0%} of the training rows …")
    pool = sample_pool(cfg, space, screen.pool)
    archs = [arch for arch, _ in pool]
    warm = WarmupConfig(fraction=screen.warmup_fraction, epochs=screen.warmup_epochs, rule=screen.rule,
                        finetune_steps=screen.finetune_steps, max_epochs=cfg.train.max_epochs,
                        batch_size=cfg.train.batch_size, seed=cfg.search.seed)
    scores, stats, scoring_seconds = warmup_proxy(dataset, archs, warm)
    ranked = queue_order(pool, scores, cfg, space)
    kept = max(1, math.ceil(screen.keep * len(ranked)))
    for rank, (arch, trial) in enumerate(ranked, start=1):
        score = scores[arch]
        attrs = {"proxy_score": score["sigeo"], "proxy": score, "proxy_rank": rank}
        if rank <= kept:
            study.enqueue_trial(trial.params, user_attrs=attrs, skip_if_exists=False)
        else:
            study.add_trial(optuna.trial.create_trial(
                state=TrialState.PRUNED, params=trial.params, distributions=trial.distributions,
                user_attrs={**attrs, "arch": arch.to_dict(), "screened_out": True,
                            "fail_reason": f"screened out by the warm-up proxy (rank {rank} of {len(ranked)})"}))
    summary = ScreenSummary(len(ranked), kept, stats.seconds, scoring_seconds)
    study.set_user_attr("screening", {"pool": summary.pool, "kept": kept, "warmup_seconds": stats.seconds,
                                      "scoring_seconds": scoring_seconds, "warmup_steps": stats.steps})
    log(f"screening: scored {summary.pool} candidates in {stats.seconds + scoring_seconds:.0f} s "
        f"({summary.per_minute:.0f} per minute); the best {kept} are queued for full training")
    return summary

"""Multi-fidelity search with the warm-up proxy as the cheapest fidelity (``search.screen``).

Once per study, before any candidate is trained:

1. sample ``pool`` distinct candidates from the search space (Optuna RandomSampler, seeded by
   ``search.seed``), dropping those over a hard budget;
2. build a supernet over them, warm it up, score every one (``unirank.proxies.warmup``);
3. queue the best ``keep`` fraction by proxy score in the study (``enqueue_trial`` with their
   parameters and ``proxy_score``), so that the searcher trains them next; record every other
   candidate as a PRUNED trial (``screened_out``, its ``proxy_score``, never trained) so the study
   keeps every proxy score and the sampler learns from the rejections (in scalarised studies
   each carries its score as its step-0 intermediate value, which is how TPE ranks pruned
   trials). The score ranks quality only, in Pareto studies too: the cost axis is measured, not
   predicted, and the sampler explores it once the queue is trained.

Time-aware queue: scoring fine-tunes every candidate alone for a few steps, which measures its
seconds per training step; ``predicted_seconds`` turns that into the time a full training takes.
With a wall-clock budget (``budget.max_wall_minutes``) the queue may fill ``queue_share`` of the
time left after scoring; the sampler has the rest, to refine around what the queue found and to
explore what the proxy ranks poorly (the cheap end of a Pareto front: weight-sharing warm-up
favours large sub-networks). The best ``keep`` fraction is walked in rank order, simulating the
trials on the run's concurrent slots: a candidate that would make the queue end after its share
is not queued (screened out with that reason) and the next one that fits is taken, so the time
is spent on candidates that can finish instead of one large model the clock cuts off; and the
queue is trained fastest first, so the sampler has results to learn from early. Without a clock
the budget counts trials, and the queue is trained in rank order.
Scoring itself runs in one process per CPU (``search.screen.workers``).

Gate (``search.screen.gate``): the sampler learns from the queue's results, but what it proposes
next is trained only if the warm-up proxy agrees. Each proposal is scored (one thread, in the
driver); one scored outside the best ``gate`` share of the pool is recorded PRUNED
(``screened_out``) without training and the sampler proposes again, and so is one whose predicted
training time is longer than the time left of ``budget.max_wall_minutes``. The sampler moves
beyond the pool (more experts, wider blocks): such a proposal is scored after growing the store,
the new cells untrained, which biases it somewhat worse; the gate is meant to stop clear junk, so
its default threshold is the pool's median, not its best few. On Census-Income full-training TPE
spent 20-85% of its training seconds on candidates with NE > 0.40 (dropped informative feature
groups; cheap, so on the Pareto front), which is what the warm-up loss separates best. The gate
holds for the invocation that screened (the warmed supernet is not stored).

The study's user attribute ``screening`` records pool size, kept count and the seconds spent;
its presence means screening is done (a resumed search does not repeat it).
"""
from __future__ import annotations

import heapq
import math
import os
import time
from dataclasses import dataclass
from typing import Callable

import optuna
from optuna.trial import TrialState

from unirank.config import StudyConfig
from unirank.data.dataset import Dataset
from unirank.proxies.cost import measure_cost
from unirank.proxies.warmup import WarmupConfig, WarmupScorer, default_workers
from unirank.search.objectives import describe_violation
from unirank.space.arch import ArchSpec
from unirank.space.search_space import SearchSpace


class ProxyGate:
    """The sampler's proposals after screening: each is scored from its inherited weights (one
    to a few seconds on one thread, ``WarmupScorer.score``) and trained only if its score is
    within the best ``share`` of the pool's scores and, with a clock (``deadline``, a
    ``time.perf_counter()`` value), its predicted training time (``seconds_for`` its measured
    seconds per step) fits in the time left — a trial the clock ends is time lost."""

    def __init__(self, scorer: WarmupScorer, pool_scores: list[float], share: float,
                 seconds_for: Callable[[float], float], deadline: float | None = None):
        self.scorer, self.pool_scores = scorer, sorted(pool_scores)
        self.threshold = self.pool_scores[max(1, math.ceil(share * len(self.pool_scores))) - 1]
        self.share, self.seconds_for, self.deadline = share, seconds_for, deadline

    def time_left(self) -> float | None:
        """Seconds until the clock ends, or None without one."""
        return None if self.deadline is None else self.deadline - time.perf_counter()

    def out_of_time(self) -> bool:
        """With a clock: no candidate could start and finish in the time left (the searcher then
        stops proposing; each scored proposal takes seconds that the clock does not give back)."""
        left = self.time_left()
        return left is not None and left <= TRIAL_OVERHEAD_SECONDS

    def check(self, arch: ArchSpec) -> tuple[dict, str | None]:
        """(proxy terms, score and ``predicted_seconds``; why it is not trained, or None)."""
        score = self.scorer.score(arch)
        score["predicted_seconds"] = self.seconds_for(score["step_seconds"])
        if score["score"] > self.threshold:
            rank = sum(s < score["score"] for s in self.pool_scores) + 1
            return score, (f"screened out by the warm-up proxy gate: score {score['score']:.3f} would rank "
                           f"{rank} of {len(self.pool_scores) + 1} in the screened pool, outside the best "
                           f"{self.share:.0%} (search.screen.gate)")
        left = self.time_left()
        if left is not None and score["predicted_seconds"] > left:
            return score, (f"not trained: predicted training time {score['predicted_seconds']:.0f} s is longer "
                           f"than the {max(left, 0):.0f} s left of budget.max_wall_minutes (search.screen.gate)")
        return score, None


@dataclass
class ScreenSummary:
    pool: int
    kept: int
    warmup_seconds: float
    scoring_seconds: float
    too_slow: int = 0  # top-ranked candidates left out because they were predicted not to finish
    gate: ProxyGate | None = None  # for the sampler's proposals (search.screen.gate)

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


# Per-trial start-up on a reused Ray actor (loading the cached tensors, building the model), s.
TRIAL_OVERHEAD_SECONDS = 2.0


def predicted_seconds(step_seconds: float, cfg: StudyConfig, dataset: Dataset) -> float:
    """Seconds a full training of a candidate is predicted to take (an upper bound: early
    stopping ends many sooner): ``max_epochs`` × (training steps + validation forward passes,
    costed at a third of a step each) at its measured seconds per step, plus start-up."""
    batch = cfg.train.batch_size
    steps = math.ceil(len(dataset.splits["train"]) / batch)
    # validation rows estimated from the split fractions: screening reads no validation row
    split = cfg.data.split
    train_share = 1 - split.val_fraction - split.test_fraction - split.gap_fraction
    val_rows = len(dataset.splits["train"]) * split.val_fraction / max(0.05, train_share)
    evals = math.ceil(val_rows / batch) / 3
    return cfg.train.max_epochs * (steps + evals) * step_seconds + TRIAL_OVERHEAD_SECONDS


def makespan(seconds: list[float], slots: int) -> float:
    """When the last of ``seconds`` ends, each started in list order on the earliest-free of
    ``slots`` slots (how Ray Tune runs a queue with that many concurrent trials)."""
    free_at = [0.0] * slots
    for s in seconds:
        heapq.heapreplace(free_at, free_at[0] + s)
    return max(free_at)


def fit_to_clock(ranked: list, seconds: dict, slots: int, remaining: float | None, kept: int
                 ) -> tuple[list, list]:
    """(queued in training order, too slow) of the best ``kept`` of ``ranked``. No clock (None):
    all of them, in rank order. With ``remaining`` seconds: walk them best first and take a
    candidate when the chosen set, trained fastest first on ``slots`` slots, is still predicted to
    end within ``remaining``; the queue is that set fastest first, so the sampler sees results early
    and the budget is not spent waiting on one slow candidate. Candidates below the ``kept`` best
    are never taken in place of slow ones: the sampler has the rest of the budget."""
    if remaining is None:
        return ranked[:kept], []
    queued, too_slow = [], []
    for item in ranked[:kept]:
        trial = sorted([*queued, item], key=lambda it: seconds[it[0]])
        if makespan([seconds[a] for a, _ in trial], slots) > remaining:
            too_slow.append(item)
            continue
        queued = trial
    return queued, too_slow


def screen_candidates(study: optuna.Study, cfg: StudyConfig, space: SearchSpace, dataset: Dataset,
                      log=print, started: float | None = None) -> ScreenSummary | None:
    """Run the screening stage once per study (see the module doc). ``started``: the
    ``time.perf_counter()`` at which the invocation began (its wall-clock budget counts from it)."""
    screen = cfg.search.screen
    if screen is None or "screening" in study.user_attrs:
        return None
    started = time.perf_counter() if started is None else started
    log(f"screening: sampling {screen.pool} candidates, warming a supernet up on "
        f"{screen.warmup_fraction:.0%} of the training rows …")
    pool = sample_pool(cfg, space, screen.pool)
    archs = [arch for arch, _ in pool]
    warm = WarmupConfig(fraction=screen.warmup_fraction, epochs=screen.warmup_epochs, rule=screen.rule,
                        finetune_steps=screen.finetune_steps, max_epochs=cfg.train.max_epochs,
                        batch_size=cfg.train.batch_size, seed=cfg.search.seed,
                        geometry_weight=screen.geometry_weight, scorer=screen.scorer)
    scorer = WarmupScorer(dataset, archs, warm)
    stats, scoring_started = scorer.stats, time.perf_counter()
    scores = scorer.score_pool(screen.workers or default_workers())
    scoring_seconds = time.perf_counter() - scoring_started
    ranked = sorted(pool, key=lambda item: scores[item[0]]["score"])
    seconds = {arch: predicted_seconds(scores[arch]["step_seconds"], cfg, dataset) for arch in archs}
    deadline = started + cfg.budget.max_wall_minutes * 60 if cfg.budget.max_wall_minutes else None
    remaining = None if deadline is None else screen.queue_share * (deadline - time.perf_counter())
    queued, too_slow = fit_to_clock(ranked, seconds, cfg.search.concurrency(os.cpu_count() or 1), remaining,
                                    max(1, math.ceil(screen.keep * len(ranked))))
    queued_set, slow_set = {a for a, _ in queued}, {a for a, _ in too_slow}
    ranks = {arch: rank for rank, (arch, _) in enumerate(ranked, start=1)}
    for position, (arch, trial) in enumerate(queued + [item for item in ranked if item[0] not in queued_set], 1):
        rank, score = ranks[arch], scores[arch]
        attrs = {"proxy_score": score["score"], "proxy": score, "proxy_rank": rank,
                 "predicted_train_seconds": seconds[arch]}
        if arch in queued_set:
            study.enqueue_trial(trial.params, user_attrs={**attrs, "queue_position": position},
                                skip_if_exists=False)
            continue
        reason = f"screened out by the warm-up proxy (rank {rank} of {len(ranked)})"
        if arch in slow_set:
            reason = (f"not queued: predicted training time {seconds[arch]:.0f} s would end after the "
                      f"{remaining:.0f} s of budget.max_wall_minutes given to the queue "
                      f"(search.screen.queue_share), with the better-ranked queued candidates on the "
                      f"trial slots (proxy rank {rank} of {len(ranked)})")
        # scalarised studies: the proxy score as the step-0 value — TPE ranks pruned trials by
        # their last value, so when its "good" set reaches past the trained trials it takes the
        # best-scored ones (Optuna's TPE cannot rank pruned trials of multi-objective studies by value)
        study.add_trial(optuna.trial.create_trial(
            state=TrialState.PRUNED, params=trial.params, distributions=trial.distributions,
            intermediate_values={0: score["score"]} if len(study.directions) == 1 else None,
            user_attrs={**attrs, "arch": arch.to_dict(), "screened_out": True, "fail_reason": reason}))
    gate = None
    if screen.gate:
        gate = ProxyGate(scorer, [scores[a]["score"] for a in archs], screen.gate,
                         lambda step_seconds: predicted_seconds(step_seconds, cfg, dataset), deadline)
    summary = ScreenSummary(len(ranked), len(queued), stats.seconds, scoring_seconds, len(too_slow), gate)
    study.set_user_attr("screening", {"pool": summary.pool, "kept": summary.kept, "too_slow": summary.too_slow,
                                      "warmup_seconds": stats.seconds, "scoring_seconds": scoring_seconds,
                                      "warmup_steps": stats.steps})
    slow = (f" ({summary.too_slow} better-ranked ones were predicted not to finish in the time left)"
            if summary.too_slow else "")
    log(f"screening: scored {summary.pool} candidates in {stats.seconds + scoring_seconds:.0f} s "
        f"({summary.per_minute:.0f} per minute); the best {summary.kept} are queued for full training{slow}")
    return summary

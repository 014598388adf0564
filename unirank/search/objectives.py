"""Objectives and constraints of a study: what Optuna minimises and what makes a candidate infeasible.

- ``pareto``: two objectives, (mean validation NE, MFLOPs per example).
- ``scalarized``: one objective, NE + λ·max(0, log(MFLOPs / target)) — DistDNAS-style cost penalty
  (λ = ``search.penalty_lambda``, target = ``search.target_mflops``; without one, the MFLOPs of
  the best trained preset, chosen once per study and kept in the study's ``target_mflops``).
Hard budgets (``budget.max_mflops``, ``max_params``, ``max_latency_ms``) become Optuna constraints
(``Trial.set_constraint``; value ≤ 0 means satisfied), which TPE, NSGA-II and GP take into account;
candidates that violate one are never trained. With ``search.over_target: infeasible`` the
scalarised target is such a budget too (constraint ``target_mflops``): an iso-FLOPs search.
"""
from __future__ import annotations

import math

from unirank.config import BudgetConfig, SearchConfig
from unirank.proxies.cost import Cost

# NE given to candidates that were never trained (over budget): the base-rate predictor's NE.
INFEASIBLE_NE = 1.0


def metric_names(search: SearchConfig) -> list[str]:
    return ["mean_ne", "mflops"] if search.objective == "pareto" else ["penalized_ne"]


def objective_values(search: SearchConfig, mean_ne: float, cost: Cost,
                     target_mflops: float | None = None) -> list[float]:
    if search.objective == "pareto":
        return [mean_ne, cost.mflops]
    target = target_mflops or search.target_mflops
    if target is None:
        raise ValueError("the scalarised objective needs a target MFLOPs (search.target_mflops or the best preset's)")
    return [penalised_ne(search, mean_ne, cost.mflops, target)]


def penalised_ne(search: SearchConfig, mean_ne: float, mflops: float, target: float) -> float:
    """The scalarised objective: NE + λ·max(0, log(MFLOPs / target))."""
    return mean_ne + search.penalty_lambda * max(0.0, math.log(mflops / target))


def _budget_usage(budget: BudgetConfig, cost: Cost, cap_mflops: float | None):
    """(name, limit, used) for every hard budget that is set, the capped target last."""
    for name, limit, used in (("budget.max_mflops", budget.max_mflops, cost.mflops),
                              ("budget.max_params", budget.max_params, cost.params),
                              ("budget.max_latency_ms", budget.max_latency_ms, cost.latency_ms),
                              ("target_mflops", cap_mflops, cost.mflops)):
        if limit is not None:
            yield name, limit, used


def target_cap(search: SearchConfig, target_mflops: float | None) -> float | None:
    """The scalarised target when ``search.over_target`` makes it a hard cap, else None."""
    if search.objective == "scalarized" and search.over_target == "infeasible":
        return target_mflops  # the searcher's target: search.target_mflops, or the best preset's MFLOPs
    return None


def constraint_values(budget: BudgetConfig, cost: Cost, cap_mflops: float | None = None) -> dict[str, float]:
    """One Optuna constraint per hard budget, relative: > 0 means over budget by that fraction."""
    return {name.removeprefix("budget."): used / limit - 1.0
            for name, limit, used in _budget_usage(budget, cost, cap_mflops)}


def describe_violation(budget: BudgetConfig, cost: Cost, cap_mflops: float | None = None) -> str | None:
    for name, limit, used in _budget_usage(budget, cost, cap_mflops):
        if used > limit and name == "target_mflops":
            return f"over the target (search.over_target: infeasible): {used:.4g} > {limit:.4g} MFLOPs"
        if used > limit:
            return f"over {name}: {used:.4g} > {limit:.4g}"
    return None

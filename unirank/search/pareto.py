"""Pareto front and hypervolume for minimisation problems (pure functions)."""
from __future__ import annotations

from typing import Sequence


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices of the non-dominated points (all objectives minimised), sorted by the first
    objective. A point is dominated if another is ≤ in every objective and < in at least one;
    duplicates of a front point are all kept."""
    front = []
    for i, p in enumerate(points):
        dominated = any(
            all(q[k] <= p[k] for k in range(len(p))) and any(q[k] < p[k] for k in range(len(p)))
            for j, q in enumerate(points) if j != i
        )
        if not dominated:
            front.append(i)
    return sorted(front, key=lambda i: tuple(points[i]))


def hypervolume_2d(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Area dominated by ``points`` and bounded by ``reference`` (both objectives minimised)."""
    inside = [p for p in points if p[0] < reference[0] and p[1] < reference[1]]
    front = sorted((inside[i] for i in pareto_front(inside)), key=lambda p: p[0])
    area, previous_y = 0.0, reference[1]
    for x, y in front:
        if y < previous_y:
            area += (reference[0] - x) * (previous_y - y)
            previous_y = y
    return area


def report_reference(points: Sequence[Sequence[float]]) -> tuple[float, float]:
    """The reference point of a study's (MFLOPs, NE) hypervolume, as its report draws it: 1.1 × the
    largest MFLOPs, the largest NE + 10% of the NE range."""
    nes = [p[1] for p in points]
    return 1.1 * max(p[0] for p in points), max(nes) + 0.1 * (max(nes) - min(nes)) + 1e-9


def hypervolume_order(points: Sequence[Sequence[float]], reference: Sequence[float]) -> list[int]:
    """Indices of ``points`` from the most to the least valuable for the hypervolume against
    ``reference``: front by front (non-domination rank), and within a front greedily by the
    hypervolume each point adds to those before it (ties: lower second objective first)."""
    left, order = list(range(len(points))), []
    while left:
        front = [left[i] for i in pareto_front([points[j] for j in left])]
        chosen: list[int] = []
        while len(chosen) < len(front):
            base = hypervolume_2d([points[j] for j in chosen], reference)
            best = max((i for i in front if i not in chosen),
                       key=lambda i: (hypervolume_2d([points[j] for j in (*chosen, i)], reference) - base,
                                      -points[i][1]))
            chosen.append(best)
        order += chosen
        left = [i for i in left if i not in front]
    return order

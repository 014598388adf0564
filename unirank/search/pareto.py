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

"""Plotly figures of a study, shared by the static report and the live dashboard.

Every figure takes ``TrialRecord`` lists (see ``unirank.search.study``): ``records`` are the
finished, trained trials (state COMPLETE); ``others`` the pruned, failed and infeasible ones.
Every marker carries its trial number in ``customdata`` so a click can find the trial.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import plotly.graph_objects as go

from unirank.search.pareto import hypervolume_2d, pareto_front, report_reference
from unirank.search.study import TrialRecord


@dataclass(frozen=True)
class Axis:
    """One quantity a front can be drawn over; ``minimize`` says which way is better."""

    key: str
    label: str
    minimize: bool
    value: Callable[[TrialRecord], float]


def _nan(x) -> float:
    return float("nan") if x is None else float(x)


def axis_options(records: list[TrialRecord]) -> dict[str, Axis]:
    """Cost axes, mean quality, and NE/AUC of every portfolio and objective seen in ``records``."""
    axes = [
        Axis("mflops", "MFLOPs per example", True, lambda r: r.mflops),
        Axis("params", "parameters", True, lambda r: _nan(r.cost.get("params"))),
        Axis("lookup_bytes", "embedding bytes read per example", True,
             lambda r: _nan(r.cost.get("embedding_bytes_per_example"))),
        Axis("latency_ms", "latency per batch (ms)", True, lambda r: _nan(r.cost.get("latency_ms"))),
        Axis("mean_ne", "mean validation NE", True, lambda r: r.mean_ne),
        Axis("mean_auc", "mean validation grouped AUC (per portfolio)", False,
             lambda r: _nan(r.metrics.get("mean_auc"))),
        Axis("mean_pooled_auc", "mean validation pooled AUC (per objective, all domains)", False,
             lambda r: _nan(r.metrics.get("mean_pooled_auc"))),
    ]
    for group in ("objectives", "portfolios"):
        names = sorted({name for r in records for name in r.metrics.get(group, {})})
        for name in names:
            metrics = ((("ne", "NE"), ("auc", "grouped AUC")) if group == "portfolios" else
                       (("ne", "NE"), ("pooled_auc", "pooled AUC"), ("grouped_auc", "grouped AUC")))
            for metric, label in metrics:
                axes.append(Axis(
                    f"{group}:{name}:{metric}", f"{name} {label}", metric == "ne",
                    lambda r, g=group, n=name, m=metric: _nan(r.metrics.get(g, {}).get(n, {}).get(m)),
                ))
    return {a.key: a for a in axes}


def front_indices(records: list[TrialRecord], x: Axis | None = None, y: Axis | None = None) -> list[int]:
    """Indices of the non-dominated records over (x, y) — by default (MFLOPs, mean NE)."""
    if x is None or y is None:
        return pareto_front([(r.mflops, r.mean_ne) for r in records])
    sign_x, sign_y = (1 if x.minimize else -1), (1 if y.minimize else -1)
    points = [(sign_x * x.value(r), sign_y * y.value(r)) for r in records]
    finite = [i for i, p in enumerate(points) if all(math.isfinite(v) for v in p)]
    return [finite[i] for i in pareto_front([points[i] for i in finite])]


def hover(r: TrialRecord) -> str:
    auc = r.metrics.get("mean_auc", float("nan"))
    pooled = r.metrics.get("mean_pooled_auc", float("nan"))
    text = (f"<b>{r.label}</b><br>{r.arch.summary()}<br>mean NE {r.mean_ne:.4f} · pooled AUC {pooled:.4f}"
            f" · grouped AUC {auc:.4f}<br>"
            f"{r.mflops:.4f} MFLOPs · {r.cost.get('embedding_bytes_per_example', 0):,} lookup bytes · "
            f"{r.cost.get('params', 0):,} params")
    if r.proxy_score is not None:
        text += f"<br>proxy score {r.proxy_score:.4f}"
    return text


def pareto_figure(records: list[TrialRecord], others: list[TrialRecord] | None = None,
                  x: Axis | None = None, y: Axis | None = None) -> go.Figure:
    """Quality vs cost: searched trials (coloured by trial number), the front as a step line,
    presets as named diamonds; pruned trials at their last reported NE (hollow triangles), failed
    and infeasible candidates (over a hard budget, never trained) as crosses on the top edge."""
    if x is None or y is None:
        axes = axis_options(records)
        x, y = x or axes["mflops"], y or axes["mean_ne"]
    searched = [r for r in records if r.preset is None]
    presets = [r for r in records if r.preset is not None]
    front = sorted((records[i] for i in front_indices(records, x, y)), key=x.value)
    fig = go.Figure()

    def scatter(name: str, rows: list[TrialRecord], ys=None, **kwargs) -> None:
        fig.add_trace(go.Scatter(
            name=name, x=[x.value(r) for r in rows], y=ys if ys is not None else [y.value(r) for r in rows],
            customdata=[r.number for r in rows], hoverinfo="text",
            hovertext=kwargs.pop("hovertext", None) or [hover(r) for r in rows], **kwargs))

    scatter("searched trials", searched, mode="markers",
            marker=dict(size=9, color=[r.number for r in searched], colorscale="Viridis",
                        showscale=True, colorbar=dict(title="trial")))
    scatter("Pareto front", front, mode="lines+markers",
            line=dict(shape="hv" if x.minimize == y.minimize else "vh", color="crimson"),
            marker=dict(size=13, symbol="circle-open", color="crimson", line=dict(width=2)))
    scatter("presets", presets, mode="markers+text", text=[r.label for r in presets],
            textposition="top center",
            marker=dict(size=14, symbol="diamond", color="darkorange", line=dict(width=1, color="black")))
    others = others or []
    edge = max((y.value(r) for r in records if math.isfinite(y.value(r))), default=1.0)
    pruned = [r for r in others if r.state == "PRUNED" and r.curve]
    if pruned and y.key == "mean_ne":
        scatter("pruned (stopped early)", pruned, ys=[r.curve[-1][1] for r in pruned], mode="markers",
                marker=dict(size=10, symbol="triangle-down-open", color="slategray"),
                hovertext=[f"<b>trial {r.number}: pruned</b><br>{r.fail_reason}<br>last NE "
                           f"{r.curve[-1][1]:.4f}<br>{r.arch.summary()}" for r in pruned])
    for state, name, symbol, color in (("INFEASIBLE", "infeasible (not trained)", "x", "grey"),
                                       ("FAIL", "failed", "x-thin-open", "firebrick")):
        rows = [r for r in others if r.state == state and math.isfinite(x.value(r))]
        if rows:
            scatter(name, rows, ys=[edge] * len(rows), mode="markers",
                    marker=dict(size=10, symbol=symbol, color=color, line=dict(width=2, color=color)),
                    hovertext=[f"<b>trial {r.number}: {state.lower()}</b><br>{r.fail_reason}<br>"
                               f"{r.arch.summary()}" for r in rows])
    fig.update_layout(title=f"Pareto front: {y.label} vs {x.label}", xaxis_title=x.label,
                      yaxis_title=f"{y.label} ({'lower' if y.minimize else 'higher'} is better)",
                      template="plotly_white", height=520, legend=dict(orientation="h", y=-0.15),
                      uirevision=f"{x.key}|{y.key}", clickmode="event")
    return fig


def history_figure(records: list[TrialRecord]) -> go.Figure:
    """Mean NE by trial number with the running best; presets as dashed reference lines."""
    searched = sorted((r for r in records if r.preset is None), key=lambda r: r.number)
    best, running = float("inf"), []
    for r in searched:
        best = min(best, r.mean_ne)
        running.append(best)
    fig = go.Figure()
    fig.add_trace(go.Scatter(name="trial", mode="markers", x=[r.number for r in searched],
                             y=[r.mean_ne for r in searched], customdata=[r.number for r in searched],
                             hovertext=[hover(r) for r in searched], hoverinfo="text"))
    fig.add_trace(go.Scatter(name="best so far", mode="lines", line=dict(shape="hv"),
                             x=[r.number for r in searched], y=running))
    for r in records:
        if r.preset is not None:
            fig.add_hline(y=r.mean_ne, line_dash="dash", line_color="darkorange",
                          annotation_text=r.label, annotation_position="top left")
    fig.update_layout(title="Optimisation history", xaxis_title="trial number",
                      yaxis_title="mean validation NE", template="plotly_white", height=420,
                      uirevision="history")
    return fig


def hypervolume_figure(records: list[TrialRecord]) -> go.Figure:
    """Hypervolume of the (MFLOPs, mean NE) front after each finished trial, against one fixed
    reference point (1.1 × the largest MFLOPs, the largest NE + 10% of the NE range), so the
    curve only rises when a trial moves the front."""
    ordered = sorted(records, key=lambda r: r.number)
    points = [(r.mflops, r.mean_ne) for r in ordered if math.isfinite(r.mflops) and math.isfinite(r.mean_ne)]
    fig = go.Figure()
    if points:
        reference = report_reference(points)
        volumes = [hypervolume_2d(points[: i + 1], reference) for i in range(len(points))]
        fig.add_trace(go.Scatter(name="hypervolume", mode="lines+markers", line=dict(shape="hv"),
                                 x=[r.number for r in ordered][: len(points)], y=volumes))
        fig.update_layout(title=f"Front hypervolume over trials (reference {reference[0]:.3g} MFLOPs, "
                                f"NE {reference[1]:.4f})")
    fig.update_layout(xaxis_title="trial number", yaxis_title="hypervolume (MFLOPs × NE)",
                      template="plotly_white", height=380, uirevision="hypervolume")
    return fig


def importance_figure(importances: dict[str, float]) -> go.Figure:
    """Horizontal bars of Optuna parameter importances for mean NE (see ``importances``)."""
    fig = go.Figure()
    names = list(importances)[::-1]
    fig.add_trace(go.Bar(name="importance", orientation="h", x=[importances[n] for n in names], y=names))
    title = "Parameter importances for mean NE (Optuna fANOVA)"
    if not importances:
        title += " — needs ≥ 4 searched trials sharing parameters"
    fig.update_layout(title=title, xaxis_title="importance", template="plotly_white",
                      height=max(300, 28 * len(names) + 120), uirevision="importances")
    return fig


def proxy_figure(records: list[TrialRecord]) -> go.Figure | None:
    """Warm-up proxy score vs final mean NE for trials that have both (None if none do)."""
    rows = [r for r in records if r.proxy_score is not None]
    if not rows:
        return None
    from scipy.stats import kendalltau

    fig = go.Figure()
    fig.add_trace(go.Scatter(name="trials", mode="markers", x=[r.proxy_score for r in rows],
                             y=[r.mean_ne for r in rows], customdata=[r.number for r in rows],
                             hovertext=[hover(r) for r in rows], hoverinfo="text"))
    tau = kendalltau([r.proxy_score for r in rows], [r.mean_ne for r in rows]).statistic if len(rows) > 2 else float("nan")
    fig.update_layout(title=f"Warm-up proxy score vs final mean NE (Kendall τ {tau:.3f}, {len(rows)} trials)",
                      xaxis_title="proxy score (lower is better)", yaxis_title="final mean validation NE",
                      template="plotly_white", height=420, uirevision="proxy")
    return fig

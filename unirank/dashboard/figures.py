"""Plotly figures of a study, shared by the static report and the live dashboard."""
from __future__ import annotations

import plotly.graph_objects as go

from unirank.search.pareto import pareto_front
from unirank.search.study import TrialRecord


def _hover(r: TrialRecord) -> str:
    return (f"<b>{r.label}</b><br>{r.arch.summary()}<br>mean NE {r.mean_ne:.4f} · "
            f"AUC {r.metrics.get('mean_auc', float('nan')):.4f}<br>{r.mflops:.4f} MFLOPs · "
            f"{r.cost.get('params', 0):,} params")


def front_indices(records: list[TrialRecord]) -> list[int]:
    return pareto_front([(r.mflops, r.mean_ne) for r in records])


def pareto_figure(records: list[TrialRecord], infeasible: list[TrialRecord] | None = None) -> go.Figure:
    """Mean validation NE vs MFLOPs: searched trials, the front as a step line, presets named,
    and infeasible candidates (over a hard budget, never trained) as grey crosses on the top edge."""
    searched = [r for r in records if r.preset is None]
    presets = [r for r in records if r.preset is not None]
    front = [records[i] for i in front_indices(records)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        name="searched trials", mode="markers",
        x=[r.mflops for r in searched], y=[r.mean_ne for r in searched],
        customdata=[r.number for r in searched],
        marker=dict(size=9, color=[r.number for r in searched], colorscale="Viridis",
                    showscale=True, colorbar=dict(title="trial")),
        hovertext=[_hover(r) for r in searched], hoverinfo="text",
    ))
    fig.add_trace(go.Scatter(
        name="Pareto front", mode="lines+markers", line=dict(shape="hv", color="crimson"),
        x=[r.mflops for r in front], y=[r.mean_ne for r in front],
        customdata=[r.number for r in front],
        marker=dict(size=13, symbol="circle-open", color="crimson", line=dict(width=2)),
        hovertext=[_hover(r) for r in front], hoverinfo="text",
    ))
    fig.add_trace(go.Scatter(
        name="presets", mode="markers+text",
        x=[r.mflops for r in presets], y=[r.mean_ne for r in presets],
        customdata=[r.number for r in presets],
        text=[r.preset for r in presets], textposition="top center",
        marker=dict(size=14, symbol="diamond", color="darkorange", line=dict(width=1, color="black")),
        hovertext=[_hover(r) for r in presets], hoverinfo="text",
    ))
    if infeasible:
        top = max((r.mean_ne for r in records), default=1.0)
        fig.add_trace(go.Scatter(
            name="infeasible (not trained)", mode="markers", x=[r.mflops for r in infeasible],
            y=[top] * len(infeasible), customdata=[r.number for r in infeasible],
            marker=dict(size=9, symbol="x", color="grey"),
            hovertext=[f"<b>trial {r.number}: infeasible</b><br>{r.fail_reason}<br>{r.arch.summary()}"
                       for r in infeasible], hoverinfo="text",
        ))
    fig.update_layout(title="Pareto front: quality vs cost", xaxis_title="MFLOPs per example",
                      yaxis_title="mean validation NE (lower is better)", template="plotly_white",
                      height=520, legend=dict(orientation="h", y=-0.15))
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
                             y=[r.mean_ne for r in searched],
                             hovertext=[_hover(r) for r in searched], hoverinfo="text"))
    fig.add_trace(go.Scatter(name="best so far", mode="lines", line=dict(shape="hv"),
                             x=[r.number for r in searched], y=running))
    for r in records:
        if r.preset is not None:
            fig.add_hline(y=r.mean_ne, line_dash="dash", line_color="darkorange",
                          annotation_text=r.preset, annotation_position="top left")
    fig.update_layout(title="Optimisation history", xaxis_title="trial number",
                      yaxis_title="mean validation NE", template="plotly_white", height=420)
    return fig
